/** `eventflow process`, `eventflow query` and `eventflow replay`, and the pipelines `eventflow dev` runs. */

import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import {
  type Backends,
  connectionConfig,
  DataDirConfig,
  type EmbeddedLogReader,
  layerBackends,
  type Mode,
  readMode,
  runningOwner
} from "@eventflow/backends"
import { EventLog } from "@eventflow/core"
import { ListenConfig, layerHttpApp, probe, toApp } from "@eventflow/ingest"
import { migrateStream, pipelineStatus, queryResults, resetPipeline } from "@eventflow/stream"
import {
  type LoadedPipelines,
  loadPipelines,
  PipelinesFolderConfig,
  runEmbedded,
  runKafka,
  StreamConfig,
  sourcesOf
} from "@eventflow/stream/runtime"
import { Config, Console, Data, Duration, Effect, Layer, Option, Redacted } from "effect"
import { Kafka, logLevel } from "kafkajs"

export class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

const loadConfigured = Effect.gen(function* () {
  const folder = yield* PipelinesFolderConfig
  return yield* loadPipelines(folder)
})

const describeLoaded = (loaded: LoadedPipelines) =>
  `${loaded.pipelines.length} pipeline(s) from ${loaded.folder}: ${loaded.pipelines.map((p) => p.name).join(", ")}` +
  (loaded.rules.length > 0 ? `; ${loaded.rules.length} alert rule(s)` : "")

/** Runs the loaded pipelines on the mode's log (needs the backends of the mode in context). */
export const runPipelines = (mode: Mode, loaded: LoadedPipelines) =>
  Effect.gen(function* () {
    const settings = yield* StreamConfig
    if (loaded.pipelines.length === 0) {
      yield* Effect.logInfo(`No pipelines in ${loaded.folder}.`)
      return yield* Effect.never
    }
    yield* Effect.logInfo(`Running ${describeLoaded(loaded)}`)
    return yield* mode._tag === "embedded"
      ? runEmbedded(loaded, settings)
      : runKafka(loaded, settings, mode.kafka)
  })

/** The layer `eventflow dev` adds: its pipelines, run in the background for the life of the server. */
export const layerPipelines = (mode: Mode) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const loaded = yield* loadConfigured
      yield* Effect.forkScoped(
        runPipelines(mode, loaded).pipe(
          Effect.tapErrorCause((cause) => Effect.logError("the pipelines stopped", cause))
        )
      )
    })
  )

/** A URL without its password (logs never carry one). */
const withoutPassword = (url: string) => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(an unparsable URL)"
  }
}

export const describeMode = (mode: Mode) =>
  mode._tag === "embedded"
    ? `embedded mode, data in ${mode.dataDir}`
    : `distributed mode, Kafka ${mode.kafka.brokers.join(",")}, PostgreSQL ${withoutPassword(Redacted.value(mode.databaseUrl))}`

const json = (body: unknown, status = 200) =>
  HttpServerResponse.text(JSON.stringify(body), { status, contentType: "application/json" })

/**
 * The HTTP side of `eventflow process`: `/healthz` (the process serves), `/readyz` (the event log
 * and PostgreSQL answer within 2 s each) and `/metrics`.
 */
const processRouter = HttpRouter.empty.pipe(
  HttpRouter.get("/healthz", Effect.succeed(json({ status: "ok" }))),
  HttpRouter.get(
    "/readyz",
    Effect.gen(function* () {
      const log = yield* EventLog
      const sql = yield* SqlClient.SqlClient
      const components = yield* Effect.all(
        [
          probe("eventlog", log.ping),
          probe(
            "database",
            sql`SELECT 1`.pipe(
              Effect.asVoid,
              Effect.mapError((error) => ({ message: `PostgreSQL: ${error.message}` }))
            )
          )
        ],
        { concurrency: "unbounded" }
      )
      const ready = components.every((c) => c.ok)
      return json({ ready, components }, ready ? 200 : 503)
    })
  )
)

/** `eventflow process`: the stream engine alone (consumer groups on Kafka, or the embedded log). */
export const processCommand = Effect.gen(function* () {
  const mode = yield* readMode
  const loaded = yield* loadConfigured
  const listen = yield* ListenConfig("0.0.0.0", 8082)
  const shutdownTimeout = yield* Config.duration("EVENTFLOW_SHUTDOWN_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(20))
  )
  const backends = layerBackends(mode, { dedup: false, embedded: "own", eventLog: true })
  const banner = Layer.effectDiscard(
    HttpServer.addressFormattedWith((address) =>
      Effect.logInfo(`EventFlow process: health and metrics on ${address} (${describeMode(mode)})`)
    )
  )
  const http = Layer.provideMerge(banner, layerHttpApp(toApp(processRouter), listen, shutdownTimeout))
  return yield* runPipelines(mode, loaded).pipe(
    Effect.provide(Layer.provideMerge(http, backends as Layer.Layer<Backends | EmbeddedLogReader, unknown>))
  )
})

