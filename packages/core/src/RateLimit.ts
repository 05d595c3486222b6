/**
 * Rate limits per write key: GCRA (the generic cell rate algorithm), a leaky bucket kept as one
 * number per key, the theoretical arrival time (TAT) of the next event at the sustained rate.
 * A request of `cost` events moves the TAT forward by `cost` emission intervals; it passes while
 * the TAT stays within the tolerance (the burst) ahead of now. A refused request changes nothing.
 */
import { Context, type Effect } from "effect"
import type { BackendUnavailable } from "./Errors.ts"

export interface RateLimit {
  /** Events per second, sustained (> 0). */
  readonly rate: number
  /** Events that may come at once, after a quiet period (≥ 1). A request of more never passes. */
  readonly burst: number
}

export interface RateDecision {
  readonly allowed: boolean
  /** The TAT to store (ms): the new one when allowed, the unchanged one (or `now`) when refused. */
  readonly tat: number
  /** When refused: how long until the same request would pass (ms); 0 when allowed. */
  readonly retryAfterMs: number
  /** Events that could pass right now, after this decision. */
  readonly remaining: number
  /** How long until the bucket is full again (ms): the key's state can be forgotten then. */
  readonly resetMs: number
}

/**
 * Slack of the comparisons (ms), so that sums of fractional intervals (1000 / 3 ms, say) that
 * land on the tolerance exactly are not refused by a rounding error. The Redis script uses the same.
 */
export const GCRA_EPSILON_MS = 0.001

/**
 * One GCRA step. T = 1000 / rate ms, tolerance = burst × T; new TAT = max(TAT, now) + cost × T;
 * allowed iff new TAT − now ≤ tolerance (then store the new TAT), else refused with
 * retryAfter = new TAT − tolerance − now (store nothing).
 */
export const gcra = (
  storedTat: number | undefined,
  now: number,
  cost: number,
  limit: RateLimit
): RateDecision => {
  const interval = 1000 / limit.rate
  const tolerance = limit.burst * interval
  const tat = storedTat === undefined || storedTat < now ? now : storedTat
  const next = tat + cost * interval
  const remainingAt = (t: number) =>
    Math.max(0, Math.min(limit.burst, Math.floor(limit.burst - (t - now) / interval + 1e-9)))
  if (next - now <= tolerance + GCRA_EPSILON_MS) {
    return { allowed: true, tat: next, retryAfterMs: 0, remaining: remainingAt(next), resetMs: next - now }
  }
  return {
    allowed: false,
    tat,
    retryAfterMs: next - tolerance - now,
    remaining: remainingAt(tat),
    resetMs: tat - now
  }
}

/** A key's own limit as stored with it: `rate` null follows the default, 0 means no limit. */
export interface KeyRateLimit {
  readonly rate: number | null
  readonly burst: number | null
}

export interface RateLimitDefaults {
  /** Events per second per write key; 0: no limit. */
  readonly rate: number
  /** Events at once; undefined: the larger of the key's rate and `minBurst`. */
  readonly burst: number | undefined
  /** The burst when none is configured is at least this (the largest batch). */
  readonly minBurst: number
}

/** The limit a key runs under, or undefined when it has none. */
export const effectiveRateLimit = (own: KeyRateLimit, defaults: RateLimitDefaults): RateLimit | undefined => {
  const rate = own.rate ?? defaults.rate
  if (!(rate > 0)) return undefined
  const burst = own.burst ?? defaults.burst ?? Math.max(Math.ceil(rate), defaults.minBurst)
  return { rate, burst }
}

/**
 * Takes `cost` events from a key's bucket, atomically, on a clock that every ingest instance
 * shares (Redis's in distributed mode). A refused take changes nothing.
 */
export class RateLimiter extends Context.Tag("core/RateLimiter")<
  RateLimiter,
  {
    readonly take: (
      keyId: string,
      cost: number,
      limit: RateLimit
    ) => Effect.Effect<RateDecision, BackendUnavailable>
    readonly ping: Effect.Effect<void, BackendUnavailable>
  }
>() {}
