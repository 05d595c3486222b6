/**
 * One code path, two sets of layers. Distributed mode when KAFKA_BROKERS is set (then REDIS_URL and
 * DATABASE_URL are required); otherwise everything runs embedded on PGlite under EVENTFLOW_DATA_DIR.
 */
import type { SqlClient } from "@effect/sql"
import type { DedupStore, EventLog, RateLimiter, WriteKeys } from "@eventflow/core"
import { Config, Data, Effect, Layer, Option, type Redacted } from "effect"
import { layerEmbeddedSql } from "./Embedded.ts"
import { KafkaConfig, type KafkaOptions, layerKafka } from "./KafkaEventLog.ts"
import { layerMemoryRateLimiter } from "./MemoryRateLimiter.ts"
import { layerPgClient } from "./PgConnection.ts"
import { DedupWindowsConfig, layerRedisDedup, RedisDedupConfig } from "./RedisDedupStore.ts"
import { layerRedisRateLimiter, RedisRateLimiterConfig } from "./RedisRateLimiter.ts"
import { layerSqlDedup } from "./SqlDedupStore.ts"
import { layerSqlEventLog } from "./SqlEventLog.ts"
import { layerSqlWriteKeys, WriteKeyCacheConfig } from "./SqlWriteKeys.ts"

export type Mode =
  | { readonly _tag: "embedded"; readonly dataDir: string }
  | {
      readonly _tag: "distributed"
      readonly kafka: KafkaOptions
      readonly databaseUrl: Redacted.Redacted<string>
    }

export class ModeError extends Data.TaggedError("ModeError")<{ readonly message: string }> {}

export const DataDirConfig = Config.string("EVENTFLOW_DATA_DIR").pipe(Config.withDefault(".eventflow"))

/** Reads the mode from the environment; a distributed setup missing a variable is a ModeError. */
export const readMode = Effect.gen(function* () {
  const brokers = yield* Config.option(Config.string("KAFKA_BROKERS"))
  if (Option.isNone(brokers) || brokers.value.trim() === "") {
    return { _tag: "embedded", dataDir: yield* DataDirConfig } as Mode
  }
  const databaseUrl = yield* Config.option(Config.redacted("DATABASE_URL"))
  if (Option.isNone(databaseUrl)) {
    return yield* new ModeError({
      message: "KAFKA_BROKERS is set, so DATABASE_URL is required (distributed mode)"
    })
  }
  const kafka = yield* KafkaConfig
  if (kafka.connection.insecure === true) {
    yield* Effect.logWarning(
      "KAFKA_SSL_INSECURE=true: the Kafka brokers' certificates are not verified (encrypted, but open to impersonation)"
    )
  }
  return { _tag: "distributed", kafka, databaseUrl: databaseUrl.value } as Mode
}).pipe(
  Effect.catchTag("ConfigError", (e) =>
    // One invalid setting is its own sentence; several, or a missing one, say where.
    Effect.fail(new ModeError({ message: e._op === "InvalidData" ? e.message : String(e) }))
  )
)

export interface BackendChoices {
  /** Build a DedupStore (false when EVENTFLOW_DEDUP=off). */
  readonly dedup: boolean
  /** Embedded: `own` the data directory (servers), or `attach` to the process that holds it (CLI). */
  readonly embedded: "own" | "attach"
  /** Build the EventLog (the keys commands need only the database). */
  readonly eventLog: boolean
  /**
   * Build a RateLimiter (servers): in memory when embedded; on Redis when distributed, if REDIS_URL
   * is set (else none: a key with a limit is then answered 503).
   */
  readonly rateLimiter?: boolean
}

export type Backends = EventLog | DedupStore | WriteKeys | RateLimiter | SqlClient.SqlClient

const maxBatchRecords = Config.integer("EVENTFLOW_MAX_BATCH_RECORDS").pipe(Config.withDefault(10_000))

/** The backends of a mode. Services not chosen are simply absent from the context. */
export const layerBackends = (mode: Mode, choices: BackendChoices): Layer.Layer<Backends, unknown> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const keysLayer = Layer.unwrapEffect(Effect.map(WriteKeyCacheConfig, layerSqlWriteKeys))
      if (mode._tag === "embedded") {
        const sql = layerEmbeddedSql(mode.dataDir, choices.embedded)
        const windows = yield* DedupWindowsConfig
        const stores = Layer.mergeAll(
          keysLayer,
          choices.eventLog ? layerSqlEventLog({ maxBatchRecords: yield* maxBatchRecords }) : Layer.empty,
          choices.dedup ? layerSqlDedup(windows) : Layer.empty,
          choices.rateLimiter ? layerMemoryRateLimiter() : Layer.empty
        )
        return Layer.provideMerge(stores, sql) as Layer.Layer<Backends, unknown>
      }
      const sql = layerPgClient({ url: mode.databaseUrl, maxConnections: 10, applicationName: "eventflow" })
      const stores = Layer.mergeAll(
        Layer.provideMerge(keysLayer, sql),
        choices.eventLog ? layerKafka(mode.kafka) : Layer.empty,
        choices.dedup ? layerRedisDedup(yield* RedisDedupConfig) : Layer.empty,
        choices.rateLimiter && Option.isSome(yield* Config.option(Config.string("REDIS_URL")))
          ? layerRedisRateLimiter(yield* RedisRateLimiterConfig)
          : Layer.empty
      )
      return stores as Layer.Layer<Backends, unknown>
    })
  )
