import { describe, expect, it } from "vitest"
import { type CloudEvent, compileRoutes, RoutesError } from "../src/index.ts"

const options = { topicPrefix: "", readSchemaFile: () => ({ type: "object", required: ["sku"] }) }
const event = (type: string, extra: Partial<CloudEvent> = {}): CloudEvent => ({
  specversion: "1.0",
  id: "1",
  source: "/shop",
  type,
  ...extra
})

const routing = compileRoutes(
  {
    routes: [
      {
        name: "orders",
        types: ["com.shop.order.*"],
        schema: {
          type: "object",
          required: ["amount"],
          properties: { amount: { type: "number", minimum: 0 } }
        }
      },
      { name: "clicks", types: ["web.click", "web.view"], partitionKey: "source", partitions: 12 },
      { name: "items", types: "com.shop.item.*", schemaFile: "item.json" }
    ]
  },
  options
)

describe("compileRoutes", () => {
  it("routes by type pattern, first match wins, unmatched to events.default", () => {
    expect(routing.resolve("com.shop.order.created").topic).toBe("events.orders")
    expect(routing.resolve("web.view").topic).toBe("events.clicks")
    expect(routing.resolve("com.shop.orderly").topic).toBe("events.default")
    expect(routing.resolve("anything").topic).toBe("events.default")
    expect(routing.topics).toEqual([
      "events.orders",
      "events.clicks",
      "events.items",
      "events.default",
      "events.dlq"
    ])
  })

  it("applies the topic prefix", () => {
    const prefixed = compileRoutes(
      { routes: [{ name: "a", types: ["a"] }] },
      { ...options, topicPrefix: "prod." }
    )
    expect(prefixed.topics).toEqual(["prod.events.a", "prod.events.default", "prod.events.dlq"])
  })

  it("chooses the partition key per route", () => {
    const orders = routing.resolve("com.shop.order.created")
    expect(routing.partitionKey(orders, event("x", { subject: "user-1" }))).toBe("user-1")
    expect(routing.partitionKey(orders, event("x"))).toBe("/shop")
    const clicks = routing.resolve("web.click")
    expect(routing.partitionKey(clicks, event("x", { subject: "user-1" }))).toBe("/shop")
    expect(clicks.partitions).toBe(12)
  })

  it("checks data against the route's JSON Schema", () => {
    const orders = routing.resolve("com.shop.order.created")
    expect(orders.checkData(event("x", { data: { amount: 3 } }))).toBeUndefined()
    expect(orders.checkData(event("x", { data: { amount: -1 } }))).toBe(
      "data does not match the schema of route 'orders': data.amount must be >= 0"
    )
    expect(orders.checkData(event("x"))).toBe(
      "data does not match the schema of route 'orders': data must be object"
    )
    expect(orders.checkData(event("x", { data_base64: "AA==" }))).toBe(
      "route 'orders' checks data against a JSON Schema, so data must be JSON, not data_base64"
    )
    const items = routing.resolve("com.shop.item.added")
    expect(items.checkData(event("x", { data: {} }))).toBe(
      "data does not match the schema of route 'items': data must have required property 'sku'"
    )
  })

  it.each([
    [
      { routes: [{ name: "Orders", types: ["a"] }] },
      "route 1: 'name' must be lower-case letters, digits, '-' or '_'"
    ],
    [{ routes: [{ name: "dlq", types: ["a"] }] }, "route 'dlq': the name is reserved"],
    [{ routes: [{ name: "a", types: [] }] }, "route 'a': 'types' must be a non-empty list of type patterns"],
    [
      {
        routes: [
          { name: "a", types: ["a"] },
          { name: "a", types: ["b"] }
        ]
      },
      "route 'a' is defined twice"
    ],
    [
      { routes: [{ name: "a", types: ["a"], partitionKey: "data" }] },
      "route 'a': 'partitionKey' must be one of subject, source, id, type"
    ],
    [
      { routes: [{ name: "a", types: ["a"], partitions: 0 }] },
      "route 'a': 'partitions' must be a positive integer"
    ],
    [
      { routes: [{ name: "a", types: ["a"], schema: { type: "nonsense" } }] },
      "route 'a': invalid JSON Schema"
    ],
    [{ routes: "x" }, "the routes file must hold a list 'routes:' of routes"]
  ])("refuses %j", (document, message) => {
    expect(() => compileRoutes(document, options)).toThrow(RoutesError)
    expect(() => compileRoutes(document, options)).toThrow(message)
  })

  it("accepts an empty document", () => {
    expect(compileRoutes(undefined, options).topics).toEqual(["events.default", "events.dlq"])
  })
})
