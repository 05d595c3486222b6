/**
 * EventLog on SQL tables (the embedded mode's PGlite): topics split into partitions as in Kafka,
 * each partition an append-only sequence of records numbered by offset. Keys land on the partition
 * Kafka's default partitioner would choose. Concurrent appends are batched into one transaction.
 */

import { SqlClient } from "@effect/sql"
import { BackendUnavailable, EventLog, type LogRecord, makeBatcher, type TopicSpec } from "@eventflow/core"
import { Context, Effect, Layer } from "effect"
import { partitionForKey } from "./Murmur2.ts"

export interface StoredRecord extends LogRecord {
  readonly partition: number
  readonly offset: bigint
  readonly timestamp: Date
}

/** Reading the embedded log (inspection and tests; the stream engine's consumer builds on it). */
export class EmbeddedLogReader extends Context.Tag("backends/EmbeddedLogReader")<
  EmbeddedLogReader,
  {
    readonly read: (
      topic: string,
      partition: number,
      fromOffset: bigint,
      limit: number
    ) => Effect.Effect<ReadonlyArray<StoredRecord>, BackendUnavailable>
    readonly partitions: (topic: string) => Effect.Effect<number, BackendUnavailable>
    /** Every topic and its partition count. */
    readonly topics: Effect.Effect<
      ReadonlyArray<{ readonly name: string; readonly partitions: number }>,
      BackendUnavailable
    >
    /**
     * Appends in the caller's fiber, not batched: inside a transaction of the caller (the stream
     * engine's checkpoint) it joins that transaction, where a batched append would wait for it.
     */
    readonly appendNow: (records: ReadonlyArray<LogRecord>) => Effect.Effect<void, BackendUnavailable>
    /** The next offset of every partition (its end). */
    readonly endOffsets: Effect.Effect<
      ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly next: bigint }>,
      BackendUnavailable
    >
  }
>() {}

const unavailable = (cause: unknown) =>
  new BackendUnavailable({
    backend: "eventlog",
    message: `the embedded log is unavailable: ${String(cause)}`,
    cause
  })

