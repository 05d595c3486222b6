import type { CloudEvent } from "@eventflow/core"
import { describe, expect, it } from "vitest"
import {
  avg,
  count,
  from,
  Hopping,
  max,
  min,
  pipeline,
  Session,
  sum,
  Tumbling,
  testDriver
} from "../src/index.ts"

type Order = CloudEvent & { readonly data: { readonly region: string; readonly amount: number } }

const at = (iso: string) => `2026-11-27T${iso}Z`
const order = (time: string, region: string, amount: number) => ({
  time: at(time),
  type: "order.created",
  data: { region, amount }
})

const revenue = pipeline(
  "revenue",
  from<Order>("events.orders")
    .filter((o) => o.data.amount > 0)
    .selectKey((o) => o.data.region)
    .window(Tumbling.ofSizeAndGrace("1 minute", "10 seconds"))
    .aggregate({
      orders: count(),
      revenue: sum((o) => o.data.amount),
      smallest: min((o) => o.data.amount),
      largest: max((o) => o.data.amount),
      average: avg((o) => o.data.amount)
    })
)

const ms = (time: string) => Date.parse(at(time))

describe("tumbling windows", () => {
  it("aggregates per key and window, and reports open windows before they are final", () => {
    const driver = testDriver(revenue).send([
      order("10:00:05", "eu", 10),
      order("10:00:50", "eu", 30),
      order("10:00:20", "us", 5),
      order("10:00:30", "eu", -1),
      order("10:01:02", "eu", 7)
    ])
    expect(driver.rows()).toEqual([
      {
        key: "eu",
        windowStart: ms("10:00:00"),
        windowEnd: ms("10:01:00"),
        final: false,
        values: { orders: 2, revenue: 40, smallest: 10, largest: 30, average: 20 }
      },
      {
        key: "us",
        windowStart: ms("10:00:00"),
        windowEnd: ms("10:01:00"),
        final: false,
        values: { orders: 1, revenue: 5, smallest: 5, largest: 5, average: 5 }
      },
      {
        key: "eu",
        windowStart: ms("10:01:00"),
        windowEnd: ms("10:02:00"),
        final: false,
        values: { orders: 1, revenue: 7, smallest: 7, largest: 7, average: 7 }
      }
    ])
  })

  it("emits a window as final once the watermark passes its end plus grace, exactly once", () => {
    const driver = testDriver(revenue).send(order("10:00:05", "eu", 10))
    driver.send(order("10:01:09.999", "eu", 1))
    expect(driver.finalRows()).toEqual([])
    driver.send(order("10:01:10", "eu", 1))
    expect(driver.finalRows().map((r) => [r.key, r.windowStart, r.values.orders])).toEqual([
      ["eu", ms("10:00:00"), 1]
    ])
    driver.send(order("10:01:30", "eu", 1)).advanceTime(at("10:01:40"))
    expect(driver.finalRows()).toHaveLength(1)
  })

  it("takes out-of-order events within the grace period and rejects later ones as late", () => {
    const driver = testDriver(revenue).send([order("10:01:05", "eu", 1), order("10:00:59", "eu", 2)])
    expect(driver.rows().map((r) => [r.windowStart, r.values.revenue])).toEqual([
      [ms("10:00:00"), 2],
      [ms("10:01:00"), 1]
    ])
    driver.send(order("10:01:10", "eu", 1)).send(order("10:00:58", "eu", 100))
    expect(driver.rejected.map((r) => [r.reason, r.event.data])).toEqual([
      ["late", { region: "eu", amount: 100 }]
    ])
    expect(driver.rows()[0]).toMatchObject({ final: true, values: { revenue: 2 } })
  })

  it("falls back to the record's timestamp when an event has no time", () => {
    const driver = testDriver(revenue).send(
      { type: "order.created", data: { region: "eu", amount: 3 } },
      at("09:59:59")
    )
    expect(driver.rows()[0]).toMatchObject({ windowStart: ms("09:59:00"), values: { orders: 1 } })
  })

  it("sends an event whose function throws to the side output as poison, and goes on", () => {
    const driver = testDriver(revenue).send([
      { time: at("10:00:00"), data: null } as never,
      order("10:00:01", "eu", 4),
      { time: at("10:00:02"), data: { region: "eu", amount: Number.POSITIVE_INFINITY } } as never
    ])
    expect(driver.rejected.map((r) => r.reason)).toEqual(["poison", "poison"])
    expect(driver.rejected[1]?.detail).toBe("the sum selector returned Infinity, not a finite number")
    expect(driver.rows()[0]?.values).toEqual({ orders: 1, revenue: 4, smallest: 4, largest: 4, average: 4 })
  })

  // Found by the ingest fuzzers: `data.region` with a NUL was accepted by ingest (data is free), then
  // every checkpoint of the pipeline failed on the key, and the pipeline stalled.
  it("sends an event whose key the read model cannot store (NUL, lone surrogate) to the side output", () => {
    const driver = testDriver(revenue).send([
      order("10:00:00", "eu\u0000x", 1),
      order("10:00:01", "\ud800", 2),
      order("10:00:02", "eu", 4)
    ])
    expect(driver.rejected.map((r) => r.reason)).toEqual(["poison", "poison"])
    expect(driver.rejected[0]?.detail).toContain("NUL")
    expect(driver.rows().map((r) => r.key)).toEqual(["eu"])
  })
})