/** The read model alone: attached to a running `eventflow dev` in embedded mode. */
const withReadModel = <A, E>(use: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.gen(function* () {
    const mode = yield* readMode
    const layer = layerBackends(mode, { dedup: false, embedded: "attach", eventLog: false })
    return yield* Effect.zipRight(migrateStream, use).pipe(
      Effect.provide(layer as Layer.Layer<SqlClient.SqlClient, unknown>)
    )
  })

const parseTime = (what: string, value: Option.Option<string>) =>
  Option.isNone(value)
    ? Effect.succeed(undefined)
    : Effect.suspend(() => {
        const ms = Date.parse(value.value)
        return Number.isNaN(ms)
          ? Effect.fail(new CliError({ message: `--${what} '${value.value}' is not an ISO 8601 time` }))
          : Effect.succeed(ms)
      })

const knownPipelines = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ name: string }>`SELECT name FROM eventflow_pipelines ORDER BY name`
  return rows.map((r) => r.name)
})

export interface QueryOptions {
  readonly key: Option.Option<string>
  readonly from: Option.Option<string>
  readonly to: Option.Option<string>
  readonly limit: number
  readonly json: boolean
}

/** `eventflow query <pipeline>`: the pipeline's rows, one JSON object per line with --json. */
export const queryCommand = (pipeline: string, options: QueryOptions) =>
  Effect.gen(function* () {
    const from = yield* parseTime("from", options.from)
    const to = yield* parseTime("to", options.to)
    if (!(options.limit > 0)) return yield* new CliError({ message: "--limit must be a positive number" })
    yield* withReadModel(
      Effect.gen(function* () {
        const known = yield* knownPipelines
        if (!known.includes(pipeline)) {
          return yield* new CliError({
            message: `no pipeline named '${pipeline}' has run here${known.length > 0 ? `; known: ${known.join(", ")}` : ""}`
          })
        }
        const rows = yield* queryResults(pipeline, {
          key: Option.getOrUndefined(options.key),
          from,
          to,
          limit: options.limit
        })
        for (const row of rows) {
          const line = {
            pipeline,
            key: row.key,
            windowStart: new Date(row.windowStart).toISOString(),
            windowEnd: new Date(row.windowEnd).toISOString(),
            final: row.final,
            values: row.values
          }
          if (options.json) yield* Console.log(JSON.stringify(line))
          else
            yield* Console.log(
              `${line.windowStart}  ${line.windowEnd}  ${row.final ? "final" : "open "}  ${row.key}  ${Object.entries(
                row.values
              )
                .map(([k, v]) => `${k}=${v}`)
                .join(" ")}`
            )
        }
        if (!options.json && rows.length === 0) yield* Console.log(`No rows for '${pipeline}' yet.`)
      })
    )
  })

/** `eventflow pipelines`: every pipeline's partitions, positions, watermarks and counters. */
export const pipelinesCommand = (json: boolean) =>
  withReadModel(
    Effect.gen(function* () {
      const names = yield* knownPipelines
      if (names.length === 0 && !json) yield* Console.log("No pipeline has run here yet.")
      for (const name of names) {
        const status = yield* pipelineStatus(name)
        const total = (field: "processed" | "late" | "poison" | "duplicates") =>
          status.partitions.reduce((n, p) => n + p[field], 0)
        const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())
        if (json) {
          yield* Console.log(
            JSON.stringify({
              pipeline: name,
              processed: total("processed"),
              late: total("late"),
              poison: total("poison"),
              duplicates: total("duplicates"),
              finalThrough: iso(status.finalizedThrough),
              partitions: status.partitions.map((p) => ({
                topic: p.topic,
                partition: p.partition,
                nextOffset: Number(p.nextOffset),
                watermark: iso(p.watermark),
                processed: p.processed,
                late: p.late,
                poison: p.poison,
                duplicates: p.duplicates,
                owner: p.owner
              }))
            })
          )
          continue
        }
        yield* Console.log(
          `${name}: ${total("processed").toLocaleString("en-US")} processed, ${total("late")} late, ${total("poison")} poison, ${total("duplicates")} duplicates dropped; final through ${iso(status.finalizedThrough) ?? "(nothing yet)"}`
        )
        for (const p of status.partitions) {
          yield* Console.log(
            `  ${p.topic}/${p.partition}  next offset ${p.nextOffset}  watermark ${iso(p.watermark) ?? "(no event yet)"}  ${p.processed} processed, ${p.late} late, ${p.poison} poison, ${p.duplicates} duplicates  (${p.owner ?? "no owner"})`
          )
        }
      }
    })
  )

