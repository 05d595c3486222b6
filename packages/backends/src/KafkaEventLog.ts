/**
 * EventLog on Apache Kafka through kafkajs: natural batching here, and one idempotent producer
 * (acks=all) on a thread of its own (KafkaProducerThread.ts); admin requests stay on this thread.
 */

import { Worker } from "node:worker_threads"
import { BackendUnavailable, EventLog, type LogRecord, makeBatcher, type TopicSpec } from "@eventflow/core"
import { Config, ConfigError, Duration, Effect, Either, Layer, Option, Redacted } from "effect"
import { type Admin, Kafka, logLevel } from "kafkajs"
import {
  connectionConfig,
  type FromProducer,
  type KafkaConnection,
  type ProducerSettings,
  packRecords,
  type ToProducer
} from "./KafkaProduce.ts"
import { pemFileConfig } from "./Tls.ts"

export interface KafkaOptions {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  /** TLS and SASL (KAFKA_SSL, KAFKA_SASL_*): what every client of this process uses. */
  readonly connection: KafkaConnection
  /** An append that has not been acknowledged by then fails (and the request answers 503). */
  readonly produceTimeout: Duration.Duration
  /** Produce retries by kafkajs before an append fails. */
  readonly retries: number
  /** The most records one flush of the batcher carries. */
  readonly maxBatchRecords: number
  /**
   * The most bytes of record values one produce request carries. Kafka refuses a record batch over
   * the broker's `message.max.bytes` (1 MiB by default), and kafkajs does not split batches by size.
   */
  readonly maxRequestBytes: number
  /**
   * The most records one produce request carries. kafkajs groups a request's records by partition
   * in time that grows with the square of their number, and encodes a request in one go on the
   * event loop: smaller requests keep both short.
   */
  readonly maxRequestRecords: number
}

const unavailable = (message: string) => (cause: unknown) =>
  new BackendUnavailable({ backend: "eventlog", message: `${message}: ${describe(cause)}`, cause })

const describe = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/** The producer thread, the appends waiting for its answer, and why it stopped if it did. */
interface ProducerThread {
  readonly worker: Worker
  readonly waiting: Map<number, (error?: string) => void>
  stopped: string | undefined
}

const startProducerThread = (settings: ProducerSettings) =>
  Effect.acquireRelease(
    Effect.async<ProducerThread, BackendUnavailable>((resume) => {
      const worker = new Worker(new URL("./kafkaProducerThread.mjs", import.meta.url), {
        workerData: settings
      })
      const thread: ProducerThread = { worker, waiting: new Map(), stopped: undefined }
      let started = false
      const stop = (why: string) => {
        thread.stopped ??= why
        for (const done of thread.waiting.values()) done(why)
        thread.waiting.clear()
      }
      worker.on("message", (message: FromProducer) => {
        if (message.type === "ready") {
          started = true
          resume(Effect.succeed(thread))
        } else if (message.type === "failed") {
          void worker.terminate()
          resume(
            Effect.fail(
              unavailable(`cannot connect to Kafka at ${settings.brokers.join(",")}`)(message.message)
            )
          )
        } else if (message.type === "sent" || message.type === "error") {
          const done = thread.waiting.get(message.id)
          thread.waiting.delete(message.id)
          done?.(message.type === "error" ? message.message : undefined)
        }
      })
      worker.on("error", (error) => {
        stop(`the producer thread failed: ${error.message}`)
        if (!started) resume(Effect.fail(unavailable("cannot start the producer thread")(error)))
      })
      worker.on("exit", () => stop("the producer thread has stopped"))
    }),
    ({ worker, stopped }) =>
      Effect.async<void>((resume) => {
        if (stopped !== undefined) return resume(Effect.void)
        const timer = setTimeout(() => void worker.terminate().then(() => resume(Effect.void)), 5_000)
        worker.on("message", (message: FromProducer) => {
          if (message.type !== "closed") return
          clearTimeout(timer)
          void worker.terminate().then(() => resume(Effect.void))
        })
        worker.postMessage({ type: "close" } satisfies ToProducer)
      })
  )