describe("hopping windows", () => {
  const hopping = pipeline(
    "hopping",
    from<Order>("events.orders")
      .selectKey(() => "all")
      .window(Hopping.ofSizeAdvanceAndGrace("10 minutes", "5 minutes", 0))
      .aggregate({ n: count() })
  )

  it("counts an event in every window that covers it", () => {
    const driver = testDriver(hopping).send([order("10:07:00", "x", 1), order("10:12:00", "x", 1)])
    expect(
      driver.rows().map((r) => [new Date(r.windowStart).toISOString().slice(11, 16), r.values.n])
    ).toEqual([
      ["10:00", 1],
      ["10:05", 2],
      ["10:10", 1]
    ])
  })

  it("is final per window, and a late event still counts in the windows that are open", () => {
    const driver = testDriver(hopping)
      .send(order("10:07:00", "x", 1))
      .advanceTime(at("10:10:00"))
    expect(driver.finalRows().map((r) => r.windowStart)).toEqual([ms("10:00:00")])
    driver.send(order("10:06:00", "x", 1))
    expect(driver.rejected).toEqual([])
    expect(driver.rows().find((r) => r.windowStart === ms("10:05:00"))?.values.n).toBe(2)
  })

  it("refuses an advance larger than the size", () => {
    expect(() => Hopping.ofSizeAdvanceAndGrace("1 minute", "2 minutes", 0)).toThrow(
      "a hopping window's advance must not exceed its size"
    )
  })
})

describe("session windows", () => {
  const sessions = pipeline(
    "sessions",
    from<Order>("events.clicks")
      .selectKey((e) => e.data.region)
      .window(Session.ofGapAndGrace("30 minutes", "1 hour"))
      .aggregate({ clicks: count() })
  )

  it("groups events closer than the gap, and merges sessions an event bridges", () => {
    const driver = testDriver(sessions).send([order("10:00:00", "u1", 1), order("11:00:00", "u1", 1)])
    expect(driver.rows().map((r) => [r.windowStart, r.windowEnd, r.values.clicks])).toEqual([
      [ms("10:00:00"), ms("10:00:00"), 1],
      [ms("11:00:00"), ms("11:00:00"), 1]
    ])
    driver.send(order("10:30:00", "u1", 1))
    expect(driver.rows().map((r) => [r.windowStart, r.windowEnd, r.values.clicks])).toEqual([
      [ms("10:00:00"), ms("11:00:00"), 3]
    ])
  })

  it("closes a session when the watermark passes its last event plus gap plus grace", () => {
    const driver = testDriver(sessions)
      .send(order("10:00:00", "u1", 1))
      .advanceTime(at("11:29:59.999"))
    expect(driver.finalRows()).toEqual([])
    driver.advanceTime(at("11:30:00"))
    expect(driver.finalRows().map((r) => r.values.clicks)).toEqual([1])
    driver.send(order("09:59:00", "u1", 1))
    expect(driver.rejected.map((r) => r.reason)).toEqual(["late"])
  })
})

describe("the DSL's types", () => {
  it("do not let an unkeyed or unwindowed stream aggregate", () => {
    const stream = from<Order>("events.orders")
    // @ts-expect-error: a stream must be keyed before it is windowed
    expect(() => stream.window(Tumbling.ofSizeWithNoGrace("1 minute"))).toThrow()
    // @ts-expect-error: a keyed stream must be windowed before it is aggregated
    expect(() => stream.selectKey((o) => o.data.region).aggregate({ n: count() })).toThrow()
  })

  it("check names and durations", () => {
    expect(() => pipeline("Bad Name", revenue.table)).toThrow("pipeline name 'Bad Name' must be lower-case")
    expect(() => Tumbling.ofSizeAndGrace(0, 0)).toThrow("a window's size must be a positive finite duration")
  })
})

describe("against a brute-force count", () => {
  // A small deterministic generator, so a failure can be replayed.
  const random = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    return seed / 2 ** 31
  }

  it("tumbling counts and sums equal the ground truth for 5,000 out-of-order events in batches", () => {
    const next = random(42)
    const base = ms("10:00:00")
    const lateness = 20_000
    const events = Array.from({ length: 5000 }, (_, i) => {
      // Event times drift forward; each event is up to 20 s out of order (the grace is 30 s).
      const time = base + i * 100 - Math.floor(next() * lateness)
      return {
        time: new Date(time).toISOString(),
        data: { region: `r${Math.floor(next() * 7)}`, amount: Math.floor(next() * 100) }
      }
    })
    const grace = pipeline(
      "truth",
      from<Order>("events.orders")
        .selectKey((o) => o.data.region)
        .window(Tumbling.ofSizeAndGrace("10 seconds", "30 seconds"))
        .aggregate({ n: count(), total: sum((o) => o.data.amount) })
    )
    const driver = testDriver(grace)
    for (let i = 0; i < events.length; i += 137) driver.send(events.slice(i, i + 137))
    driver.advanceTime(base + 10_000_000)
    const truth = new Map<string, { n: number; total: number }>()
    for (const e of events) {
      const start = Math.floor(Date.parse(e.time) / 10_000) * 10_000
      const id = `${e.data.region} ${start}`
      const t = truth.get(id) ?? { n: 0, total: 0 }
      truth.set(id, { n: t.n + 1, total: t.total + e.data.amount })
    }
    expect(driver.rejected).toEqual([])
    const finals = driver.finalRows()
    expect(finals.every((r) => r.final)).toBe(true)
    expect(
      new Map(finals.map((r) => [`${r.key} ${r.windowStart}`, { n: r.values.n, total: r.values.total }]))
    ).toEqual(truth)
  })
})

describe("a failing aggregation", () => {
  it("leaves no phantom window behind", () => {
    const driver = testDriver(revenue).send([
      { time: at("10:00:02"), data: { region: "eu", amount: Number.POSITIVE_INFINITY } } as never
    ])
    driver.advanceTime(at("11:00:00"))
    expect(driver.rows()).toEqual([])
    expect(driver.rejected.map((r) => r.reason)).toEqual(["poison"])
  })
})
