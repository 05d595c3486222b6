import type { CloudEvent } from "@eventflow/core"
import { describe, expect, it } from "vitest"
import { count, from, pipeline, sum, Tumbling, table, testDriver } from "../src/index.ts"

type Order = CloudEvent & { readonly subject: string; readonly data: { readonly amount: number } }
interface Profile {
  readonly country: string
  readonly tier: string
}

const profiles = table<Profile>("state.users")
const at = (hhmmss: string) => `2026-11-27T${hhmmss}Z`
const order = (user: string, amount: number, time = "10:00:00") => ({
  subject: user,
  time: at(time),
  data: { amount }
})

describe("stream-table join", () => {
  const byCountry = pipeline(
    "revenue-by-country",
    from<Order>("events.orders")
      .selectKey((o) => o.subject)
      .joinTable(profiles, (o, profile) => ({ amount: o.data.amount, country: profile.country }))
      .filter((o) => o.amount > 0)
      .window(Tumbling.ofSizeWithNoGrace("1 hour"))
      .aggregate({ orders: count(), revenue: sum((o) => o.amount) })
  )

  it("enriches each event with the latest state of its key, and drops keys the table lacks", () => {
    const driver = testDriver(byCountry)
      .sendTable("state.users", [
        { subject: "u1", data: { country: "FR", tier: "gold" } },
        { subject: "u2", data: { country: "DE", tier: "free" } }
      ])
      .send([order("u1", 10), order("u2", 5), order("u3", 99)])
    expect(driver.rows().map((r) => [r.key, r.values.orders, r.values.revenue])).toEqual([
      ["u1", 1, 10],
      ["u2", 1, 5]
    ])
  })

  it("sees updates and tombstones of the table", () => {
    const driver = testDriver(byCountry).sendTable("state.users", [
      { subject: "u1", data: { country: "FR", tier: "gold" } }
    ])
    driver.send(order("u1", 10))
    driver.sendTable("state.users", [{ subject: "u1", data: null }])
    driver.send(order("u1", 20))
    expect(driver.rows().map((r) => r.values.revenue)).toEqual([10])
  })

  it("left join hands undefined to the joiner when the key has no state", () => {
    const tiers = pipeline(
      "orders-by-tier",
      from<Order>("events.orders")
        .selectKey((o) => o.subject)
        .leftJoinTable(profiles, (o, profile) => ({
          amount: o.data.amount,
          tier: profile?.tier ?? "unknown"
        }))
        .mapValues((o) => o.tier)
        .window(Tumbling.ofSizeWithNoGrace("1 hour"))
        .aggregate({ orders: count() })
    )
    const driver = testDriver(tiers).sendTable("state.users", [
      { subject: "u1", data: { country: "FR", tier: "gold" } }
    ])
    driver.send([order("u1", 1), order("u9", 1)])
    expect(driver.rows().map((r) => [r.key, r.values.orders])).toEqual([
      ["u1", 1],
      ["u9", 1]
    ])
    expect(() => driver.sendTable("state.other", [])).toThrow(
      "the pipeline joins no table of topic state.other"
    )
  })
})
