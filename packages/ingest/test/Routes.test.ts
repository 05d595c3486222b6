import { writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { tempDir } from "@eventflow/testing"
import { describe, expect, it } from "vitest"
import { loadRoutesFile, topicSpecs } from "../src/index.ts"

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../..")

describe("loadRoutesFile", () => {
  it("loads the example routes file of the docs", () => {
    const routing = loadRoutesFile(join(repoRoot, "docs/routes.example.yaml"), "")
    expect(routing.resolve("com.shop.order.paid").topic).toBe("events.orders")
    expect(
      routing.resolve("com.shop.order.paid").checkData({
        specversion: "1.0",
        id: "1",
        source: "/s",
        type: "com.shop.order.paid",
        data: { amount: 3, currency: "eur" }
      })
    ).toBe(`data does not match the schema of route 'orders': data.currency must match pattern "^[A-Z]{3}$"`)
    expect(topicSpecs(routing, { topicPrefix: "", partitions: 3, replicationFactor: 1 })).toEqual([
      { name: "events.orders", partitions: 3, replicationFactor: 1 },
      { name: "events.clicks", partitions: 6, replicationFactor: 1 },
      { name: "events.default", partitions: 3, replicationFactor: 1 },
      { name: "events.dlq", partitions: 3, replicationFactor: 1 }
    ])
  })

  it("reads JSON, with a schema file relative to the routes file", () => {
    const dir = tempDir("routes")
    writeFileSync(join(dir, "user.json"), JSON.stringify({ type: "object", required: ["email"] }))
    writeFileSync(
      join(dir, "routes.json"),
      JSON.stringify({ routes: [{ name: "users", types: ["user.*"], schemaFile: "user.json" }] })
    )
    const routing = loadRoutesFile(join(dir, "routes.json"), "p.")
    expect(routing.resolve("user.created").topic).toBe("p.events.users")
    expect(
      routing
        .resolve("user.created")
        .checkData({ specversion: "1.0", id: "1", source: "/s", type: "user.created", data: {} })
    ).toBe("data does not match the schema of route 'users': data must have required property 'email'")
  })

  it("says which file and which route is wrong", () => {
    const dir = tempDir("routes")
    expect(() => loadRoutesFile(join(dir, "missing.yaml"), "")).toThrow(
      /^cannot read the routes file .*missing.yaml: ENOENT/
    )
    writeFileSync(join(dir, "bad.yaml"), "routes:\n  - name: a\n    types: [x]\n    schemaFile: nope.json\n")
    expect(() => loadRoutesFile(join(dir, "bad.yaml"), "")).toThrow(
      /bad.yaml: route 'a': cannot read schemaFile 'nope.json'/
    )
    writeFileSync(join(dir, "broken.yaml"), "routes: [\n")
    expect(() => loadRoutesFile(join(dir, "broken.yaml"), "")).toThrow(
      /^cannot read the routes file .*broken.yaml: /
    )
  })
})
