/** Composes the query service for a mode: which backends it reads, which probes it runs. */
import {
  HttpApiBuilder,
  type HttpApp,
  type HttpRouter,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { type Mode, makeRedisClient, readIngestStats } from "@eventflow/backends"
import { Problems } from "@eventflow/core"
import { migrateStream } from "@eventflow/stream"
import { Config, Duration, Effect, Layer, Option, type Redacted } from "effect"
import type { Redis } from "ioredis"
import { memoryCache, redisCache } from "./Cache.ts"
import { layerQueryApi } from "./Handlers.ts"
import { localIngestSource, makeLive, redisIngestSource } from "./Live.ts"
import { EventTail, makeEmbeddedLogView, makeKafkaLogView } from "./LogView.ts"
import type { QueryOptions } from "./QueryConfig.ts"
import { makeReadModel } from "./ReadModel.ts"
import { lagOf, type Probe, type ProbeResult, pingProbe, QueryService } from "./Service.ts"

export interface QueryRoles {
  /** Ingest runs in this process (`eventflow dev`): its numbers are read directly. */
  readonly ingestInProcess: boolean
  /** The pipelines run in this process. */
  readonly processInProcess: boolean
}

const SEED = 200

const ok = (detail: string): ProbeResult => ({ ok: true, detail })

/** The QueryService of a mode; needs the mode's SqlClient. */
export const layerQueryService = (mode: Mode, options: QueryOptions, roles: QueryRoles) =>
  Layer.scoped(
    QueryService,
    Effect.gen(function* () {
      const prefix = yield* Config.string("EVENTFLOW_TOPIC_PREFIX").pipe(Config.withDefault(""))
      yield* migrateStream
      const readModel = yield* makeReadModel
      const tail = new EventTail(options.tailSize)
      const redisUrl =
        mode._tag === "distributed" ? yield* Config.option(Config.redacted("REDIS_URL")) : Option.none()
      const redis: Redis | undefined = Option.isSome(redisUrl)
        ? yield* makeRedisClient(redisUrl.value as Redacted.Redacted<string>, Duration.seconds(2))
        : undefined
      const statsPrefix = yield* Config.string("EVENTFLOW_STATS_PREFIX").pipe(
        Config.withDefault("eventflow:stats:")
      )

      const { view: log, feed } =
        mode._tag === "embedded"
          ? yield* makeEmbeddedLogView(tail, prefix, SEED)
          : yield* makeKafkaLogView(tail, {
              brokers: mode.kafka.brokers,
              clientId: mode.kafka.clientId,
              connection: mode.kafka.connection,
              prefix,
              seed: SEED
            })
      yield* Effect.forkScoped(feed)

      const ingest =
        roles.ingestInProcess || redis === undefined
          ? yield* localIngestSource
          : redisIngestSource(redis, statsPrefix)
      const lag = Effect.gen(function* () {
        const pipelines = yield* readModel.positions
        const topics = yield* log.offsets([...new Set(pipelines.flatMap((p) => p.sources))])
        return lagOf(pipelines, topics).reduce((s, l) => s + l.lag, 0)
      })
      const live = yield* makeLive(readModel, tail, ingest, lag)
      // Window rows are kept at most 250 ms: long enough for a burst of the same question, short
      // enough to die young (answers kept a second are promoted out of V8's young generation, and
      // copying them made every collection three times longer at 500 requests/s).
      const localCache = memoryCache(Duration.millis(Math.min(Duration.toMillis(options.cacheTtl), 250)))
      const cache = redis === undefined ? localCache : redisCache(redis, "eventflow:query:", options.cacheTtl)
      const groupOf = (pipeline: string) =>
        `${mode._tag === "distributed" ? prefix : ""}eventflow.${pipeline}`

      const probes: Probe[] =
        mode._tag === "embedded"
          ? [pingProbe("database", readModel.ping)]
          : [
              pingProbe("kafka", log.ping),
              pingProbe("postgres", readModel.ping),
              ...(redis === undefined
                ? []
                : [
                    pingProbe(
                      "redis",
                      Effect.tryPromise({
                        try: () => redis.ping(),
                        catch: (e) => ({ message: `Redis is unavailable: ${(e as Error).message}` })
                      })
                    )
                  ])
            ]
      probes.push({ name: "query", kind: "service", check: Effect.succeed(ok("this process")) })
      probes.push({
        name: "ingest",
        kind: "service",
        check: roles.ingestInProcess
          ? Effect.succeed(ok("in this process"))
          : redis === undefined
            ? Effect.succeed({
                ok: false,
                error:
                  mode._tag === "embedded"
                    ? "not visible from a separate process in embedded mode (eventflow dev shows it)"
                    : "not visible from here: set REDIS_URL"
              })
            : readIngestStats(redis, statsPrefix).pipe(
                Effect.map((instances) =>
                  instances.length === 0
                    ? { ok: false, error: "no ingest instance has reported in the last 5 s" }
                    : ok(`${instances.length} instance(s)`)
                ),
                Effect.catchAll((e) => Effect.succeed({ ok: false, error: String(e) }))
              )
      })
      probes.push({
        name: "process",
        kind: "service",
        check: roles.processInProcess
          ? Effect.succeed(ok("in this process"))
          : mode._tag === "embedded"
            ? Effect.succeed({ ok: false, error: "not visible from here in embedded mode" })
            : Effect.gen(function* () {
                const pipelines = yield* readModel.positions
                if (pipelines.length === 0) return ok("no pipeline has run yet")
                const groups = yield* Effect.forEach(pipelines, (p) =>
                  Effect.map(log.group(groupOf(p.name)), (g) => ({ pipeline: p.name, group: g }))
                )
                const idle = groups.filter((g) => g.group === undefined || g.group.members === 0)
                const members = groups.reduce((s, g) => s + (g.group?.members ?? 0), 0)
                return idle.length === 0
                  ? ok(`${members} consumer(s) over ${groups.length} pipeline(s)`)
                  : { ok: false, error: `no processor runs ${idle.map((g) => g.pipeline).join(", ")}` }
              }).pipe(
                Effect.catchAll((e) =>
                  Effect.succeed({ ok: false, error: (e as { message: string }).message })
                )
              )
      })
      return { options, readModel, log, tail, live, cache, localCache, probes, groupOf }
    })
  )

/** The query API as an HttpApp, for the life of the scope; unknown paths answer a 404 problem. */
export const makeQueryApp = (options: QueryOptions) =>
  Effect.gen(function* () {
    const app = yield* HttpApiBuilder.httpApp.pipe(
      Effect.provide(
        Layer.mergeAll(
          layerQueryApi(options.corsOrigins),
          HttpApiBuilder.Router.Live,
          HttpApiBuilder.Middleware.layer
        )
      )
    )
    // The API's app types its errors as never; a path it has no route for still fails with RouteNotFound.
    return (app as HttpApp.Default<unknown, unknown>).pipe(
      Effect.catchIf(
        (error): error is { readonly _tag: "RouteNotFound" } =>
          (error as { readonly _tag?: string } | null)?._tag === "RouteNotFound",
        () =>
          Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
            HttpServerResponse.json(Problems.notFound(`no resource at ${request.method} ${request.url}`), {
              status: 404,
              contentType: "application/problem+json"
            })
          )
      )
    ) as HttpApp.Default<unknown, HttpRouter.HttpRouter.DefaultServices>
  })