export const migrateEventLog = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_topics (
    name text PRIMARY KEY,
    partitions int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_partitions (
    topic text NOT NULL REFERENCES eventflow_topics (name),
    partition int NOT NULL,
    next_offset bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, partition)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_records (
    topic text NOT NULL,
    partition int NOT NULL,
    "offset" bigint NOT NULL,
    key text,
    value bytea NOT NULL,
    headers jsonb NOT NULL,
    timestamp timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
  )`
})

export interface SqlEventLogOptions {
  readonly maxBatchRecords: number
}

export const makeSqlEventLog = (options: SqlEventLogOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* migrateEventLog.pipe(Effect.mapError(unavailable))
    const partitionCounts = new Map<string, number>()
    const loadTopics = sql<{
      name: string
      partitions: number
    }>`SELECT name, partitions FROM eventflow_topics`.pipe(
      Effect.tap((rows) =>
        Effect.sync(() => {
          for (const r of rows) partitionCounts.set(r.name, r.partitions)
        })
      ),
      Effect.mapError(unavailable)
    )
    yield* loadTopics
    let roundRobin = 0

    const write = (records: ReadonlyArray<LogRecord>) =>
      Effect.gen(function* () {
        const groups = new Map<string, { topic: string; partition: number; records: LogRecord[] }>()
        for (const record of records) {
          const partitions = partitionCounts.get(record.topic)
          if (partitions === undefined) {
            return yield* new BackendUnavailable({
              backend: "eventlog",
              message: `unknown topic ${record.topic}`
            })
          }
          const partition =
            record.key === null ? roundRobin++ % partitions : partitionForKey(record.key, partitions)
          const id = `${record.topic}\u0000${partition}`
          let group = groups.get(id)
          if (group === undefined) {
            group = { topic: record.topic, partition, records: [] }
            groups.set(id, group)
          }
          group.records.push(record)
        }
        yield* sql
          .withTransaction(
            Effect.forEach(
              groups.values(),
              (group) =>
                Effect.gen(function* () {
                  const [position] = yield* sql<{ first: string }>`
                    UPDATE eventflow_partitions SET next_offset = next_offset + ${group.records.length}
                    WHERE topic = ${group.topic} AND partition = ${group.partition}
                    RETURNING next_offset - ${group.records.length} AS first`
                  const first = BigInt(position!.first)
                  yield* sql`
                    INSERT INTO eventflow_records (topic, partition, "offset", key, value, headers)
                    SELECT ${group.topic}, ${group.partition}, ${first} + o - 1, k, v, h::jsonb
                    FROM unnest(${group.records.map((r) => r.key)}::text[],
                                ${group.records.map((r) => r.value)}::bytea[],
                                ${group.records.map((r) => JSON.stringify(r.headers))}::text[])
                      WITH ORDINALITY AS t(k, v, h, o)`
                }),
              { discard: true }
            )
          )
          .pipe(Effect.mapError(unavailable))
      }).pipe(
        Effect.withSpan("SqlEventLog.append", {
          captureStackTrace: false,
          attributes: { records: records.length }
        })
      )

    const batcher = yield* makeBatcher(write, { maxItems: options.maxBatchRecords })

    const ensureTopics = (topics: ReadonlyArray<TopicSpec>) =>
      sql
        .withTransaction(
          Effect.forEach(
            topics,
            (topic) =>
              Effect.gen(function* () {
                yield* sql`INSERT INTO eventflow_topics (name, partitions) VALUES (${topic.name}, ${topic.partitions})
                           ON CONFLICT (name) DO NOTHING`
                yield* sql`INSERT INTO eventflow_partitions (topic, partition)
                           SELECT name, p FROM eventflow_topics, generate_series(0, partitions - 1) AS p
                           WHERE name = ${topic.name}
                           ON CONFLICT DO NOTHING`
              }),
            { discard: true }
          )
        )
        .pipe(Effect.mapError(unavailable), Effect.zipRight(loadTopics), Effect.asVoid)

    const eventLog = EventLog.of({
      ensureTopics,
      append: (records) => batcher.submit(records),
      ping: sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(unavailable))
    })
    const reader = EmbeddedLogReader.of({
      read: (topic, partition, fromOffset, limit) =>
        sql<{
          key: string | null
          value: Uint8Array
          headers: Record<string, string>
          offset: string
          timestamp: Date
        }>`
          SELECT key, value, headers, "offset", timestamp FROM eventflow_records
          WHERE topic = ${topic} AND partition = ${partition} AND "offset" >= ${fromOffset}
          ORDER BY "offset" LIMIT ${limit}`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              topic,
              partition,
              key: row.key,
              value: Buffer.from(row.value),
              headers: typeof row.headers === "string" ? JSON.parse(row.headers) : row.headers,
              offset: BigInt(row.offset),
              timestamp: new Date(row.timestamp)
            }))
          ),
          Effect.mapError(unavailable)
        ),
      topics: sql<{
        name: string
        partitions: number
      }>`SELECT name, partitions FROM eventflow_topics ORDER BY name`.pipe(Effect.mapError(unavailable)),
      appendNow: (records) => (records.length === 0 ? Effect.void : write(records)),
      endOffsets: sql<{ topic: string; partition: number; next_offset: string }>`
        SELECT topic, partition, next_offset FROM eventflow_partitions`.pipe(
        Effect.map((rows) =>
          rows.map((r) => ({ topic: r.topic, partition: r.partition, next: BigInt(r.next_offset) }))
        ),
        Effect.mapError(unavailable)
      ),
      partitions: (topic) =>
        Effect.suspend(() => {
          const n = partitionCounts.get(topic)
          return n === undefined
            ? Effect.fail(new BackendUnavailable({ backend: "eventlog", message: `unknown topic ${topic}` }))
            : Effect.succeed(n)
        })
    })
    return Context.make(EventLog, eventLog).pipe(Context.add(EmbeddedLogReader, reader))
  })

export const layerSqlEventLog = (options: SqlEventLogOptions) => Layer.scopedContext(makeSqlEventLog(options))
