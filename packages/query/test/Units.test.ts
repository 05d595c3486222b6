/** The query service's own parts: latency histogram, event tail, hot cache, SSE frames, lag. */
import { LatencyHistogram, makeIngestStats } from "@eventflow/core"
import { Duration, Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { memoryCache } from "../src/Cache.ts"
import { frameOf, type LiveTick } from "../src/Live.ts"
import { EventTail, isEventsTopic, MAX_TAIL_DATA_BYTES } from "../src/LogView.ts"
import { describeFingerprint } from "../src/ReadModel.ts"
import { lagOf } from "../src/Service.ts"

describe("LatencyHistogram", () => {
  it("reads quantiles within 2.5% of the exact ones, merged across instances", () => {
    let seed = 7
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const values = Array.from({ length: 20_000 }, () => Math.exp(random() * 8) / 10)
    const a = new LatencyHistogram()
    const b = new LatencyHistogram()
    values.forEach((v, i) => {
      ;(i % 2 === 0 ? a : b).record(v)
    })
    const merged = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(a.toJSON()))).merge(b)
    expect(merged.count).toBe(values.length)
    const sorted = [...values].sort((x, y) => x - y)
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!
      const read = merged.quantile(q)!
      expect(Math.abs(read - exact) / exact).toBeLessThan(0.026)
    }
    expect(new LatencyHistogram().quantile(0.5)).toBeNull()
  })

  it("ignores malformed JSON entries", () => {
    const h = LatencyHistogram.fromJSON([[3, 2], ["x", 1], [4, -1], "junk", [5]])
    expect(h.count).toBe(2)
  })

  it("IngestStats hands each latency sample over once and keeps the totals", () => {
    const stats = makeIngestStats()
    stats.record({ accepted: 5, duplicates: 1, rejected: 2, latencyMs: 3 })
    stats.record({ accepted: 1, duplicates: 0, rejected: 0, latencyMs: 30 })
    const first = stats.sample()
    expect(first).toMatchObject({ accepted: 6, duplicates: 1, rejected: 2, requests: 2 })
    expect(first.latency.count).toBe(2)
    const second = stats.sample()
    expect(second.latency.count).toBe(0)
    expect(second.accepted).toBe(6)
  })
})

describe("EventTail", () => {
  const record = (i: number, type: string, data: unknown = { i }) => ({
    topic: "events.default",
    partition: i % 3,
    offset: String(i),
    timestamp: Date.UTC(2026, 10, 27) + i,
    value: JSON.stringify({ specversion: "1.0", id: `e${i}`, source: "/s", type, data })
  })

  it("keeps the newest events up to its capacity, newest first, filtered by type", () => {
    const tail = new EventTail(10)
    for (let i = 0; i < 25; i++) tail.push(record(i, i % 2 === 0 ? "even" : "odd"))
    expect(tail.recent(undefined, 100).map((e) => e.id)).toEqual(
      Array.from({ length: 10 }, (_, k) => `e${24 - k}`)
    )
    expect(tail.recent("odd", 3).map((e) => e.id)).toEqual(["e23", "e21", "e19"])
    expect(tail.recent("none", 3)).toEqual([])
  })

  it("gives what came after a sequence number, and survives non-JSON and huge data", () => {
    const tail = new EventTail(100)
    tail.push(record(1, "a"))
    const seen = tail.lastSeq
    tail.push({ ...record(2, "a"), value: new Uint8Array([0xff, 0xfe, 0x00]) })
    tail.push(record(3, "b", "x".repeat(MAX_TAIL_DATA_BYTES + 10)))
    const after = tail.since(seen, 10)
    expect(after.map((e) => e.offset)).toEqual(["3", "2"])
    expect(after[1]).toMatchObject({ id: null, type: null, data: null })
    expect(after[0]!.data).toEqual({ truncated: true, bytes: MAX_TAIL_DATA_BYTES + 12 })
  })

  it("knows the events topics of a prefix", () => {
    expect(isEventsTopic("p.events.orders", "p.")).toBe(true)
    expect(isEventsTopic("p.events.dlq", "p.")).toBe(false)
    expect(isEventsTopic("events.orders", "p.")).toBe(false)
    expect(isEventsTopic("alerts", "")).toBe(false)
  })
})

