/**
 * Hot queries are cached briefly: many dashboards asking the same question within a second cost
 * one query. In process, concurrent misses of one key share one computation; with Redis (the
 * distributed mode) the instances share the answers.
 */
import { Deferred, Duration, Effect, FiberId } from "effect"
import type { Redis } from "ioredis"

export interface HotCache {
  readonly get: <A, E, R>(key: string, compute: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const noCache: HotCache = { get: (_key, compute) => compute }

const MAX_ENTRIES = 10_000

export const memoryCache = (ttl: Duration.Duration): HotCache => {
  const ms = Duration.toMillis(ttl)
  if (ms <= 0) return noCache
  // An entry is pending (until = Infinity) while its first caller computes it.
  const entries = new Map<string, { until: number; readonly value: Deferred.Deferred<unknown, unknown> }>()
  return {
    get: <A, E, R>(key: string, compute: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const now = Date.now()
        const hit = entries.get(key)
        if (hit !== undefined && hit.until > now) return Deferred.await(hit.value) as Effect.Effect<A, E, R>
        if (hit !== undefined) entries.delete(key)
        // Entries are kept in insertion order, which (one TTL for all) is expiry order: drop the
        // expired ones from the front, so the map holds about a TTL's worth of answers, no more.
        for (const [k, e] of entries) {
          if (e.until > now && entries.size < MAX_ENTRIES) break
          entries.delete(k)
        }
        const deferred = Deferred.unsafeMake<unknown, unknown>(FiberId.none)
        const entry = { until: Number.POSITIVE_INFINITY, value: deferred }
        entries.set(key, entry)
        // A failure is handed to the callers waiting on it, then forgotten.
        return compute.pipe(
          Effect.exit,
          Effect.tap((exit) => Deferred.done(deferred, exit)),
          Effect.tap((exit) =>
            Effect.sync(() => {
              if (exit._tag === "Success") entry.until = Date.now() + ms
              else if (entries.get(key) === entry) entries.delete(key)
            })
          ),
          Effect.flatten,
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              if (entries.get(key) === entry) entries.delete(key)
            }).pipe(Effect.zipRight(Deferred.interrupt(deferred)))
          )
        )
      })
  }
}

/** Shared through Redis (JSON values under `<prefix><key>`, with the TTL), in front of a process cache. */
export const redisCache = (redis: Redis, prefix: string, ttl: Duration.Duration): HotCache => {
  const ms = Duration.toMillis(ttl)
  if (ms <= 0) return noCache
  const local = memoryCache(Duration.millis(Math.min(ms, 250)))
  return {
    get: <A, E, R>(key: string, compute: Effect.Effect<A, E, R>) =>
      local.get(
        key,
        Effect.gen(function* () {
          const cached = yield* Effect.tryPromise(() => redis.get(prefix + key)).pipe(
            Effect.orElseSucceed(() => null)
          )
          if (cached !== null) return JSON.parse(cached) as A
          const value = yield* compute
          yield* Effect.tryPromise(() => redis.set(prefix + key, JSON.stringify(value), "PX", ms)).pipe(
            Effect.ignore
          )
          return value
        })
      )
  }
}
