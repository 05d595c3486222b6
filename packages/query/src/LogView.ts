/**
 * What the query service sees of the log: topics with their offsets, and a tail of the newest
 * events (a bounded ring, fed by polling the embedded log or by a Kafka consumer that keeps no
 * offsets). Events topics are those named `<prefix>events.*`, the DLQ aside.
 */
import { SqlClient } from "@effect/sql"
import { connectionConfig, type KafkaConnection } from "@eventflow/backends"
import { BackendUnavailable } from "@eventflow/core"
import { Duration, Effect, Schedule } from "effect"
import { type Admin, Kafka, logLevel } from "kafkajs"

export interface TopicInfo {
  readonly name: string
  readonly partitions: ReadonlyArray<{
    readonly partition: number
    readonly startOffset: bigint
    readonly endOffset: bigint
  }>
}

export interface TailEvent {
  readonly seq: number
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly time: string
  readonly id: string | null
  readonly source: string | null
  readonly type: string | null
  readonly subject: string | null
  readonly data: unknown
}

export interface LogView {
  readonly kind: "embedded" | "kafka"
  readonly topics: Effect.Effect<ReadonlyArray<TopicInfo>, BackendUnavailable>
  /** The offsets of these topics only (missing topics are left out): what lag needs, every second. */
  readonly offsets: (
    names: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<TopicInfo>, BackendUnavailable>
  readonly ping: Effect.Effect<void, BackendUnavailable>
  /** Kafka only: the state and member count of a consumer group. */
  readonly group: (
    groupId: string
  ) => Effect.Effect<{ readonly state: string; readonly members: number } | undefined, BackendUnavailable>
}

/** Data larger than this (as JSON) is replaced by a note in the tail: the tail is for looking, not reading. */
export const MAX_TAIL_DATA_BYTES = 4_096

export const isEventsTopic = (name: string, prefix: string): boolean =>
  name.startsWith(`${prefix}events.`) && name !== `${prefix}events.dlq`

interface TailRecord {
  readonly seq: number
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly timestamp: number
  readonly value: Uint8Array | string | null
  /** Parsed the first time it is read: most records are overwritten before anyone looks. */
  event?: TailEvent
}

const parseRecord = (record: TailRecord): TailEvent => {
  let event: Record<string, unknown> = {}
  try {
    const text =
      typeof record.value === "string" ? record.value : Buffer.from(record.value ?? []).toString("utf8")
    const parsed = JSON.parse(text) as unknown
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed))
      event = parsed as Record<string, unknown>
  } catch {
    // Not JSON (a binary-mode body, say): shown with its position only.
  }
  const str = (v: unknown) => (typeof v === "string" ? v : null)
  let data: unknown = event.data ?? (event.data_base64 === undefined ? null : { base64: true })
  const size = data === null ? 0 : (JSON.stringify(data)?.length ?? 0)
  if (size > MAX_TAIL_DATA_BYTES) data = { truncated: true, bytes: size }
  return {
    seq: record.seq,
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    time: str(event.time) ?? new Date(record.timestamp).toISOString(),
    id: str(event.id),
    source: str(event.source),
    type: str(event.type),
    subject: str(event.subject),
    data
  }
}

/**
 * The newest events seen, at most `capacity`, each with an increasing sequence number: a ring
 * that keeps each record's bytes and parses a record only when it is read.
 */
export class EventTail {
  private readonly ring: Array<TailRecord | undefined>
  private next = 0
  private size = 0
  private seq = 0
  constructor(readonly capacity: number) {
    this.ring = new Array(capacity)
  }

  push(record: {
    readonly topic: string
    readonly partition: number
    readonly offset: string
    readonly timestamp: number
    readonly value: Uint8Array | string | null
  }): void {
    this.seq++
    this.ring[this.next] = {
      seq: this.seq,
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: record.timestamp,
      // A copy: a Kafka message's bytes are a view of its whole fetch response.
      value: record.value instanceof Uint8Array ? record.value.slice() : record.value
    }
    this.next = (this.next + 1) % this.capacity
    if (this.size < this.capacity) this.size++
  }

  get lastSeq(): number {
    return this.seq
  }

  /** The k-th newest event (0 = the newest), parsed. */
  private newest(k: number): TailEvent {
    const record = this.ring[(this.next - 1 - k + this.capacity) % this.capacity] as TailRecord
    if (record.event === undefined) record.event = parseRecord(record)
    return record.event
  }

  /** The newest `limit` events, newest first, of one type when given. */
  recent(type: string | undefined, limit: number): ReadonlyArray<TailEvent> {
    const out: TailEvent[] = []
    for (let k = 0; k < this.size && out.length < limit; k++) {
      const event = this.newest(k)
      if (type === undefined || event.type === type) out.push(event)
    }
    return out
  }

