/**
 * The produce path shared by the Kafka producer thread and its client: how records are packed to
 * cross to the thread, split into produce requests, and partitioned.
 */
import type { LogRecord } from "@eventflow/core"
import type { ICustomPartitioner, TopicMessages } from "kafkajs"
import { partitionForKey } from "./Murmur2.ts"

/**
 * How clients reach the brokers: TLS, and SASL (PLAIN or SCRAM, as Amazon MSK offers). Plain data,
 * so that it crosses to the producer thread.
 */
export interface KafkaConnection {
  readonly ssl: boolean
  /** PEM of the CA to trust instead of Node's bundled CAs (KAFKA_SSL_CA_FILE): the text, not a path. */
  readonly ca?: string
  /** Skip verifying the brokers' certificates (KAFKA_SSL_INSECURE). */
  readonly insecure?: boolean
  readonly sasl?: {
    readonly mechanism: "plain" | "scram-sha-256" | "scram-sha-512"
    readonly username: string
    readonly password: string
  }
}

/** The part of a kafkajs client configuration that `connection` decides. */
export const connectionConfig = (connection: KafkaConnection | undefined) =>
  connection === undefined
    ? {}
    : {
        ssl:
          connection.ssl && (connection.ca !== undefined || connection.insecure === true)
            ? {
                ...(connection.ca !== undefined ? { ca: [connection.ca] } : {}),
                ...(connection.insecure === true ? { rejectUnauthorized: false } : {})
              }
            : connection.ssl,
        ...(connection.sasl !== undefined ? { sasl: { ...connection.sasl } } : {})
      }

export interface ProducerSettings {
  readonly clientId: string
  readonly brokers: ReadonlyArray<string>
  readonly connection: KafkaConnection
  readonly retries: number
  readonly timeoutMillis: number
  readonly maxRequestBytes: number
  readonly maxRequestRecords: number
}

/** Records packed for postMessage: the values in one transferable buffer, the rest cloned. */
export interface PackedRecords {
  readonly topics: ReadonlyArray<string>
  readonly keys: ReadonlyArray<string | null>
  readonly headers: ReadonlyArray<Readonly<Record<string, string>>>
  readonly values: ArrayBuffer
  /** Where value i ends in `values` (it starts where value i - 1 ends). */
  readonly ends: Uint32Array
}

export type ToProducer =
  | { readonly type: "send"; readonly id: number; readonly records: PackedRecords }
  | { readonly type: "close" }

export type FromProducer =
  | { readonly type: "ready" }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "sent"; readonly id: number }
  | { readonly type: "error"; readonly id: number; readonly message: string }
  | { readonly type: "closed" }

export const packRecords = (records: ReadonlyArray<LogRecord>): PackedRecords => {
  let total = 0
  for (const record of records) total += record.value.length
  const values = new ArrayBuffer(total)
  const bytes = new Uint8Array(values)
  const ends = new Uint32Array(records.length)
  const topics = new Array<string>(records.length)
  const keys = new Array<string | null>(records.length)
  const headers = new Array<Readonly<Record<string, string>>>(records.length)
  let offset = 0
  records.forEach((record, i) => {
    bytes.set(record.value, offset)
    offset += record.value.length
    ends[i] = offset
    topics[i] = record.topic
    keys[i] = record.key
    headers[i] = record.headers
  })
  return { topics, keys, headers, values, ends }
}

export const unpackRecords = (packed: PackedRecords): LogRecord[] => {
  const records = new Array<LogRecord>(packed.ends.length)
  let start = 0
  for (let i = 0; i < packed.ends.length; i++) {
    const end = packed.ends[i]!
    records[i] = {
      topic: packed.topics[i]!,
      key: packed.keys[i]!,
      headers: packed.headers[i]!,
      value: Buffer.from(packed.values, start, end - start)
    }
    start = end
  }
  return records
}

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

export const toTopicMessages = (records: ReadonlyArray<LogRecord>): TopicMessages[] => {
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

/**
 * Kafka's default partitioner (the same murmur2 as kafkajs's, as the Java client's), with 32-bit
 * arithmetic; records without a key go round robin.
 */
export const fastPartitioner: ICustomPartitioner = () => {
  let next = 0
  return ({ partitionMetadata, message }) => {
    const count = partitionMetadata.length
    const key = message.key
    if (key === null || key === undefined) return next++ % count
    return partitionForKey(typeof key === "string" ? key : key.toString("utf8"), count)
  }
}