export const makeKafkaEventLog = (options: KafkaOptions) =>
  Effect.gen(function* () {
    const kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      ...connectionConfig(options.connection),
      logLevel: logLevel.ERROR,
      retry: { retries: options.retries }
    })
    const admin: Admin = kafka.admin()
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => admin.connect(),
        catch: unavailable(`cannot connect to Kafka at ${options.brokers.join(",")}`)
      }),
      () => Effect.promise(() => admin.disconnect())
    ).pipe(Effect.retry({ times: 2 }), Effect.withSpan("KafkaEventLog.connect", { captureStackTrace: false }))
    const thread = yield* startProducerThread({
      clientId: options.clientId,
      brokers: options.brokers,
      connection: options.connection,
      retries: options.retries,
      timeoutMillis: Duration.toMillis(options.produceTimeout),
      maxRequestBytes: options.maxRequestBytes,
      maxRequestRecords: options.maxRequestRecords
    })
    let nextId = 0

    const produce = (records: ReadonlyArray<LogRecord>) =>
      Effect.async<void, BackendUnavailable>((resume) => {
        if (thread.stopped !== undefined) {
          return resume(Effect.fail(unavailable("Kafka did not acknowledge the records")(thread.stopped)))
        }
        const id = nextId++
        thread.waiting.set(id, (error) =>
          resume(
            error === undefined
              ? Effect.void
              : Effect.fail(unavailable("Kafka did not acknowledge the records")(error))
          )
        )
        const packed = packRecords(records)
        thread.worker.postMessage({ type: "send", id, records: packed } satisfies ToProducer, [
          packed.values,
          packed.ends.buffer as ArrayBuffer
        ])
      }).pipe(
        Effect.timeoutFail({
          duration: options.produceTimeout,
          onTimeout: () =>
            new BackendUnavailable({
              backend: "eventlog",
              message: `Kafka did not acknowledge the records within ${Duration.format(options.produceTimeout)}`
            })
        }),
        Effect.asVoid,
        Effect.withSpan("KafkaEventLog.produce", {
          captureStackTrace: false,
          attributes: { records: records.length }
        })
      )

    const batcher = yield* makeBatcher(produce, { maxItems: options.maxBatchRecords })

    const ensureTopics = (topics: ReadonlyArray<TopicSpec>) =>
      Effect.tryPromise({
        try: async () => {
          const existing = new Set(await admin.listTopics())
          const missing = topics.filter((t) => !existing.has(t.name))
          if (missing.length === 0) return
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((t) => ({
              topic: t.name,
              numPartitions: t.partitions,
              replicationFactor: t.replicationFactor
            }))
          })
        },
        catch: unavailable("cannot create the topics")
      }).pipe(Effect.withSpan("KafkaEventLog.ensureTopics", { captureStackTrace: false }))

    return EventLog.of({
      ensureTopics,
      append: (records) => batcher.submit(records),
      ping: Effect.tryPromise({
        try: () => admin.describeCluster(),
        catch: unavailable("Kafka does not answer")
      }).pipe(Effect.asVoid)
    })
  })

export const layerKafka = (options: KafkaOptions) => Layer.scoped(EventLog, makeKafkaEventLog(options))

const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512"] as const

/**
 * KAFKA_SSL (`true`/`false`; default false, true when SASL or a CA file is set), KAFKA_SSL_CA_FILE,
 * KAFKA_SSL_INSECURE, and KAFKA_SASL_MECHANISM, _USERNAME, _PASSWORD. The CA file is read here, at
 * start: its text travels with the settings (to the producer thread too).
 */
export const KafkaConnectionConfig: Config.Config<KafkaConnection> = Config.all({
  ssl: Config.option(Config.boolean("KAFKA_SSL")),
  ca: pemFileConfig("KAFKA_SSL_CA_FILE"),
  insecure: Config.boolean("KAFKA_SSL_INSECURE").pipe(Config.withDefault(false)),
  mechanism: Config.option(Config.literal(...SASL_MECHANISMS)("KAFKA_SASL_MECHANISM")),
  username: Config.option(Config.string("KAFKA_SASL_USERNAME")),
  password: Config.option(Config.redacted("KAFKA_SASL_PASSWORD"))
}).pipe(
  Config.mapOrFail(({ ssl, ca, insecure, mechanism, username, password }) => {
    const tlsSettings = [
      ...(Option.isSome(ca) ? ["KAFKA_SSL_CA_FILE"] : []),
      ...(insecure ? ["KAFKA_SSL_INSECURE"] : [])
    ]
    if (tlsSettings.length > 0 && Option.getOrElse(ssl, () => true) === false) {
      return Either.left(
        ConfigError.InvalidData(
          [],
          `${tlsSettings.join(" and ")} ${tlsSettings.length === 1 ? "is" : "are"} set, but KAFKA_SSL is false`
        )
      )
    }
    const tls = {
      ...(Option.isSome(ca) ? { ca: ca.value } : {}),
      ...(insecure ? { insecure: true } : {})
    }
    if (Option.isNone(mechanism)) {
      return Either.right({ ssl: Option.getOrElse(ssl, () => tlsSettings.length > 0), ...tls })
    }
    if (Option.isNone(username) || Option.isNone(password)) {
      return Either.left(
        ConfigError.InvalidData(
          [],
          "KAFKA_SASL_MECHANISM is set, so KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required"
        )
      )
    }
    return Either.right({
      // SASL over plaintext would send the password in the clear: TLS unless turned off explicitly.
      ssl: Option.getOrElse(ssl, () => true),
      ...tls,
      sasl: { mechanism: mechanism.value, username: username.value, password: Redacted.value(password.value) }
    })
  })
)

export const KafkaConfig: Config.Config<KafkaOptions> = Config.all({
  brokers: Config.array(Config.string(), "KAFKA_BROKERS"),
  clientId: Config.string("KAFKA_CLIENT_ID").pipe(Config.withDefault("eventflow")),
  connection: KafkaConnectionConfig,
  produceTimeout: Config.duration("EVENTFLOW_PRODUCE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  retries: Config.integer("KAFKA_RETRIES").pipe(Config.withDefault(5)),
  maxBatchRecords: Config.integer("EVENTFLOW_MAX_BATCH_RECORDS").pipe(Config.withDefault(10_000)),
  maxRequestBytes: Config.integer("KAFKA_MAX_REQUEST_BYTES").pipe(Config.withDefault(900_000)),
  maxRequestRecords: Config.integer("KAFKA_MAX_REQUEST_RECORDS").pipe(Config.withDefault(1000))
})

export const layerKafkaConfig = Layer.unwrapEffect(Effect.map(KafkaConfig, layerKafka))
