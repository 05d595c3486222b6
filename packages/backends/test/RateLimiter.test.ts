import { randomUUID } from "node:crypto"
import {
  layerMemoryRateLimiter,
  layerRedisRateLimiter,
  makeMemoryRateLimiter,
  makeRedisRateLimiter
} from "@eventflow/backends"
import { describeWithServices, serviceUrls } from "@eventflow/testing"
import { Duration, Effect, Redacted } from "effect"
import { Redis } from "ioredis"
import { describe, expect, it } from "vitest"
import { rateLimitContract } from "./RateLimitContract.ts"

const prefix = `eventflow-test:${Date.now()}:`
const redisOptions = {
  url: Redacted.make(serviceUrls.redis),
  keyPrefix: prefix,
  commandTimeout: Duration.seconds(2)
}

await describeWithServices(["redis"], "RedisRateLimiter on the real Redis", () => {
  rateLimitContract(layerRedisRateLimiter(redisOptions))

  it("two clients (two ingest instances) take from one bucket", async () => {
    const key = `shared-${randomUUID()}`
    const limit = { rate: 0.1, burst: 10 }
    const outcome = await Effect.runPromise(
      Effect.gen(function* () {
        const a = yield* makeRedisRateLimiter(redisOptions)
        const b = yield* makeRedisRateLimiter(redisOptions)
        return [
          yield* a.take(key, 6, limit),
          yield* b.take(key, 6, limit),
          yield* b.take(key, 4, limit),
          yield* a.take(key, 1, limit)
        ].map((d) => d.allowed)
      }).pipe(Effect.scoped)
    )
    expect(outcome).toEqual([true, false, true, false])
  })

  it("keeps a bucket at <prefix>rl:<keyId> only until it is full again", async () => {
    const key = `expiry-${randomUUID()}`
    const redis = new Redis(serviceUrls.redis)
    try {
      await Effect.runPromise(
        Effect.gen(function* () {
          const limiter = yield* makeRedisRateLimiter(redisOptions)
          // 2 events at 10 per second: full again in 200 ms.
          expect((yield* limiter.take(key, 2, { rate: 10, burst: 5 })).allowed).toBe(true)
        }).pipe(Effect.scoped)
      )
      const ttl = await redis.pttl(`${prefix}rl:${key}`)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(200)
      await new Promise((r) => setTimeout(r, 300))
      expect(await redis.exists(`${prefix}rl:${key}`)).toBe(0)
    } finally {
      redis.disconnect()
    }
  })

  it("fails with BackendUnavailable when Redis does not answer", async () => {
    const error = await Effect.runPromise(
      Effect.gen(function* () {
        // Nothing listens on port 1.
        const limiter = yield* makeRedisRateLimiter({
          ...redisOptions,
          url: Redacted.make("redis://127.0.0.1:1")
        })
        return yield* Effect.flip(limiter.take("k", 1, { rate: 1, burst: 1 }))
      }).pipe(Effect.scoped)
    )
    expect(error).toMatchObject({ _tag: "BackendUnavailable", backend: "ratelimit" })
  })
})

describe("MemoryRateLimiter (embedded mode)", () => {
  rateLimitContract(layerMemoryRateLimiter())

  it("holds at most maxKeys buckets: those full again go first, then the least recently used", async () => {
    const limiter = makeMemoryRateLimiter({ maxKeys: 10 })
    const take = (key: string, rate: number) => Effect.runPromise(limiter.take(key, 1, { rate, burst: 1 }))
    // Full again after 1 ms.
    for (let i = 0; i < 10; i++) await take(`fast-${i}`, 1000)
    expect(limiter.size()).toBe(10)
    await new Promise((r) => setTimeout(r, 5))
    // Never full again during the test: when they fill the map, the oldest make room.
    for (let i = 0; i < 25; i++) await take(`slow-${i}`, 0.001)
    expect(limiter.size()).toBeLessThanOrEqual(10)
    // The most recent bucket is still there: a second event is refused.
    expect((await take("slow-24", 0.001)).allowed).toBe(false)
  })
})
