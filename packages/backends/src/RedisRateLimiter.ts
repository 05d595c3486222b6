/**
 * RateLimiter on Redis: GCRA in one Lua script, on the Redis server's clock (`TIME`), so every
 * ingest instance takes from the same bucket with the same clock. One key per write key,
 * `<prefix>rl:<keyId>`, holding the theoretical arrival time (ms); it expires when the bucket is
 * full again, so idle keys vanish. The arithmetic is the one of `gcra` in @eventflow/core.
 */
import { BackendUnavailable, GCRA_EPSILON_MS, type RateDecision, RateLimiter } from "@eventflow/core"
import { Config, Duration, Effect, Layer, type Redacted } from "effect"
import type { Redis } from "ioredis"
import { makeRedisClient } from "./RedisDedupStore.ts"

// KEYS[1]: the bucket. ARGV: emission interval (ms), burst (events), cost (events), epsilon (ms).
// Numbers go back as strings (Redis would truncate a Lua number to an integer).
const TAKE = `
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local epsilon = tonumber(ARGV[4])
local tolerance = burst * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
if tat == nil or tat < now then tat = now end
local function remaining(t)
  local r = math.floor(burst - (t - now) / interval + 1e-9)
  if r < 0 then return 0 end
  if r > burst then return burst end
  return r
end
local function num(x) return string.format('%.17g', x) end
local new = tat + cost * interval
if new - now <= tolerance + epsilon then
  redis.call('SET', KEYS[1], num(new), 'PX', math.max(1, math.ceil(new - now)))
  return {1, '0', remaining(new), num(new - now)}
end
return {0, num(new - tolerance - now), remaining(tat), num(tat - now)}`

interface RateLimitCommands {
  eventflowRateTake(
    numKeys: number,
    ...args: Array<string | number>
  ): Promise<[number, string, number, string]>
}

export interface RedisRateLimiterOptions {
  readonly url: Redacted.Redacted<string>
  /** The bucket of a key is `<keyPrefix>rl:<keyId>`. */
  readonly keyPrefix: string
  readonly commandTimeout: Duration.Duration
}

const unavailable = (cause: unknown) =>
  new BackendUnavailable({
    backend: "ratelimit",
    message: `Redis is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

export const makeRedisRateLimiter = (options: RedisRateLimiterOptions) =>
  Effect.gen(function* () {
    const redis = (yield* makeRedisClient(options.url, options.commandTimeout)) as Redis & RateLimitCommands
    redis.defineCommand("eventflowRateTake", { lua: TAKE })
    const call = <A>(name: string, run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: unavailable }).pipe(
        Effect.withSpan(`RedisRateLimiter.${name}`, { captureStackTrace: false })
      )
    return RateLimiter.of({
      take: (keyId, cost, limit) =>
        call("take", () =>
          redis.eventflowRateTake(
            1,
            `${options.keyPrefix}rl:${keyId}`,
            String(1000 / limit.rate),
            String(limit.burst),
            String(cost),
            String(GCRA_EPSILON_MS)
          )
        ).pipe(
          Effect.map(([allowed, retryAfterMs, remaining, resetMs]): RateDecision => {
            const reset = Number(resetMs)
            // The TAT on Redis's clock, as seen from ours: only its distance from now is meaningful.
            return {
              allowed: allowed === 1,
              tat: Date.now() + reset,
              retryAfterMs: Number(retryAfterMs),
              remaining,
              resetMs: reset
            }
          })
        ),
      ping: call("ping", () => redis.ping()).pipe(Effect.asVoid)
    })
  })

export const layerRedisRateLimiter = (options: RedisRateLimiterOptions) =>
  Layer.scoped(RateLimiter, makeRedisRateLimiter(options))

export const RedisRateLimiterConfig: Config.Config<RedisRateLimiterOptions> = Config.all({
  url: Config.redacted("REDIS_URL"),
  keyPrefix: Config.string("EVENTFLOW_RATE_LIMIT_PREFIX").pipe(Config.withDefault("eventflow:")),
  commandTimeout: Config.duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2)))
})
