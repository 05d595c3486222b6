/** EventLog on Apache Kafka through kafkajs: idempotent producer, acks=all, natural batching. */
import { BackendUnavailable, EventLog, type LogRecord, makeBatcher, type TopicSpec } from "@eventflow/core"
import { Config, Duration, Effect, Layer } from "effect"
import {
  type Admin,
  type ICustomPartitioner,
  Kafka,
  logLevel,
  type Producer,
  type TopicMessages
} from "kafkajs"
import { partitionForKey } from "./Murmur2.ts"

export interface KafkaOptions {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
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

/**
 * Kafka's default partitioner (the same murmur2 as kafkajs's, as the Java client's), with 32-bit
 * arithmetic; records without a key go round robin.
 */
const fastPartitioner: ICustomPartitioner = () => {
  let next = 0
  return ({ partitionMetadata, message }) => {
    const count = partitionMetadata.length
    const key = message.key
    if (key === null || key === undefined) return next++ % count
    return partitionForKey(typeof key === "string" ? key : key.toString("utf8"), count)
  }
}

const unavailable = (message: string) => (cause: unknown) =>
  new BackendUnavailable({ backend: "eventlog", message: `${message}: ${describe(cause)}`, cause })

const describe = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

/**
 * Splits records, in order, into chunks of at most `maxBytes` and `maxRecords` (a larger record
 * travels alone).
 */
export const chunkRecords = (
  records: ReadonlyArray<LogRecord>,
  maxBytes: number,
  maxRecords = Number.POSITIVE_INFINITY
): LogRecord[][] => {
  const chunks: LogRecord[][] = []
  let current: LogRecord[] = []
  let bytes = 0
  for (const record of records) {
    const size = record.value.length + (record.key?.length ?? 0) + 64
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxRecords)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(record)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

const toTopicMessages = (records: ReadonlyArray<LogRecord>): TopicMessages[] => {
  const byTopic = new Map<string, TopicMessages>()
  for (const record of records) {
    let entry = byTopic.get(record.topic)
    if (entry === undefined) {
      entry = { topic: record.topic, messages: [] }
      byTopic.set(record.topic, entry)
    }
    entry.messages.push({ key: record.key, value: record.value, headers: record.headers })
  }
  return [...byTopic.values()]
}

export const makeKafkaEventLog = (options: KafkaOptions) =>
  Effect.gen(function* () {
    const kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      logLevel: logLevel.ERROR,
      retry: { retries: options.retries }
    })
    const admin: Admin = kafka.admin()
    const producer: Producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: fastPartitioner,
      retry: { retries: options.retries }
    })
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => Promise.all([admin.connect(), producer.connect()]),
        catch: unavailable(`cannot connect to Kafka at ${options.brokers.join(",")}`)
      }),
      () => Effect.promise(() => Promise.allSettled([producer.disconnect(), admin.disconnect()]))
    ).pipe(Effect.retry({ times: 2 }), Effect.withSpan("KafkaEventLog.connect", { captureStackTrace: false }))
    const timeoutMillis = Duration.toMillis(options.produceTimeout)

    const produce = (records: ReadonlyArray<LogRecord>) =>
      Effect.tryPromise({
        try: async () => {
          for (const chunk of chunkRecords(records, options.maxRequestBytes, options.maxRequestRecords)) {
            await producer.sendBatch({
              acks: -1,
              timeout: timeoutMillis,
              topicMessages: toTopicMessages(chunk)
            })
          }
        },
        catch: unavailable("Kafka did not acknowledge the records")
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

export const KafkaConfig: Config.Config<KafkaOptions> = Config.all({
  brokers: Config.array(Config.string(), "KAFKA_BROKERS"),
  clientId: Config.string("KAFKA_CLIENT_ID").pipe(Config.withDefault("eventflow")),
  produceTimeout: Config.duration("EVENTFLOW_PRODUCE_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  retries: Config.integer("KAFKA_RETRIES").pipe(Config.withDefault(5)),
  maxBatchRecords: Config.integer("EVENTFLOW_MAX_BATCH_RECORDS").pipe(Config.withDefault(10_000)),
  maxRequestBytes: Config.integer("KAFKA_MAX_REQUEST_BYTES").pipe(Config.withDefault(900_000)),
  maxRequestRecords: Config.integer("KAFKA_MAX_REQUEST_RECORDS").pipe(Config.withDefault(1000))
})

export const layerKafkaConfig = Layer.unwrapEffect(Effect.map(KafkaConfig, layerKafka))
