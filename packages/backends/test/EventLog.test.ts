import { randomBytes } from "node:crypto"
import { it, layer as withLayer } from "@effect/vitest"
import {
  chunkRecords,
  EmbeddedLogReader,
  layerEmbeddedSql,
  layerKafka,
  layerSqlEventLog,
  partitionForKey
} from "@eventflow/backends"
import { EventLog, type LogRecord } from "@eventflow/core"
import { describeWithServices, readTopics, serviceUrls, tempDir, uniquePrefix } from "@eventflow/testing"
import { Duration, Effect, Layer } from "effect"
// kafkajs's own Java-compatible murmur2, to check that the embedded log partitions keys like Kafka.
// @ts-expect-error: an internal module without types
import kafkajsMurmur2 from "kafkajs/src/producer/partitioners/default/murmur2.js"
import { describe, expect } from "vitest"

const record = (topic: string, key: string | null, value: string, headers = {}): LogRecord => ({
  topic,
  key,
  value: Buffer.from(value),
  headers
})

describe("partitionForKey", () => {
  it("matches Kafka's default partitioner (kafkajs's murmur2) on 2,000 keys", () => {
    for (let i = 0; i < 2000; i++) {
      const key = i % 2 === 0 ? `user-${i}` : randomBytes(i % 37).toString("base64")
      const expected = ((kafkajsMurmur2 as (k: string) => number)(key) & 0x7fffffff) % 12
      expect(partitionForKey(key, 12)).toBe(expected)
    }
  })
})

describe("chunkRecords", () => {
  it("keeps order and never passes the byte limit but for a single large record", () => {
    const records = [10, 10, 10, 500, 10].map((n, i) => record("t", `k${i}`, "x".repeat(n)))
    const chunks = chunkRecords(records, 200)
    expect(chunks.map((c) => c.map((r) => r.key))).toEqual([["k0", "k1"], ["k2"], ["k3"], ["k4"]])
  })

  it("never passes the record limit", () => {
    const records = Array.from({ length: 7 }, (_, i) => record("t", `k${i}`, "x"))
    expect(chunkRecords(records, 1_000_000, 3).map((c) => c.length)).toEqual([3, 3, 1])
  })
})

await describeWithServices(["kafka"], "KafkaEventLog on the real Kafka", () => {
  const prefix = uniquePrefix("log")
  const topic = `${prefix}events.a`
  const layer = layerKafka({
    brokers: serviceUrls.kafka.split(","),
    clientId: "eventflow-test",
    connection: { ssl: false },
    produceTimeout: Duration.seconds(20),
    retries: 3,
    maxBatchRecords: 10_000,
    maxRequestBytes: 100_000,
    maxRequestRecords: 1000
  })

  withLayer(layer, { timeout: 120_000, excludeTestServices: true })((it) => {
    it.effect("creates missing topics (idempotently) and appends records with keys and headers", () =>
      Effect.gen(function* () {
        const log = yield* EventLog
        yield* log.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1 }])
        yield* log.ensureTopics([{ name: topic, partitions: 3, replicationFactor: 1 }])
        yield* log.append([
          record(topic, "user-1", '{"n":1}', { "content-type": "application/cloudevents+json" }),
          record(topic, "user-1", '{"n":2}'),
          record(topic, "user-2", '{"n":3}')
        ])
        const messages = yield* Effect.promise(() => readTopics([topic]))
        expect(messages).toHaveLength(3)
        const user1 = messages.filter((m) => m.key === "user-1")
        expect(user1.map((m) => m.value)).toEqual(['{"n":1}', '{"n":2}'])
        expect(user1[0]!.headers).toEqual({ "content-type": "application/cloudevents+json" })
        // Kafka's partitioner and ours agree, so the embedded log keeps the same key → partition map.
        expect(user1[0]!.partition).toBe(partitionForKey("user-1", 3))
      })
    )

    it.effect("splits a large append into produce requests under the byte limit, in order", () =>
      Effect.gen(function* () {
        const log = yield* EventLog
        const big = `${prefix}events.big`
        yield* log.ensureTopics([{ name: big, partitions: 1, replicationFactor: 1 }])
        // 3,000 records of 300 bytes: 900 KB, nine produce requests of at most 100 KB.
        const records = Array.from({ length: 3000 }, (_, i) => record(big, "k", `${i}`.padEnd(300, ".")))
        yield* Effect.all([log.append(records.slice(0, 1500)), log.append(records.slice(1500))], {
          concurrency: 2
        })
        const messages = yield* Effect.promise(() => readTopics([big]))
        expect(messages.map((m) => Number.parseInt(m.value, 10))).toEqual(records.map((_, i) => i))
      })
    )
  })
})

describe("SqlEventLog on embedded PGlite", () => {
  const layer = layerSqlEventLog({ maxBatchRecords: 10_000 }).pipe(
    Layer.provideMerge(layerEmbeddedSql(tempDir("log"), "own"))
  )
  withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("appends to the partition of each key, numbering offsets from 0", () =>
      Effect.gen(function* () {
        const log = yield* EventLog
        const reader = yield* EmbeddedLogReader
        yield* log.ensureTopics([{ name: "events.a", partitions: 4, replicationFactor: 1 }])
        yield* Effect.all(
          [
            log.append([record("events.a", "user-1", "1"), record("events.a", "user-2", "2")]),
            log.append([record("events.a", "user-1", "3", { h: "v" })])
          ],
          { concurrency: 2 }
        )
        const partition = partitionForKey("user-1", 4)
        const rows = yield* reader.read("events.a", partition, 0n, 100)
        const user1 = rows.filter((r) => r.key === "user-1")
        expect(user1.map((r) => r.value.toString())).toEqual(["1", "3"])
        expect(user1.map((r) => r.headers)).toEqual([{}, { h: "v" }])
        expect(rows.map((r) => r.offset)).toEqual(rows.map((_, i) => BigInt(i)))
        expect(yield* reader.partitions("events.a")).toBe(4)
      })
    )

    it.effect("refuses a record for a topic that does not exist, and appends nothing of its batch", () =>
      Effect.gen(function* () {
        const log = yield* EventLog
        const reader = yield* EmbeddedLogReader
        yield* log.ensureTopics([{ name: "events.b", partitions: 1, replicationFactor: 1 }])
        const error = yield* Effect.flip(
          log.append([record("events.b", "k", "kept?"), record("events.nope", "k", "x")])
        )
        expect(error.message).toBe("unknown topic events.nope")
        expect(yield* reader.read("events.b", 0, 0n, 10)).toEqual([])
      })
    )
  })
})
