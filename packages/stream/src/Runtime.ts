/**
 * Running pipelines: load them from a folder, then feed each one's engine from the log, on Kafka
 * (a consumer group per pipeline: instances share its partitions) or on the embedded log (this
 * process reads every partition). Both paths checkpoint through the same engine and store.
 */
import { readdirSync, statSync } from "node:fs"
import { hostname } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import type { SqlClient } from "@effect/sql"
import { connectionConfig, EmbeddedLogReader, type KafkaOptions } from "@eventflow/backends"
import { BackendUnavailable, EventLog, type LogRecord, type TopicSpec } from "@eventflow/core"
import { batchSpanOptions, Metrics as M, tracingEnabled } from "@eventflow/telemetry"
import { Config, Data, Duration, Effect, Option, Runtime } from "effect"
import { type Consumer, Kafka, logLevel } from "kafkajs"
import type { AlertRule } from "./Alerts.ts"
import type { Pipeline } from "./Dsl.ts"
import { PipelineEngine, type SourceRecord } from "./Engine.ts"
import { migrateStream, registerPipeline, type TopicPartition } from "./Store.ts"

export class PipelinesError extends Data.TaggedError("PipelinesError")<{ readonly message: string }> {}

export interface LoadedPipelines {
  readonly folder: string
  readonly pipelines: ReadonlyArray<Pipeline>
  readonly rules: ReadonlyArray<AlertRule>
}

const isPipeline = (value: unknown): value is Pipeline =>
  value !== null &&
  typeof value === "object" &&
  typeof (value as Pipeline).name === "string" &&
  typeof (value as Pipeline).table === "object" &&
  (value as Pipeline).table !== null &&
  "windowed" in (value as Pipeline).table

const isRule = (value: unknown): value is AlertRule =>
  value !== null &&
  typeof value === "object" &&
  typeof (value as AlertRule).pipeline === "string" &&
  typeof (value as AlertRule).condition === "object"

/** The examples shipped with EventFlow: what runs when no pipelines folder is given. */
export const examplesFolder = new URL("../examples", import.meta.url).pathname

/** EVENTFLOW_PIPELINES, else `pipelines/` in the working directory when it exists, else the examples. */
export const PipelinesFolderConfig = Config.option(Config.string("EVENTFLOW_PIPELINES")).pipe(
  Config.map((folder) => {
    if (Option.isSome(folder) && folder.value.trim() !== "") return resolve(folder.value)
    const local = resolve("pipelines")
    try {
      if (statSync(local).isDirectory()) return local
    } catch {
      // no local folder
    }
    return examplesFolder
  })
)

/**
 * Imports every TypeScript or JavaScript module of a folder (not its subfolders): each exported
 * pipeline runs, each exported alert rule (or array of rules) is evaluated.
 */
