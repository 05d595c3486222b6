import { describe, expect, it } from "vitest"
import activeUsers from "../examples/active-users.ts"
import eventsPerType from "../examples/events-per-type.ts"
import orderRevenue from "../examples/order-revenue.ts"
import userSessions from "../examples/user-sessions.ts"
import { testDriver } from "../src/index.ts"

const at = (hhmmss: string) => `2026-11-27T${hhmmss}Z`

describe("the example pipelines", () => {
  it("events-per-type counts each type per minute", () => {
    const driver = testDriver(eventsPerType).send([
      { type: "a", time: at("10:00:01") },
      { type: "b", time: at("10:00:02") },
      { type: "a", time: at("10:00:59") },
      { type: "a", time: at("10:01:00") }
    ])
    expect(driver.rows().map((r) => [r.key, r.windowStart, r.values.events])).toEqual([
      ["a", Date.parse(at("10:00:00")), 2],
      ["b", Date.parse(at("10:00:00")), 1],
      ["a", Date.parse(at("10:01:00")), 1]
    ])
  })

  it("order-revenue sums, averages and takes the p95 per region", () => {
    const orders = [10, 20, 30, 40].map((amount, i) => ({
      type: "com.shop.order.created",
      time: at(`10:0${i}:00`),
      data: { region: "eu", amount }
    }))
    const driver = testDriver(orderRevenue).send([
      ...orders,
      { type: "com.shop.order.cancelled", time: at("10:01:00"), data: { region: "eu", amount: 99 } }
    ])
    const [row] = driver.rows()
    expect(row?.values).toMatchObject({ orders: 4, revenue: 100, averageAmount: 25 })
    // DDSketch's quantile is the value at rank q·(n−1), rounded down: 30 of four orders, within 1 %.
    expect(Math.abs(row!.values.p95Amount! - 30) / 30).toBeLessThanOrEqual(0.01)
  })

  it("active-users counts distinct subjects per hour", () => {
    const events = Array.from({ length: 500 }, (_, i) => ({
      subject: `user-${i % 50}`,
      time: at("10:30:00")
    }))
    // Approximate: two of 50 users may share a register (HyperLogLog with 4,096 registers).
    expect(Math.abs(testDriver(activeUsers).send(events).rows()[0]!.values.users! - 50)).toBeLessThanOrEqual(
      1
    )
  })

  it("user-sessions splits a user's events on 30-minute gaps", () => {
    const driver = testDriver(userSessions).send([
      { subject: "u1", time: at("10:00:00") },
      { subject: "u1", time: at("10:20:00") },
      { subject: "u1", time: at("11:00:00") }
    ])
    expect(driver.rows().map((r) => r.values.events)).toEqual([2, 1])
  })
})
