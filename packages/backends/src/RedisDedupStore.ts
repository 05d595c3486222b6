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
import { isCertificateError, redisTls } from "./Tls.ts"

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

/** The last error of each client's connection, to say why Redis is unavailable. */
const connectionErrors = new WeakMap<Redis, Error>()

/** Why commands on `redis` fail now: its last connection error while it is not connected. */
export const redisConnectionError = (redis: Redis): Error | undefined =>
  redis.status === "ready" ? undefined : connectionErrors.get(redis)

const unavailable = (redis: Redis) => (cause: unknown) => {
  // While disconnected every command fails alike ("Stream isn't writeable"): the connection says why.
  const reason = redisConnectionError(redis) ?? cause
  return new BackendUnavailable({
    backend: "dedup",
    message: `Redis is unavailable: ${reason instanceof Error ? reason.message : String(reason)}`,
    cause
  })
}

/** Waits for the first connection; a certificate the client refuses ends the wait (waiting cannot fix it). */
const firstConnection = (redis: Redis) =>
  Effect.async<Error | undefined>((resume) => {
    if (redis.status === "ready") return resume(Effect.succeed(undefined))
    const done = (error: Error | undefined) => {
      redis.off("ready", ready)
      redis.off("error", failed)
      resume(Effect.succeed(error))
    }
    const ready = () => done(undefined)
    const failed = (error: Error) => {
      if (isCertificateError(error)) done(error)
    }
    redis.once("ready", ready)
    redis.on("error", failed)
    return Effect.sync(() => {
      redis.off("ready", ready)
      redis.off("error", failed)
    })
  })

/**
 * An ioredis client for `url`, with the TLS settings of the environment (Tls.ts): every Redis
 * client of EventFlow (dedup, ingest numbers, query cache, rate limits) comes from here.
 */
export const makeRedisClient = (url: Redacted.Redacted<string>, commandTimeout: Duration.Duration) =>
  Effect.gen(function* () {
    const tls = yield* redisTls(Redacted.value(url))
    const redis = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = new Redis(Redacted.value(url), {
          // Fail closed at once while Redis is away, rather than queueing requests behind a reconnect.
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: Duration.toMillis(commandTimeout),
          retryStrategy: (times) => Math.min(times * 100, 2_000),
          ...(tls === undefined ? {} : { tls })
        })
        client.on("error", (error: Error) => connectionErrors.set(client, error))
        client.on("ready", () => connectionErrors.delete(client))
        return client
      }),
      (redis) => Effect.promise(() => redis.quit().catch(() => redis.disconnect()))
    )
    const refused = yield* firstConnection(redis).pipe(
      Effect.timeout(Duration.seconds(5)),
      Effect.catchAll(() => Effect.succeed(undefined))
    )
    if (refused !== undefined) {
      yield* Effect.logWarning(
        `Redis over TLS: the server's certificate is not accepted (${refused.message}); set EVENTFLOW_REDIS_TLS_CA_FILE to the CA that signed it, or EVENTFLOW_REDIS_TLS_SERVERNAME to the name it carries; what needs Redis (dedup, rate limits) answers 503 until then`
      )
    } else if (redis.status !== "ready") {
      const last = connectionErrors.get(redis)
      yield* Effect.logWarning(
        `Redis is not reachable yet${last === undefined ? "" : ` (${last.message})`}; what needs Redis (dedup, rate limits) answers 503 until it is`
      )
    }
    return redis
  })

export const makeRedisDedupStore = (options: RedisDedupOptions) =>
  Effect.gen(function* () {
    const redis = (yield* makeRedisClient(options.url, options.commandTimeout)) as Redis & DedupCommands
    redis.defineCommand("eventflowClaim", { lua: CLAIM })
    redis.defineCommand("eventflowCommit", { lua: COMMIT })
    redis.defineCommand("eventflowRelease", { lua: RELEASE })
    const keysOf = (identities: ReadonlyArray<EventIdentity>) =>
      identities.map((identity) => identityKey(options.keyPrefix, identity))
    const call = <A>(name: string, count: number, run: () => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: unavailable(redis) }).pipe(
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