export const loadPipelines = (folder: string) =>
  Effect.gen(function* () {
    const files = yield* Effect.try({
      try: () =>
        readdirSync(folder)
          .filter((f) => /\.(ts|mts|js|mjs)$/.test(f) && !/\.(test|d)\.[mc]?[tj]s$/.test(f))
          .sort(),
      catch: () => new PipelinesError({ message: `cannot read the pipelines folder ${folder}` })
    })
    const pipelines: Pipeline[] = []
    const rules: AlertRule[] = []
    for (const file of files) {
      const module = yield* Effect.tryPromise({
        try: () => import(pathToFileURL(join(folder, file)).href) as Promise<Record<string, unknown>>,
        catch: (cause) =>
          new PipelinesError({
            message: `the pipeline module ${file} failed to load: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      })
      for (const value of Object.values(module)) {
        for (const item of Array.isArray(value) ? value : [value]) {
          if (isPipeline(item) && !pipelines.includes(item)) pipelines.push(item)
          else if (isRule(item) && !rules.includes(item)) rules.push(item)
        }
      }
    }
    const names = new Set<string>()
    for (const p of pipelines) {
      if (names.has(p.name)) {
        return yield* new PipelinesError({ message: `two pipelines in ${folder} are named '${p.name}'` })
      }
      names.add(p.name)
    }
    for (const rule of rules) {
      if (!names.has(rule.pipeline)) {
        return yield* new PipelinesError({
          message: `alert rule '${rule.name}' watches pipeline '${rule.pipeline}', which ${folder} does not define`
        })
      }
    }
    return { folder, pipelines, rules } satisfies LoadedPipelines
  })

export interface StreamSettings {
  readonly checkpointIntervalMs: number
  readonly checkpointRecords: number
  /** How long (log time) a partition remembers event ids to drop second copies of an event; 0: off. */
  readonly dedupHorizonMs: number
  /** Embedded log: how long to wait when no partition has new records. */
  readonly pollMs: number
  /** Records read per partition per fetch on the embedded log. */
  readonly fetchRecords: number
  readonly topicPrefix: string
  readonly partitions: number
  readonly replicationFactor: number
  /** A consumer that stops heartbeating this long loses its partitions (Kafka). */
  readonly sessionTimeoutMs: number
  /** How long a rebalance waits for the members to rejoin (Kafka). */
  readonly rebalanceTimeoutMs: number
}

export const StreamConfig: Config.Config<StreamSettings> = Config.all({
  checkpointIntervalMs: Config.integer("EVENTFLOW_CHECKPOINT_INTERVAL_MS").pipe(Config.withDefault(500)),
  checkpointRecords: Config.integer("EVENTFLOW_CHECKPOINT_RECORDS").pipe(Config.withDefault(100_000)),
  dedupHorizonMs: Config.duration("EVENTFLOW_STREAM_DEDUP_HORIZON").pipe(
    Config.withDefault(Duration.minutes(5)),
    Config.map(Duration.toMillis)
  ),
  pollMs: Config.integer("EVENTFLOW_STREAM_POLL_MS").pipe(Config.withDefault(100)),
  fetchRecords: Config.integer("EVENTFLOW_STREAM_FETCH_RECORDS").pipe(Config.withDefault(5_000)),
  topicPrefix: Config.string("EVENTFLOW_TOPIC_PREFIX").pipe(Config.withDefault("")),
  partitions: Config.integer("EVENTFLOW_TOPIC_PARTITIONS").pipe(Config.withDefault(3)),
  replicationFactor: Config.integer("EVENTFLOW_TOPIC_REPLICATION").pipe(Config.withDefault(1)),
  sessionTimeoutMs: Config.integer("EVENTFLOW_KAFKA_SESSION_TIMEOUT_MS").pipe(Config.withDefault(30_000)),
  rebalanceTimeoutMs: Config.integer("EVENTFLOW_KAFKA_REBALANCE_TIMEOUT_MS").pipe(Config.withDefault(60_000))
})

const patternOf = (name: string) =>
  new RegExp(`^${name.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`)

/** A pipeline's source topics with the prefix: literal names, patterns (with `*`), and a test for a topic. */
export const sourcesOf = (pipeline: Pipeline, prefix: string) => {
  const topics = pipeline.table.windowed.keyed.source.topics.map((t) => prefix + t)
  const literal = topics.filter((t) => !t.includes("*"))
  const patterns = topics.filter((t) => t.includes("*")).map(patternOf)
  return {
    literal,
    patterns,
    matches: (topic: string) => literal.includes(topic) || patterns.some((p) => p.test(topic))
  }
}

export const outputTopics = (settings: StreamSettings) => ({
  dlq: `${settings.topicPrefix}events.dlq`,
  alerts: `${settings.topicPrefix}alerts`,
  aggregated: `${settings.topicPrefix}analytics.aggregated`
})

/** The topics pipelines read and write, created when missing. */
const topicsToEnsure = (loaded: LoadedPipelines, settings: StreamSettings): TopicSpec[] => {
  const names = new Set<string>(Object.values(outputTopics(settings)))
  for (const p of loaded.pipelines) {
    for (const t of sourcesOf(p, settings.topicPrefix).literal) names.add(t)
    for (const table of p.table.windowed.keyed.tables) names.add(settings.topicPrefix + table.topic)
  }
  return [...names].map((name) => ({
    name,
    partitions: settings.partitions,
    replicationFactor: settings.replicationFactor
  }))
}

const owner = `${hostname()}/${process.pid}`

const engineFor = (
  pipeline: Pipeline,
  loaded: LoadedPipelines,
  settings: StreamSettings,
  publish: (records: ReadonlyArray<LogRecord>) => Effect.Effect<void, BackendUnavailable>
) => {
  const topics = outputTopics(settings)
  return new PipelineEngine(pipeline, {
    owner,
    checkpointIntervalMs: settings.checkpointIntervalMs,
    checkpointRecords: settings.checkpointRecords,
    dedupHorizonMs: settings.dedupHorizonMs,
    dlqTopic: topics.dlq,
    alertsTopic: topics.alerts,
    sinkTopic: pipeline.sink === undefined ? undefined : settings.topicPrefix + pipeline.sink,
    rules: loaded.rules,
    publish
  })
}

/**
 * After a failed step (a backend down: PostgreSQL, the log), pauses before the next attempt,
 * logging why: 0.5 s, doubled after each failure in a row, at most 8 s; `succeeded` starts over.
 */
const failureBackoff = (pipeline: string) => {
  let failures = 0
  return {
    failed: (error: BackendUnavailable, what = "checkpoint failed") =>
      Effect.suspend(() => {
        const pause = Math.min(500 * 2 ** failures, 8_000)
        failures++
        return Effect.logWarning(
          `pipeline '${pipeline}': ${what} (${failures} in a row), reloading from the last checkpoint in ${pause} ms: ${error.message}`
        ).pipe(Effect.zipRight(Effect.sleep(Duration.millis(pause))))
      }),
    succeeded: () => {
      failures = 0
    }
  }
}

/** Runs pipelines on the embedded log: every partition of their topics, in this process. */
export const runEmbedded = (loaded: LoadedPipelines, settings: StreamSettings) =>
  Effect.gen(function* () {
    const reader = yield* EmbeddedLogReader
    const log = yield* EventLog
    yield* migrateStream
    yield* log.ensureTopics(topicsToEnsure(loaded, settings))
    const engines = new Map<string, PipelineEngine>()
    for (const p of loaded.pipelines) {
      yield* registerPipeline(p)
      engines.set(p.name, engineFor(p, loaded, settings, reader.appendNow))
    }
    yield* Effect.forEach(
      loaded.pipelines,
      (p) =>
        embeddedLoop(p, engines.get(p.name)!, reader, settings).pipe(Effect.annotateLogs("pipeline", p.name)),
      { concurrency: "unbounded", discard: true }
    )
  })

const toSource = (r: {
  offset: bigint
  timestamp: Date
  key: string | null
  value: Buffer
}): SourceRecord => ({
  offset: Number(r.offset),
  timestamp: r.timestamp.getTime(),
  key: r.key,
  value: r.value
})

/**
 * Handles a batch of a partition. With tracing on, in an `eventflow.consume` span whose parent is
 * the trace of the batch's first traced record (ingest's span, from the `traceparent` header) and
 * whose links are the others', around an `eventflow.aggregate` span; the next checkpoint's span
 * links to it.
 */
const handleTraced = (
  engine: PipelineEngine,
  pipeline: string,
  tp: TopicPartition,
  records: ReadonlyArray<SourceRecord>,
  traceparents: Iterable<unknown>,
  system: "kafka" | "embedded"
) => {
  const { parent, links } = batchSpanOptions(traceparents)
  return Effect.sync(() => engine.handle(tp, records)).pipe(
    Effect.withSpan("eventflow.aggregate", { captureStackTrace: false }),
    Effect.zipLeft(
      Effect.ignore(Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => engine.noteSpan(span))))
    ),
    Effect.withSpan("eventflow.consume", {
      kind: "consumer",
      captureStackTrace: false,
      links,
      ...(parent !== undefined ? { parent } : { root: true }),
      attributes: {
        "eventflow.pipeline": pipeline,
        "messaging.system": system,
        "messaging.destination.name": tp.topic,
        "messaging.destination.partition.id": String(tp.partition),
        "messaging.batch.message_count": records.length
      }
    })
  )
}

const embeddedLoop = (
  pipeline: Pipeline,
  engine: PipelineEngine,
  reader: EmbeddedLogReader["Type"],
  settings: StreamSettings
) =>
  Effect.gen(function* () {
    const tracing = yield* tracingEnabled
    const sources = sourcesOf(pipeline, settings.topicPrefix)
    const tables = pipeline.table.windowed.keyed.tables.map((t) => ({
      source: t,
      topic: settings.topicPrefix + t.topic,
      next: new Map<number, bigint>()
    }))
    const backoff = failureBackoff(pipeline.name)
    let partitions: TopicPartition[] = []
    let listedAt = 0
    let verifiedAt = Date.now()
    while (true) {
      const step = Effect.gen(function* () {
        if (Date.now() - listedAt > 2_000 || partitions.length === 0) {
          const topics = yield* reader.topics
          partitions = topics
            .filter((t) => sources.matches(t.name))
            .flatMap((t) =>
              Array.from({ length: t.partitions }, (_, partition) => ({ topic: t.name, partition }))
            )
          listedAt = Date.now()
          const ends = yield* reader.endOffsets
          for (const end of ends) {
            const next = engine.nextOffset(end)
            if (next !== undefined && sources.matches(end.topic))
              M.streamLag(pipeline.name, end.topic, end.partition).unsafeUpdate(Number(end.next - next), [])
          }
          M.streamAssignedPartitions(pipeline.name).unsafeUpdate(engine.assigned.length, [])
        }
        if (Date.now() - verifiedAt > 2_000) {
          verifiedAt = Date.now()
          yield* engine.verifyOwnership()
        }
        yield* engine.claim(partitions)
        let read = 0
        // Tables first, so that the stream's records join the entity state written before them.
        for (const table of tables) {
          const count = yield* reader.partitions(table.topic)
          for (let partition = 0; partition < count; partition++) {
            for (;;) {
              const records = yield* reader.read(
                table.topic,
                partition,
                table.next.get(partition) ?? 0n,
                settings.fetchRecords
              )
              if (records.length === 0) break
              engine.updateTable(table.source, records.map(toSource))
              table.next.set(partition, records.at(-1)!.offset + 1n)
            }
          }
        }
        for (const tp of engine.assigned) {
          const next = engine.readOffset(tp)
          if (next === undefined) continue
          const records = yield* reader.read(tp.topic, tp.partition, next, settings.fetchRecords)
          if (records.length === 0) continue
          if (tracing)
            yield* handleTraced(
              engine,
              pipeline.name,
              tp,
              records.map(toSource),
              records.map((r) => r.headers.traceparent),
              "embedded"
            )
          else engine.handle(tp, records.map(toSource))
          read += records.length
        }
        if (engine.checkpointDue()) yield* engine.checkpoint()
        return read
      })
      const read = yield* step.pipe(
        Effect.tap(() => backoff.succeeded()),
        Effect.catchAll((error) => backoff.failed(error as BackendUnavailable).pipe(Effect.as(0)))
      )
      if (read === 0) yield* Effect.sleep(Duration.millis(settings.pollMs))
    }
  })

/**
 * Runs pipelines on Kafka: one consumer group per pipeline (`eventflow.<pipeline>`), so several
 * instances share the partitions; state moves between them through Postgres.
 */
export const runKafka = (loaded: LoadedPipelines, settings: StreamSettings, kafkaOptions: KafkaOptions) =>
  Effect.gen(function* () {
    const log = yield* EventLog
    yield* migrateStream
    yield* log.ensureTopics(topicsToEnsure(loaded, settings))
    for (const p of loaded.pipelines) yield* registerPipeline(p)
    const kafka = new Kafka({
      clientId: kafkaOptions.clientId,
      brokers: [...kafkaOptions.brokers],
      ...connectionConfig(kafkaOptions.connection),
      logLevel: logLevel.NOTHING
    })
    yield* Effect.forEach(
      loaded.pipelines,
      (p) =>
        kafkaPipeline(p, engineFor(p, loaded, settings, log.append), kafka, settings).pipe(
          Effect.annotateLogs("pipeline", p.name)
        ),
      { concurrency: "unbounded", discard: true }
    )
  })

/** One after the other: batches and checkpoints of a pipeline never overlap. */
const serial = () => {
  let tail: Promise<unknown> = Promise.resolve()
  return <A>(task: () => Promise<A>): Promise<A> => {
    const run = tail.then(task, task)
    tail = run.catch(() => undefined)
    return run
  }
}

const kafkaPipeline = (pipeline: Pipeline, engine: PipelineEngine, kafka: Kafka, settings: StreamSettings) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<SqlClient.SqlClient>()
    const run = Runtime.runPromise(runtime)
    const tracing = yield* tracingEnabled
    const sources = sourcesOf(pipeline, settings.topicPrefix)
    const inTurn = serial()
    const groupId = `${settings.topicPrefix}eventflow.${pipeline.name}`
    const sought = new Map<string, bigint>()
    const backoff = failureBackoff(pipeline.name)
    /** The partitions whose lag this instance reports: zeroed when they go to another instance. */
    const lagReported = new Map<string, TopicPartition>()

    if (pipeline.table.windowed.keyed.tables.length > 0) {
      yield* kafkaTables(pipeline, engine, kafka, settings)
    }

    const consumer: Consumer = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const consumer = kafka.consumer({
            groupId,
            sessionTimeout: settings.sessionTimeoutMs,
            rebalanceTimeout: settings.rebalanceTimeoutMs,
            heartbeatInterval: Math.max(500, Math.floor(settings.sessionTimeoutMs / 10)),
            maxWaitTimeInMs: 100,
            maxBytesPerPartition: 4 * 1024 * 1024,
            maxBytes: 16 * 1024 * 1024
          })
          await consumer.connect()
          return consumer
        },
        catch: (cause) =>
          new BackendUnavailable({
            backend: "eventlog",
            message: `cannot connect to Kafka: ${String(cause)}`,
            cause
          })
      }),
      (consumer) => Effect.promise(() => consumer.disconnect().catch(() => undefined))
    )
    // A new assignment: state moves through Postgres, so every assigned partition is loaded again
    // from its checkpoint, and read from the checkpoint's offset (whatever Kafka's committed offset says).
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      const assignment = event.payload.memberAssignment as Record<string, ReadonlyArray<number>>
      const partitions = Object.entries(assignment).flatMap(([topic, numbers]) =>
        numbers.map((partition) => ({ topic, partition }))
      )
      M.streamRebalances(pipeline.name).unsafeUpdate(1, [])
      M.streamAssignedPartitions(pipeline.name).unsafeUpdate(partitions.length, [])
      const kept = new Set(partitions.map((tp) => `${tp.topic}/${tp.partition}`))
      for (const [id, tp] of lagReported) {
        if (kept.has(id)) continue
        // Its new owner reports it now; a stale value here would look like lag that never drains.
        M.streamLag(pipeline.name, tp.topic, tp.partition).unsafeUpdate(0, [])
        lagReported.delete(id)
      }
      void inTurn(async () => {
        await settle()
        engine.drop("all")
        sought.clear()
        await claimAndSeek(partitions)
      })
    })

    /** Loads partitions from their checkpoints and points the consumer at their stored offsets. */
    const claimAndSeek = async (partitions: ReadonlyArray<TopicPartition>) => {
      await run(
        engine
          .claim(partitions)
          .pipe(
            Effect.catchAll((error) =>
              Effect.logWarning(
                `pipeline '${pipeline.name}': cannot load its partitions yet: ${error.message}`
              )
            )
          )
      )
      for (const tp of partitions) {
        const next = engine.readOffset(tp)
        if (next !== undefined)
          consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(next) })
      }
    }

    const commitKafkaOffsets = async () => {
      // For lag monitoring only: the offsets that count are in Postgres.
      const offsets = engine.assigned.map((tp) => ({
        topic: tp.topic,
        partition: tp.partition,
        offset: String(engine.nextOffset(tp))
      }))
      if (offsets.length > 0) await consumer.commitOffsets(offsets).catch(() => undefined)
    }
    const checkpoint = async () => {
      await run(
        engine.checkpoint().pipe(
          Effect.tap(() => backoff.succeeded()),
          Effect.asVoid,
          Effect.catchAll((error) => backoff.failed(error))
        )
      )
      await commitKafkaOffsets()
    }
    // One checkpoint at a time, written while the next records are processed: the longer one
    // takes, the more the next one carries (natural batching under load).
    let inflight: Promise<void> | undefined
    const startCheckpoint = () => {
      if (inflight === undefined) {
        inflight = checkpoint().finally(() => {
          inflight = undefined
        })
      }
      return inflight
    }
    const settle = async () => {
      while (inflight !== undefined) await inflight
    }

    yield* Effect.tryPromise({
      try: () =>
        consumer.subscribe({
          topics: [...sources.literal, ...sources.patterns],
          fromBeginning: true
        }),
      catch: (cause) =>
        new BackendUnavailable({ backend: "eventlog", message: `cannot subscribe: ${String(cause)}`, cause })
    })
    yield* Effect.tryPromise({
      try: () =>
        consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: ({ batch, resolveOffset, heartbeat, isStale }) =>
            inTurn(async () => {
              if (isStale() || batch.messages.length === 0) return
              const tp = { topic: batch.topic, partition: batch.partition }
              if (!engine.has(tp)) {
                // PostgreSQL down: pause, and read this batch again once the partition loads.
                const loaded = await run(
                  engine.claim([tp]).pipe(
                    Effect.as(true),
                    Effect.catchAll((error) =>
                      backoff.failed(error, "cannot load its partition").pipe(Effect.as(false))
                    )
                  )
                )
                if (!loaded) {
                  consumer.seek({
                    topic: tp.topic,
                    partition: tp.partition,
                    offset: batch.messages[0]!.offset
                  })
                  return
                }
              }
              const next = engine.readOffset(tp)!
              const first = BigInt(batch.messages[0]!.offset)
              const id = `${tp.topic}/${tp.partition}`
              if (first > next && sought.get(id) !== next) {
                // Kafka's position is behind or ahead of the checkpoint: read from the checkpoint.
                sought.set(id, next)
                consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(next) })
                return
              }
              // kafkajs's messages are SourceRecords as they are (offset and timestamp as strings).
              if (tracing)
                await run(
                  handleTraced(
                    engine,
                    pipeline.name,
                    tp,
                    batch.messages,
                    batch.messages.map((m) => m.headers?.traceparent),
                    "kafka"
                  )
                )
              else engine.handle(tp, batch.messages)
              M.streamLag(pipeline.name, tp.topic, tp.partition).unsafeUpdate(Number(batch.offsetLag()), [])
              lagReported.set(id, tp)
              resolveOffset(batch.messages.at(-1)!.offset)
              if (engine.checkpointDue()) void startCheckpoint()
              // Backpressure: while a checkpoint is written, at most a few checkpoints' worth waits.
              if (inflight !== undefined && engine.pendingCount > 4 * settings.checkpointRecords)
                await inflight
              await heartbeat()
            })
        }),
      catch: (cause) =>
        new BackendUnavailable({
          backend: "eventlog",
          message: `the consumer failed: ${String(cause)}`,
          cause
        })
    })
    // Between batches (or when none come), a timer keeps checkpoints on time.
    let verifiedAt = Date.now()
    const timer = setInterval(
      () => {
        if (engine.checkpointDue()) void inTurn(async () => void startCheckpoint())
        else if (Date.now() - verifiedAt > 2_000) {
          verifiedAt = Date.now()
          void inTurn(async () => {
            await settle()
            // A partition reset by a replay (or taken over while idle) is dropped, then read from its stored offset.
            const lost = await run(engine.verifyOwnership().pipe(Effect.orElseSucceed(() => [])))
            for (const tp of lost) sought.delete(`${tp.topic}/${tp.partition}`)
            await claimAndSeek(lost)
          })
        }
      },
      Math.max(20, Math.min(settings.checkpointIntervalMs / 2, 250))
    )
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        clearInterval(timer)
        // A last checkpoint, so that a clean stop leaves nothing to redo.
        await inTurn(async () => {
          await settle()
          await checkpoint()
        })
      })
    )
    // kafkajs restarts its consumer after retriable errors; after any other it stops for good, and
    // so does this pipeline (the process exits non-zero, to be restarted), rather than idle unseen.
    return yield* Effect.async<never, BackendUnavailable>((resume) => {
      const remove = consumer.on(consumer.events.CRASH, (event) => {
        if (event.payload.restart) return
        resume(
          Effect.fail(
            new BackendUnavailable({
              backend: "eventlog",
              message: `pipeline '${pipeline.name}': the Kafka consumer stopped: ${String(event.payload.error)}`,
              cause: event.payload.error
            })
          )
        )
      })
      return Effect.sync(remove)
    })
  }).pipe(Effect.scoped)

/** Joined tables on Kafka: every instance reads each table topic whole, up to its end before processing starts. */
const kafkaTables = (pipeline: Pipeline, engine: PipelineEngine, kafka: Kafka, settings: StreamSettings) =>
  Effect.gen(function* () {
    const tables = pipeline.table.windowed.keyed.tables
    const topics = [...new Set(tables.map((t) => settings.topicPrefix + t.topic))]
    const admin = kafka.admin()
    const ends = yield* Effect.promise(async () => {
      await admin.connect()
      try {
        const all = await Promise.all(
          topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) }))
        )
        return new Map<string, bigint>(
          all.flatMap(({ topic, offsets }) =>
            offsets.map((o) => [`${topic}/${o.partition}`, BigInt(o.high)] as const)
          )
        )
      } finally {
        await admin.disconnect()
      }
    })
    const consumer = kafka.consumer({
      groupId: `eventflow.table.${pipeline.name}.${owner}.${Date.now()}`,
      maxWaitTimeInMs: 100
    })
    const caughtUp = new Set<string>()
    let ready: () => void = () => undefined
    const done = new Promise<void>((resolve) => {
      ready = resolve
    })
    const check = () => {
      if ([...ends].every(([id, high]) => high === 0n || caughtUp.has(id))) ready()
    }
    check()
    yield* Effect.acquireRelease(
      Effect.promise(async () => {
        await consumer.connect()
        await consumer.subscribe({ topics, fromBeginning: true })
        await consumer.run({
          eachBatch: async ({ batch }) => {
            const records = batch.messages.map((m) => ({
              offset: Number(m.offset),
              timestamp: Number(m.timestamp),
              key: m.key,
              value: m.value
            }))
            for (const source of tables) {
              if (settings.topicPrefix + source.topic === batch.topic) engine.updateTable(source, records)
            }
            const id = `${batch.topic}/${batch.partition}`
            const last = records.at(-1)
            if (last !== undefined && BigInt(last.offset + 1) >= (ends.get(id) ?? 0n)) caughtUp.add(id)
            check()
          }
        })
      }),
      () => Effect.promise(() => consumer.disconnect().catch(() => undefined))
    )
    yield* Effect.promise(() => done)
  })
