/**
 * RateLimiter in the process's memory, for the embedded mode (one process serves every request):
 * a map from key id to its theoretical arrival time, stepped by `gcra`. Its size is bounded: when
 * it is full, the buckets that are full again (nothing to remember) are dropped, then, if that
 * freed too little, the least recently used ones.
 */
import { gcra, RateLimiter } from "@eventflow/core"
import { Clock, Effect, Layer } from "effect"

export interface MemoryRateLimiterOptions {
  /** The most buckets kept at once. */
  readonly maxKeys: number
}

export const makeMemoryRateLimiter = (options: MemoryRateLimiterOptions = { maxKeys: 100_000 }) => {
  // Insertion order is last-use order: a take deletes and sets its key again.
  const buckets = new Map<string, number>()
  const makeRoom = (now: number) => {
    for (const [id, tat] of buckets) if (tat <= now) buckets.delete(id)
    // Free at least a tenth, so that a sweep is not repeated at every take.
    const target = Math.floor(options.maxKeys * 0.9)
    for (const id of buckets.keys()) {
      if (buckets.size <= target) break
      buckets.delete(id)
    }
  }
  const take: RateLimiter["Type"]["take"] = (keyId, cost, limit) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const decision = gcra(buckets.get(keyId), now, cost, limit)
      if (decision.allowed) {
        buckets.delete(keyId)
        if (buckets.size >= options.maxKeys) makeRoom(now)
        buckets.set(keyId, decision.tat)
      }
      return decision
    })
  // `size`: how many buckets are held (for tests).
  return { take, ping: Effect.void, size: () => buckets.size }
}

export const layerMemoryRateLimiter = (options?: MemoryRateLimiterOptions) =>
  Layer.sync(RateLimiter, () => makeMemoryRateLimiter(options))
