/** Ingest numbers shared through the real Redis: two ingest instances, one query service reading both. */
import { publishIngestStats } from "@eventflow/backends"
import { IngestStats, makeIngestStats } from "@eventflow/core"
import { describeWithServices, serviceUrls, uniquePrefix } from "@eventflow/testing"
import { Duration, Effect } from "effect"
import { Redis } from "ioredis"
import { afterAll, expect, it } from "vitest"
import { redisIngestSource } from "../src/Live.ts"

await describeWithServices(["redis"], "ingest statistics through Redis", () => {
  const redis = new Redis(serviceUrls.redis)
  afterAll(async () => {
    await redis.quit()
  })

  it("sums the instances' counters and merges each latency sample once", async () => {
    const prefix = `${uniquePrefix("stats")}`
    const one = makeIngestStats()
    const two = makeIngestStats()
    const source = redisIngestSource(redis, prefix)
    const reading = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          yield* publishIngestStats(redis, prefix, Duration.millis(100)).pipe(
            Effect.provideService(IngestStats, one)
          )
          yield* publishIngestStats(redis, prefix, Duration.millis(100)).pipe(
            Effect.provideService(IngestStats, two)
          )
          one.record({ accepted: 1, duplicates: 0, rejected: 0, latencyMs: 1000 })
          yield* Effect.sleep(Duration.millis(250))
          // The first read only learns the instances: what they recorded before is not "the last second".
          const zeroth = yield* source.read
          expect(zeroth).toMatchObject({ accepted: 1, instances: 2 })
          expect(zeroth!.latency.count).toBe(0)
          for (let i = 0; i < 10; i++) one.record({ accepted: 10, duplicates: 1, rejected: 0, latencyMs: 5 })
          for (let i = 0; i < 5; i++) two.record({ accepted: 4, duplicates: 0, rejected: 2, latencyMs: 50 })
          yield* Effect.sleep(Duration.millis(350))
          const first = yield* source.read
          // Nothing new recorded: the totals stay, and no latency sample is counted twice.
          yield* Effect.sleep(Duration.millis(250))
          const second = yield* source.read
          return { first, second }
        })
      )
    )
    expect(reading.first).toMatchObject({ accepted: 121, duplicates: 10, rejected: 10, instances: 2 })
    expect(reading.first!.latency.count).toBe(15)
    expect(reading.first!.latency.quantile(0.5)).toBeCloseTo(5, 0)
    expect(reading.first!.latency.quantile(0.99)).toBeGreaterThan(48)
    expect(reading.first!.latency.quantile(1)).toBeLessThan(60)
    expect(reading.second).toMatchObject({ accepted: 121, instances: 2 })
    expect(reading.second!.latency.count).toBe(0)
    // An instance that stops removes its field.
    expect(await redis.hlen(`${prefix}ingest`)).toBe(0)
  })
})
