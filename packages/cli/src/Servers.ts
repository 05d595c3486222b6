/** `eventflow dev` and `eventflow ingest`: compose the layers of a server role and launch them. */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { type HttpApp, type HttpRouter, HttpServer, HttpServerRequest } from "@effect/platform"
import {
  type Backends,
  layerBackends,
  layerPublishIngestStats,
  type Mode,
  ModeError,
  makeRedisClient,
  readMode
} from "@eventflow/backends"
import { IngestStats, makeIngestStats, WriteKeys } from "@eventflow/core"
import {
  type Ingest,
  IngestConfig,
  IngestCorsConfig,
  type IngestSettings,
  ingestRouter,
  ListenConfig,
  layerHttpApp,
  layerIngest,
  layerIngestCors,
  layerIngestSettings,
  layerReadiness,
  layerRoutesConfig,
  layerTopics,
  type Readiness,
  toApp
} from "@eventflow/ingest"
import {
  layerQueryService,
  layerSqlReadTokens,
  makeQueryApp,
  QueryConfig,
  type QueryService,
  type ReadTokens
} from "@eventflow/query"
import { LogConfig, type LogFormat, layerLogging, layerTracing } from "@eventflow/telemetry"
import { Cause, Config, ConfigError, Duration, Effect, Layer, Option, Redacted } from "effect"
import { describeMode, layerPipelines } from "./Stream.ts"

/** The dev key: EVENTFLOW_DEV_WRITE_KEY, else the one kept in the data directory, else a new one. */
const devKeyLayer = (dataDir: string) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const keys = yield* WriteKeys
      const fromEnv = yield* Config.option(Config.redacted("EVENTFLOW_DEV_WRITE_KEY"))
      const file = join(dataDir, "dev-write-key")
      let key: string | undefined = Option.isSome(fromEnv) ? Redacted.value(fromEnv.value) : undefined
      if (key === undefined && existsSync(file)) key = readFileSync(file, "utf8").trim()
      const created = yield* keys.create({
        source: "*",
        description: "embedded dev key",
        ...(key ? { key } : {})
      })
      // The key itself is never printed nor logged: it is in the file (readable by this user only).
      if (key === undefined) writeFileSync(file, `${created.key}\n`, { mode: 0o600 })
      yield* Effect.logInfo(
        Option.isSome(fromEnv)
          ? "Dev write key (any source): the one EVENTFLOW_DEV_WRITE_KEY sets"
          : `Dev write key (any source) in ${file}; set EVENTFLOW_DEV_WRITE_KEY to choose your own`
      )
    })
  )

/** The built dashboard, next to the packages: served at `/` when it exists. */
export const defaultDashboardDir = fileURLToPath(new URL("../../../dashboard/dist", import.meta.url))

const isLoopback = (host: string) => host === "127.0.0.1" || host === "localhost" || host === "::1"

/** In distributed mode ingest instances publish their numbers to Redis for the query service. */
const layerStatsPublisher = (mode: Mode) =>
  mode._tag === "embedded"
    ? Layer.empty
    : Layer.unwrapScoped(
        Effect.gen(function* () {
          const url = yield* Config.option(Config.redacted("REDIS_URL"))
          if (Option.isNone(url)) return Layer.empty
          const prefix = yield* Config.string("EVENTFLOW_STATS_PREFIX").pipe(
            Config.withDefault("eventflow:stats:")
          )
          const redis = yield* makeRedisClient(url.value, Duration.seconds(2))
          return layerPublishIngestStats(redis, prefix)
        })
      )

/** Paths the ingest API answers in `eventflow dev`; everything else is the query API's (and the dashboard's). */
const ingestPath = (url: string) => {
  const path = url.split("?", 1)[0]
  return path === "/v1/events" || path === "/healthz" || path === "/readyz" || path === "/openapi.json"
}

type AppServices = HttpRouter.HttpRouter.DefaultServices | IngestSettings | Ingest | Readiness

