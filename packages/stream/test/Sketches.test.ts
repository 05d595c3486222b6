import type { CloudEvent } from "@eventflow/core"
import { describe, expect, it } from "vitest"
import {
  distinct,
  from,
  HyperLogLog,
  percentile,
  pipeline,
  Session,
  Tumbling,
  testDriver
} from "../src/index.ts"

type Visit = CloudEvent & { readonly data: { readonly user: string; readonly ms: number } }

describe("HyperLogLog", () => {
  it.each([10, 1_000, 100_000, 1_000_000])(
    "estimates %i distinct values within 5 %% (3 standard errors)",
    (n) => {
      const hll = new HyperLogLog(12)
      for (let i = 0; i < n; i++) {
        hll.add(`user-${i}`)
        hll.add(`user-${i}`)
      }
      expect(Math.abs(hll.estimate() - n) / n).toBeLessThan(0.05)
    }
  )

  it("merges to the estimate of the union", () => {
    const a = new HyperLogLog()
    const b = new HyperLogLog()
    for (let i = 0; i < 60_000; i++) a.add(`u${i}`)
    for (let i = 30_000; i < 90_000; i++) b.add(`u${i}`)
    a.merge(b)
    expect(Math.abs(a.estimate() - 90_000) / 90_000).toBeLessThan(0.05)
  })
})

describe("distinct and percentile in a pipeline", () => {
  const visits = pipeline(
    "visits",
    from<Visit>("events.web")
      .selectKey(() => "site")
      .window(Tumbling.ofSizeWithNoGrace("1 hour"))
      .aggregate({
        users: distinct((v) => v.data.user),
        p95: percentile(0.95, (v) => v.data.ms),
        p50: percentile(0.5, (v) => v.data.ms)
      })
  )

  it("counts distinct users and the p50 and p95 latency within the sketches' bounds", () => {
    const events = Array.from({ length: 20_000 }, (_, i) => ({
      time: new Date(Date.UTC(2026, 10, 27, 10, 0, i % 3600)).toISOString(),
      data: { user: `user-${i % 3000}`, ms: 1 + ((i * 7919) % 1000) }
    }))
    const driver = testDriver(visits).send(events)
    const [row] = driver.rows()
    const sorted = events.map((e) => e.data.ms).sort((a, b) => a - b)
    const exact = (q: number) => sorted[Math.ceil(q * sorted.length) - 1]!
    expect(Math.abs(row!.values.users! - 3000) / 3000).toBeLessThan(0.05)
    expect(Math.abs(row!.values.p95! - exact(0.95)) / exact(0.95)).toBeLessThanOrEqual(0.01)
    expect(Math.abs(row!.values.p50! - exact(0.5)) / exact(0.5)).toBeLessThanOrEqual(0.01)
  })

  it("merges sketches when sessions merge", () => {
    const sessions = pipeline(
      "sessions",
      from<Visit>("events.web")
        .selectKey(() => "site")
        .window(Session.ofGapAndGrace("10 minutes", "1 hour"))
        .aggregate({ users: distinct((v) => v.data.user), p50: percentile(0.5, (v) => v.data.ms) })
    )
    const at = (minute: number, user: string, ms: number) => ({
      time: new Date(Date.UTC(2026, 10, 27, 10, minute)).toISOString(),
      data: { user, ms }
    })
    const driver = testDriver(sessions).send([at(0, "a", 10), at(15, "b", 20)])
    expect(driver.rows()).toHaveLength(2)
    driver.send(at(8, "c", 30))
    expect(driver.rows().map((r) => [r.values.users, Math.round(r.values.p50!)])).toEqual([[3, 20]])
  })
})