  /** Events after `seq`, newest first, at most `limit`. */
  since(seq: number, limit: number): ReadonlyArray<TailEvent> {
    const out: TailEvent[] = []
    const newer = Math.min(this.size, this.seq - seq, limit)
    for (let k = 0; k < newer; k++) out.push(this.newest(k))
    return out
  }
}

const unavailable = (backend: "eventlog" | "readmodel", what: string) => (cause: unknown) =>
  new BackendUnavailable({
    backend,
    message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/** The embedded log (tables of the embedded database), and a poller that feeds the tail. */
export const makeEmbeddedLogView = (tail: EventTail, prefix: string, seed: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const topics = sql<{
      name: string
      partition: number | null
      next_offset: string | null
      start: string | null
    }>`
      SELECT t.name, p.partition, p.next_offset,
             (SELECT min(r."offset") FROM eventflow_records r
              WHERE r.topic = p.topic AND r.partition = p.partition) AS start
      FROM eventflow_topics t LEFT JOIN eventflow_partitions p ON p.topic = t.name
      ORDER BY t.name, p.partition`.pipe(
      Effect.map((rows) => {
        const byName = new Map<string, Array<TopicInfo["partitions"][number]>>()
        for (const row of rows) {
          const list = byName.get(row.name) ?? []
          byName.set(row.name, list)
          if (row.partition === null) continue
          const end = BigInt(row.next_offset ?? 0)
          list.push({
            partition: row.partition,
            startOffset: row.start === null ? end : BigInt(row.start),
            endOffset: end
          })
        }
        return [...byName].map(([name, partitions]) => ({ name, partitions }))
      }),
      Effect.catchAll((cause) =>
        // Before the first event the log's tables may not exist yet.
        String((cause as { message?: string }).message ?? "").includes("does not exist")
          ? Effect.succeed([] as ReadonlyArray<TopicInfo>)
          : Effect.fail(unavailable("eventlog", "the embedded log is unavailable")(cause))
      )
    )

    const cursors = new Map<string, bigint>()
    const poll = Effect.gen(function* () {
      const all = yield* topics
      const wanted: Array<{ topic: string; partition: number; from: bigint }> = []
      for (const topic of all) {
        if (!isEventsTopic(topic.name, prefix)) continue
        for (const p of topic.partitions) {
          const id = `${topic.name}/${p.partition}`
          let from = cursors.get(id)
          if (from === undefined) {
            from = p.endOffset - BigInt(seed) > p.startOffset ? p.endOffset - BigInt(seed) : p.startOffset
            cursors.set(id, from)
          }
          if (p.endOffset > from) wanted.push({ topic: topic.name, partition: p.partition, from })
        }
      }
      if (wanted.length === 0) return
      const rows = yield* sql<{
        topic: string
        partition: number
        offset: string
        value: Uint8Array
        ts: string | Date
      }>`
        SELECT r.topic, r.partition, r."offset", r.value, r.timestamp AS ts
        FROM unnest(${wanted.map((w) => w.topic)}::text[], ${wanted.map((w) => w.partition)}::int[],
                    ${wanted.map((w) => String(w.from))}::bigint[]) AS c(topic, partition, from_offset)
        CROSS JOIN LATERAL (
          SELECT * FROM eventflow_records r
          WHERE r.topic = c.topic AND r.partition = c.partition AND r."offset" >= c.from_offset
          ORDER BY r."offset" LIMIT ${tail.capacity}) r`.pipe(
        Effect.mapError(unavailable("eventlog", "tail"))
      )
      const ordered = [...rows].sort((a, b) => new Date(a.ts).getTime() - new Date(b.ts).getTime())
      for (const row of ordered) {
        tail.push({
          topic: row.topic,
          partition: row.partition,
          offset: String(row.offset),
          timestamp: new Date(row.ts).getTime(),
          value: row.value
        })
        const id = `${row.topic}/${row.partition}`
        const next = BigInt(row.offset) + 1n
        if (next > (cursors.get(id) ?? 0n)) cursors.set(id, next)
      }
    })

    const view: LogView = {
      kind: "embedded",
      topics,
      offsets: (names) => Effect.map(topics, (all) => all.filter((t) => names.includes(t.name))),
      ping: sql`SELECT 1`.pipe(
        Effect.asVoid,
        Effect.mapError(unavailable("eventlog", "the embedded log is unavailable"))
      ),
      group: () => Effect.succeed(undefined)
    }
    const feed = poll.pipe(Effect.ignoreLogged, Effect.repeat(Schedule.spaced(Duration.millis(250))))
    return { view, feed }
  })

export interface KafkaViewOptions {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  readonly connection: KafkaConnection
  readonly prefix: string
  /** Events read back from each partition's end when the tail starts. */
  readonly seed: number
}

/** Kafka through its admin API, and a consumer (its own group, no commits) that feeds the tail. */
export const makeKafkaLogView = (tail: EventTail, options: KafkaViewOptions) =>
  Effect.gen(function* () {
    const kafka = new Kafka({
      clientId: `${options.clientId}-query`,
      brokers: [...options.brokers],
      ...connectionConfig(options.connection),
      logLevel: logLevel.NOTHING,
      retry: { retries: 2 }
    })
    const admin: Admin = kafka.admin()
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => admin.connect(),
        catch: unavailable("eventlog", `cannot connect to Kafka at ${options.brokers.join(",")}`)
      }),
      () => Effect.promise(() => admin.disconnect().catch(() => undefined))
    )
    const kafkaDown = unavailable("eventlog", "Kafka is unavailable")
    const offsetsOf = async (name: string): Promise<TopicInfo> => {
      const offsets = await admin.fetchTopicOffsets(name)
      return {
        name,
        partitions: offsets
          .map((o) => ({ partition: o.partition, startOffset: BigInt(o.low), endOffset: BigInt(o.high) }))
          .sort((a, b) => a.partition - b.partition)
      }
    }
    const topics = Effect.tryPromise({
      try: async () => {
        // The topics of this deployment: those under its prefix (all but Kafka's own without one).
        const names = (await admin.listTopics())
          .filter((n) => !n.startsWith("__") && n.startsWith(options.prefix))
          .sort()
        return Promise.all(names.map(offsetsOf))
      },
      catch: kafkaDown
    }).pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(5),
        onTimeout: () => kafkaDown("no answer within 5 s")
      })
    )

    const offsets = (names: ReadonlyArray<string>) =>
      Effect.tryPromise({
        try: async () => {
          const existing = new Set(await admin.listTopics())
          return Promise.all(names.filter((n) => existing.has(n)).map(offsetsOf))
        },
        catch: kafkaDown
      }).pipe(
        Effect.timeoutFail({
          duration: Duration.seconds(5),
          onTimeout: () => kafkaDown("no answer within 5 s")
        })
      )

    const group = (groupId: string) =>
      Effect.tryPromise({
        try: async () => {
          const { groups } = await admin.describeGroups([groupId])
          const g = groups[0]
          return g === undefined || g.state === "Dead"
            ? undefined
            : { state: g.state, members: g.members.length }
        },
        catch: kafkaDown
      })

    // The tail: subscribe to the events topics there are, reread `seed` records of each partition.
    const feed = Effect.gen(function* () {
      const names = (yield* topics).filter((t) => isEventsTopic(t.name, options.prefix))
      if (names.length === 0) return false
      const consumer = kafka.consumer({
        groupId: `${options.prefix}eventflow.query-tail.${process.pid}.${Date.now().toString(36)}`,
        sessionTimeout: 10_000,
        maxWaitTimeInMs: 250
      })
      yield* Effect.acquireRelease(
        Effect.tryPromise({ try: () => consumer.connect(), catch: kafkaDown }),
        () => Effect.promise(() => consumer.disconnect().catch(() => undefined))
      )
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
          const info = names.find((t) => t.name === topic)
          for (const partition of partitions) {
            const p = info?.partitions.find((x) => x.partition === partition)
            if (p === undefined) continue
            const from =
              p.endOffset - BigInt(options.seed) > p.startOffset
                ? p.endOffset - BigInt(options.seed)
                : p.startOffset
            consumer.seek({ topic, partition, offset: String(from) })
          }
        }
      })
      yield* Effect.tryPromise({
        try: async () => {
          await consumer.subscribe({ topics: names.map((t) => t.name), fromBeginning: false })
          await consumer.run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              for (const message of batch.messages) {
                tail.push({
                  topic: batch.topic,
                  partition: batch.partition,
                  offset: message.offset,
                  timestamp: Number(message.timestamp),
                  value: message.value
                })
              }
            }
          })
        },
        catch: kafkaDown
      })
      return true
    })

    const view: LogView = {
      kind: "kafka",
      topics,
      offsets,
      ping: Effect.tryPromise({ try: () => admin.describeCluster(), catch: kafkaDown }).pipe(
        Effect.asVoid,
        Effect.timeoutFail({
          duration: Duration.seconds(2),
          onTimeout: () => kafkaDown("no answer within 2 s")
        })
      ),
      group
    }
    // Until there are events topics (a fresh cluster), look again every 5 s.
    const tailFeed = Effect.scoped(
      feed.pipe(
        Effect.flatMap((started) => (started ? Effect.never : Effect.fail("no events topics yet"))),
        Effect.retry(Schedule.spaced(Duration.seconds(5)))
      )
    ).pipe(Effect.ignoreLogged)
    return { view, feed: tailFeed }
  })