describe("memoryCache", () => {
  it("computes a key once for concurrent callers and reuses it within the TTL", async () => {
    const cache = memoryCache(Duration.seconds(10))
    let runs = 0
    const compute = Effect.sleep(Duration.millis(30)).pipe(Effect.map(() => ++runs))
    const values = await Effect.runPromise(
      Effect.all(
        Array.from({ length: 20 }, () => cache.get("k", compute)),
        { concurrency: "unbounded" }
      )
    )
    expect(values).toEqual(Array.from({ length: 20 }, () => 1))
    expect(await Effect.runPromise(cache.get("k", compute))).toBe(1)
    expect(await Effect.runPromise(cache.get("other", compute))).toBe(2)
  })

  it("does not keep failures, and expires after the TTL", async () => {
    const cache = memoryCache(Duration.millis(50))
    let runs = 0
    const failing = Effect.suspend(() => (++runs === 1 ? Effect.fail("down") : Effect.succeed(runs)))
    expect(await Effect.runPromise(Effect.either(cache.get("k", failing)))).toMatchObject({ _tag: "Left" })
    expect(await Effect.runPromise(cache.get("k", failing))).toBe(2)
    await new Promise((r) => setTimeout(r, 80))
    expect(await Effect.runPromise(cache.get("k", failing))).toBe(3)
  })

  it("lets a waiting caller go on when the computing one is interrupted", async () => {
    const cache = memoryCache(Duration.seconds(10))
    const slow = Effect.never
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const first = yield* Effect.fork(cache.get("k", slow))
        yield* Effect.sleep(Duration.millis(10))
        yield* Fiber.interrupt(first)
        return yield* cache.get("k", Effect.succeed("fresh"))
      })
    )
    expect(result).toBe("fresh")
  })
})

describe("the live feed and lag", () => {
  it("frames a tick as one SSE event whose id is its time", () => {
    const tick = { id: 1_795_000_000_000, time: "2026-11-27T12:00:00.000Z" } as LiveTick
    const text = new TextDecoder().decode(frameOf(tick))
    expect(text).toBe(`event: tick\nid: 1795000000000\ndata: ${JSON.stringify(tick)}\n\n`)
  })

  it("counts lag from the stored position, or from the log start where there is none", () => {
    const lag = lagOf(
      [{ name: "p", sources: ["t"], positions: [{ topic: "t", partition: 0, nextOffset: 40n }] }],
      [
        {
          name: "t",
          partitions: [
            { partition: 0, startOffset: 0n, endOffset: 100n },
            { partition: 1, startOffset: 10n, endOffset: 30n }
          ]
        }
      ]
    )
    expect(lag).toEqual([
      {
        pipeline: "p",
        lag: 80,
        partitions: [
          { topic: "t", partition: 0, offset: 40n, lag: 60 },
          { topic: "t", partition: 1, offset: 10n, lag: 20 }
        ]
      }
    ])
  })

  it("describes a pipeline from its stored fingerprint", () => {
    const fingerprint = JSON.stringify({
      topics: ["events.orders"],
      window: { kind: "hopping", sizeMs: 300_000, advanceMs: 60_000, graceMs: 0 },
      aggregations: [["n", "count"]]
    })
    expect(describeFingerprint("orders", fingerprint)).toEqual({
      name: "orders",
      sources: ["events.orders"],
      window: { kind: "hopping", sizeMs: 300_000, advanceMs: 60_000, graceMs: 0 },
      aggregates: [{ name: "n", kind: "count" }]
    })
  })
})