export const runServer = (role: "dev" | "ingest") =>
  Effect.gen(function* () {
    const mode = yield* readMode
    const settings = yield* IngestConfig
    const cors = yield* IngestCorsConfig
    const listen = yield* ListenConfig(role === "dev" ? "127.0.0.1" : "0.0.0.0")
    // Instances share their rate limits in Redis: a default limit without it would bind no one.
    if (mode._tag === "distributed" && settings.auth && settings.rateLimit.rate > 0) {
      if (Option.isNone(yield* Config.option(Config.string("REDIS_URL")))) {
        return yield* new ModeError({
          message:
            "EVENTFLOW_RATE_LIMIT is set, so REDIS_URL is required (distributed mode keeps limits in Redis)"
        })
      }
    }
    const backends = layerBackends(mode, {
      dedup: settings.dedup,
      embedded: "own",
      eventLog: true,
      rateLimiter: settings.auth
    })
    const stats = Layer.succeed(IngestStats, makeIngestStats())
    const services = Layer.mergeAll(layerIngest, layerReadiness, layerTopics).pipe(
      Layer.provideMerge(
        Layer.mergeAll(layerRoutesConfig, layerIngestSettings(settings), layerIngestCors(cors), stats)
      ),
      Layer.provideMerge(backends)
    )
    const devKey =
      role === "dev" && mode._tag === "embedded" && settings.auth ? devKeyLayer(mode.dataDir) : Layer.empty
    const banner = Layer.effectDiscard(
      HttpServer.addressFormattedWith((address) =>
        Effect.logInfo(
          `EventFlow ${role} listening on ${address.replace("127.0.0.1", "localhost")} (${describeMode(mode)})` +
            (role === "dev"
              ? `\n  dashboard: ${address.replace("127.0.0.1", "localhost")}/   API reference: /docs`
              : "")
        )
      )
    )
    // `eventflow dev` serves the query API and the dashboard on the same port.
    const queryOptions =
      role === "dev"
        ? yield* QueryConfig({ auth: !isLoopback(listen.host), dashboardDir: defaultDashboardDir })
        : undefined
    const app = Effect.gen(function* () {
      const ingestApp = yield* toApp(ingestRouter)
      if (queryOptions === undefined) return ingestApp as HttpApp.Default<unknown, AppServices>
      const queryApp = yield* makeQueryApp(queryOptions)
      return Effect.flatMap(
        HttpServerRequest.HttpServerRequest,
        (request): HttpApp.Default<unknown, AppServices> => (ingestPath(request.url) ? ingestApp : queryApp)
      )
    })
    // Only `eventflow dev` needs it (the ingest role's app never asks for the QueryService).
    const query = (
      queryOptions === undefined
        ? Layer.empty
        : Layer.merge(
            layerQueryService(mode, queryOptions, { ingestInProcess: true, processInProcess: true }),
            layerSqlReadTokens()
          )
    ) as Layer.Layer<QueryService | ReadTokens, unknown, Backends | IngestStats>
    const http = layerHttpApp(app, listen, settings.shutdownTimeout).pipe(
      Layer.provide(query),
      Layer.provideMerge(services)
    )
    // `eventflow dev` runs the pipelines too (the embedded log, or Kafka in distributed mode).
    const pipelines =
      role === "dev" ? (layerPipelines(mode) as Layer.Layer<never, unknown, Backends>) : Layer.empty
    const withBanner = Layer.mergeAll(banner, devKey, pipelines, layerStatsPublisher(mode)).pipe(
      Layer.provideMerge(http)
    )
    return yield* Layer.launch(withBanner)
  })

/** `eventflow query`: the query API (and the dashboard, when built) alone. */
export const runQueryServer = Effect.gen(function* () {
  const mode = yield* readMode
  const listen = yield* ListenConfig("0.0.0.0", 8081)
  const options = yield* QueryConfig({ auth: true, dashboardDir: defaultDashboardDir })
  const shutdownTimeout = yield* Config.duration("EVENTFLOW_SHUTDOWN_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(20))
  )
  const backends = layerBackends(mode, { dedup: false, embedded: "attach", eventLog: false })
  const query = Layer.merge(
    layerQueryService(mode, options, { ingestInProcess: false, processInProcess: false }),
    layerSqlReadTokens()
  ).pipe(Layer.provide(backends))
  const banner = Layer.effectDiscard(
    HttpServer.addressFormattedWith((address) =>
      Effect.logInfo(
        `EventFlow query listening on ${address} (${describeMode(mode)}; read tokens ${options.auth ? "required" : "not required"})`
      )
    )
  )
  const http = layerHttpApp(makeQueryApp(options), listen, shutdownTimeout).pipe(Layer.provide(query))
  return yield* Layer.launch(Layer.provideMerge(banner, http))
})

/**
 * What every server command runs in: its logger (JSON lines by default, readable lines for
 * `eventflow dev`) and its tracer (OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else off).
 */
export const withObservability =
  (service: string, defaultFormat: LogFormat) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.flatMap(
      Effect.orElseSucceed(LogConfig(defaultFormat), () => undefined),
      (settings) =>
        effect.pipe(
          Effect.provide(layerTracing(service)),
          // With JSON logs, a server that stops on an error says why in a JSON line and exits 1;
          // with readable logs the error goes on to the command's plain `eventflow: <sentence>`.
          (run) =>
            settings?.format !== "json"
              ? run
              : Effect.catchAllCause(run, (cause) =>
                  Cause.isInterruptedOnly(cause)
                    ? Effect.void
                    : Effect.logError(`eventflow ${service} stopped: ${reason(cause)}`).pipe(
                        Effect.zipRight(
                          Effect.sync(() => {
                            process.exitCode = 1
                          })
                        )
                      )
                ),
          Effect.provide(layerLogging(service, defaultFormat))
        )
    )

/** The sentence of a failure (its message), or the whole cause of a defect. */
const reason = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "None") return Cause.pretty(cause)
  const error = failure.value
  // A configuration error names the variable only in its string form.
  if (ConfigError.isConfigError(error)) return String(error)
  return error !== null &&
    typeof error === "object" &&
    "message" in error &&
    typeof error.message === "string"
    ? error.message
    : String(error)
}