/** The end offsets of the pipeline's source partitions now: what a replay must reach. */
const progressLine = (name: string, done: number, total: number) =>
  `replay ${name}: ${done.toLocaleString("en-US")} / ${total.toLocaleString("en-US")} records (${
    total === 0 ? 100 : Math.floor((done / total) * 100)
  }%)`

const sourceEnds = (mode: Mode, loaded: LoadedPipelines, name: string) =>
  Effect.gen(function* () {
    const settings = yield* StreamConfig
    const pipeline = loaded.pipelines.find((p) => p.name === name)!
    const sources = sourcesOf(pipeline, settings.topicPrefix)
    if (mode._tag === "embedded") {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ topic: string; next_offset: string }>`
        SELECT topic, next_offset FROM eventflow_partitions`
      return rows.filter((r) => sources.matches(r.topic)).reduce((n, r) => n + Number(r.next_offset), 0)
    }
    const kafka = new Kafka({
      clientId: mode.kafka.clientId,
      brokers: [...mode.kafka.brokers],
      ...connectionConfig(mode.kafka.connection),
      logLevel: logLevel.NOTHING
    })
    const admin = kafka.admin()
    return yield* Effect.tryPromise({
      try: async () => {
        await admin.connect()
        try {
          const topics = (await admin.listTopics()).filter(sources.matches)
          let total = 0
          for (const topic of topics) {
            for (const o of await admin.fetchTopicOffsets(topic)) total += Number(o.high)
          }
          return total
        } finally {
          await admin.disconnect()
        }
      },
      catch: (cause) => new CliError({ message: `cannot read the end offsets from Kafka: ${String(cause)}` })
    })
  })

/**
 * `eventflow replay <pipeline>`: deletes the pipeline's read model, state and positions, then
 * rebuilds them from the start of the log, showing progress. The instances running the pipeline
 * (a running `eventflow dev`, `eventflow process` instances) find their partitions gone and start
 * over with it; when none runs it, this command runs it until it has caught up.
 */
export const replayCommand = (name: string) =>
  Effect.gen(function* () {
    const mode = yield* readMode
    const loaded = yield* loadConfigured
    const pipeline = loaded.pipelines.find((p) => p.name === name)
    if (pipeline === undefined) {
      return yield* new CliError({
        message: `no pipeline named '${name}' in ${loaded.folder}; there are: ${loaded.pipelines.map((p) => p.name).join(", ")}`
      })
    }
    const only: LoadedPipelines = {
      ...loaded,
      pipelines: [pipeline],
      rules: loaded.rules.filter((r) => r.pipeline === name)
    }
    const devRunning = mode._tag === "embedded" && runningOwner(yield* DataDirConfig) !== undefined
    const backends = layerBackends(mode, {
      dedup: false,
      embedded: devRunning ? "attach" : "own",
      eventLog: !devRunning
    }) as Layer.Layer<Backends | EmbeddedLogReader, unknown>
    yield* Effect.gen(function* () {
      yield* migrateStream
      yield* resetPipeline(pipeline)
      yield* Console.log(
        `replay ${name}: read model, state and positions deleted; rebuilding from the start of the log`
      )
      const total = yield* sourceEnds(mode, loaded, name)
      const runner = devRunning ? Effect.never : runPipelines(mode, only)
      const watch = Effect.gen(function* () {
        let last = -1
        while (true) {
          const status = yield* pipelineStatus(name)
          const done = status.partitions.reduce((n, p) => n + Number(p.nextOffset), 0)
          if (done !== last) yield* Console.log(progressLine(name, Math.min(done, total), total))
          last = done
          if (done >= total && (total === 0 || status.partitions.length > 0)) break
          yield* Effect.sleep(Duration.seconds(1))
        }
        yield* Console.log(`replay ${name}: done`)
      })
      yield* Effect.raceFirst(watch, runner)
    }).pipe(Effect.provide(backends))
  })
