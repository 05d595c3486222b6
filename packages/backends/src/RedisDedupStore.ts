/**
 * DedupStore on Redis. Each step of the protocol is one Lua script over all the keys of a batch,
 * so a batch of any size costs one round trip and one command on the client:
 *   claim:   SET key "p:<token>" NX PX <pending>, and for a key that exists, whether it is done or pending;
 *   commit:  SET key "d" PX <done>;
 *   release: DEL key, only where it still holds our own "p:<token>".
 * The keys of one batch must live on one Redis node: a standalone server or a replication group
 * (ElastiCache without cluster mode), not Redis Cluster.
 */
import { randomUUID } from "node:crypto"
import {
  BackendUnavailable,
  type ClaimOutcome,
  DedupStore,
  type DedupWindows,
  type EventIdentity,
  identityKey
} from "@eventflow/core"
import { Config, Duration, Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"

const CLAIM = `
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = 0
  elseif redis.call('GET', key) == 'd' then
    out[i] = 1
  else
    out[i] = 2
  end
end
return out`

const COMMIT = `
for _, key in ipairs(KEYS) do
  redis.call('SET', key, 'd', 'PX', ARGV[1])
end
return #KEYS`

const RELEASE = `
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    n = n + redis.call('DEL', key)
  end
end
return n`

interface DedupCommands {
  eventflowClaim(numKeys: number, ...args: Array<string | number>): Promise<number[]>
  eventflowCommit(numKeys: number, ...args: Array<string | number>): Promise<number>
  eventflowRelease(numKeys: number, ...args: Array<string | number>): Promise<number>
}

export interface RedisDedupOptions extends DedupWindows {
  readonly url: Redacted.Redacted<string>
  readonly keyPrefix: string
  readonly commandTimeout: Duration.Duration
}

const OUTCOMES: ReadonlyArray<ClaimOutcome> = ["claimed", "duplicate", "pending"]

const unavailable = (cause: unknown) =>
  new BackendUnavailable({
    backend: "dedup",
    message: `Redis is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

export const makeRedisClient = (url: Redacted.Redacted<string>, commandTimeout: Duration.Duration) =>
  Effect.acquireRelease(
    Effect.sync(
      () =>
        new Redis(Redacted.value(url), {
          // Fail closed at once while Redis is away, rather than queueing requests behind a reconnect.
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: Duration.toMillis(commandTimeout),
          retryStrategy: (times) => Math.min(times * 100, 2_000)
        })
    ),
    (redis) => Effect.promise(() => redis.quit().catch(() => redis.disconnect()))
  ).pipe(
    Effect.tap((redis) =>
      Effect.async<void>((resume) => {
        if (redis.status === "ready") return resume(Effect.void)
        const ready = () => resume(Effect.void)
        redis.once("ready", ready)
        redis.on("error", () => {})
        return Effect.sync(() => redis.off("ready", ready))
      }).pipe(
        Effect.timeout(Duration.seconds(5)),
        Effect.catchAll(() => Effect.logWarning("Redis is not reachable yet; dedup answers 503 until it is"))
      )
    )
  )

export const makeRedisDedupStore = (options: RedisDedupOptions) =>
  Effect.gen(function* () {
    const redis = (yield* makeRedisClient(options.url, options.commandTimeout)) as Redis & DedupCommands
    redis.defineCommand("eventflowClaim", { lua: CLAIM })
    redis.defineCommand("eventflowCommit", { lua: COMMIT })
    redis.defineCommand("eventflowRelease", { lua: RELEASE })
    const keysOf = (identities: ReadonlyArray<EventIdentity>) =>
      identities.map((identity) => identityKey(options.keyPrefix, identity))
    const call = <A>(name: string, count: number, run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: unavailable }).pipe(
        Effect.withSpan(`RedisDedupStore.${name}`, { captureStackTrace: false, attributes: { keys: count } })
      )
    return DedupStore.of({
      claim: (identities) => {
        const token = `p:${randomUUID()}`
        const keys = keysOf(identities)
        return call("claim", keys.length, () =>
          redis.eventflowClaim(keys.length, ...keys, token, options.pendingMillis)
        ).pipe(Effect.map((codes) => ({ token, outcomes: codes.map((code) => OUTCOMES[code]!) })))
      },
      commit: (_token, identities) => {
        const keys = keysOf(identities)
        return call("commit", keys.length, () =>
          redis.eventflowCommit(keys.length, ...keys, options.doneMillis)
        ).pipe(Effect.asVoid)
      },
      release: (token, identities) => {
        const keys = keysOf(identities)
        return call("release", keys.length, () => redis.eventflowRelease(keys.length, ...keys, token)).pipe(
          Effect.asVoid
        )
      },
      ping: call("ping", 0, () => redis.ping()).pipe(Effect.asVoid)
    })
  })

export const layerRedisDedup = (options: RedisDedupOptions) =>
  Layer.scoped(DedupStore, makeRedisDedupStore(options))

export const DedupWindowsConfig: Config.Config<DedupWindows> = Config.all({
  pendingMillis: Config.duration("EVENTFLOW_DEDUP_PENDING_TTL").pipe(
    Config.withDefault(Duration.seconds(30)),
    Config.map(Duration.toMillis)
  ),
  doneMillis: Config.duration("EVENTFLOW_DEDUP_WINDOW").pipe(
    Config.withDefault(Duration.hours(24)),
    Config.map(Duration.toMillis)
  )
})

export const RedisDedupConfig: Config.Config<RedisDedupOptions> = Config.all({
  url: Config.redacted("REDIS_URL"),
  keyPrefix: Config.string("EVENTFLOW_DEDUP_PREFIX").pipe(Config.withDefault("eventflow:dedup:")),
  commandTimeout: Config.duration("REDIS_COMMAND_TIMEOUT").pipe(Config.withDefault(Duration.seconds(2))),
  windows: DedupWindowsConfig
}).pipe(Config.map(({ windows, ...rest }) => ({ ...rest, ...windows })))

export const layerRedisDedupConfig = Layer.unwrapEffect(Effect.map(RedisDedupConfig, layerRedisDedup))
