/** The rate limiter's behaviour, checked the same way against every RateLimiter layer (real clocks). */
import { randomUUID } from "node:crypto"
import { layer as withLayer } from "@effect/vitest"
import { RateLimiter } from "@eventflow/core"
import { Effect, type Layer } from "effect"
import { expect } from "vitest"

const keyId = () => `test-${randomUUID()}`

export const rateLimitContract = (layer: Layer.Layer<RateLimiter, unknown>) => {
  withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("a fresh key sends its burst at once, then is told when one more event passes", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimiter
        const key = keyId()
        const limit = { rate: 2, burst: 4 } // T = 500 ms
        expect(yield* limiter.take(key, 3, limit)).toMatchObject({
          allowed: true,
          retryAfterMs: 0,
          remaining: 1
        })
        const full = yield* limiter.take(key, 1, limit)
        expect(full).toMatchObject({ allowed: true, remaining: 0 })
        expect(full.resetMs).toBeGreaterThan(1800)
        expect(full.resetMs).toBeLessThanOrEqual(2000)
        const refused = yield* limiter.take(key, 1, limit)
        expect(refused).toMatchObject({ allowed: false, remaining: 0 })
        expect(refused.retryAfterMs).toBeGreaterThan(300)
        expect(refused.retryAfterMs).toBeLessThanOrEqual(500)
      })
    )

    it.effect("a refused take stores nothing", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimiter
        const key = keyId()
        const limit = { rate: 0.1, burst: 5 }
        expect((yield* limiter.take(key, 4, limit)).allowed).toBe(true)
        const refused = yield* limiter.take(key, 2, limit)
        expect(refused).toMatchObject({ allowed: false, remaining: 1 })
        // 2 events over the burst by one: one interval (10 s) to wait, less the time gone by.
        expect(refused.retryAfterMs).toBeGreaterThan(9000)
        expect(refused.retryAfterMs).toBeLessThanOrEqual(10_000)
        expect(yield* limiter.take(key, 1, limit)).toMatchObject({ allowed: true, remaining: 0 })
        expect((yield* limiter.take(key, 1, limit)).allowed).toBe(false)
      })
    )

    it.effect("never passes a request of more events than the burst, and that changes nothing", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimiter
        const key = keyId()
        const limit = { rate: 0.1, burst: 5 }
        expect((yield* limiter.take(key, 6, limit)).allowed).toBe(false)
        expect(yield* limiter.take(key, 5, limit)).toMatchObject({ allowed: true, remaining: 0 })
      })
    )

    it.effect("refills at the rate: after the time it gave, the request passes", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimiter
        const key = keyId()
        const limit = { rate: 20, burst: 2 } // T = 50 ms
        expect((yield* limiter.take(key, 2, limit)).allowed).toBe(true)
        const refused = yield* limiter.take(key, 1, limit)
        expect(refused.allowed).toBe(false)
        expect(refused.retryAfterMs).toBeLessThanOrEqual(50)
        yield* Effect.sleep(`${Math.ceil(refused.retryAfterMs) + 5} millis`)
        expect((yield* limiter.take(key, 1, limit)).allowed).toBe(true)
      })
    )

    it.effect("each key has its own bucket", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimiter
        const limit = { rate: 0.1, burst: 3 }
        const [a, b] = [keyId(), keyId()]
        expect((yield* limiter.take(a, 3, limit)).allowed).toBe(true)
        expect((yield* limiter.take(a, 1, limit)).allowed).toBe(false)
        expect((yield* limiter.take(b, 3, limit)).allowed).toBe(true)
      })
    )

    it.effect("concurrent takes never pass more than the burst", () =>
      Effect.gen(function* () {
        const limiter = yield* RateLimiter
        const key = keyId()
        const limit = { rate: 0.1, burst: 10 }
        const decisions = yield* Effect.all(
          Array.from({ length: 40 }, () => limiter.take(key, 1, limit)),
          { concurrency: "unbounded" }
        )
        expect(decisions.filter((d) => d.allowed)).toHaveLength(10)
      })
    )

    it.effect("answers ping", () => Effect.flatMap(RateLimiter, (limiter) => limiter.ping))
  })
}
