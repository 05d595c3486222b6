/** The handlers of the query API, its auth middleware, and the app that serves it with the dashboard. */
import { existsSync, statSync } from "node:fs"
import { extname, join, normalize, resolve, sep } from "node:path"
import {
  HttpApiBuilder,
  type HttpApiError,
  HttpApiScalar,
  type HttpApp,
  HttpServerRequest,
  HttpServerResponse,
  OpenApi
} from "@effect/platform"
import { Problems } from "@eventflow/core"
import { Effect, Layer, Option, Redacted, Stream } from "effect"
import { problems, QueryApi, ReadAuth } from "./Api.ts"
import { ReadTokens } from "./ReadTokens.ts"
import { checkAll, lagOf, QueryService } from "./Service.ts"

// --- parameters: a plain sentence for each mistake --------------------------------------------

const int = (name: string, value: string | undefined, fallback: number, min: number, max: number) => {
  if (value === undefined || value === "") return Effect.succeed(fallback)
  const n = Number(value)
  return Number.isInteger(n) && n >= min && n <= max
    ? Effect.succeed(n)
    : Effect.fail(problems.badRequest(`${name} must be a whole number from ${min} to ${max}, not '${value}'`))
}

const time = (name: string, value: string | undefined) => {
  if (value === undefined || value === "") return Effect.succeed(undefined)
  const ms = /^-?\d+$/.test(value) ? Number(value) : Date.parse(value)
  // Within the range of a Date (±8.64e15 ms): a larger number overflows the read model's bigint.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15
    ? Effect.succeed(ms)
    : Effect.fail(
        problems.badRequest(`${name} must be an ISO 8601 time or epoch milliseconds, not '${value}'`)
      )
}

/** A text parameter PostgreSQL can compare: it cannot hold a NUL (no key or name has one). */
const text = (name: string, value: string | undefined) =>
  value?.includes("\u0000")
    ? Effect.fail(problems.badRequest(`${name} must not contain a NUL character`))
    : Effect.succeed(value)

const unavailable = (e: { readonly message: string }) => problems.unavailable(e.message)

const knownPipeline = (name: string) =>
  Effect.gen(function* () {
    const { readModel } = yield* QueryService
    const definition = yield* readModel.definition(name).pipe(Effect.mapError(unavailable))
    if (definition === undefined) {
      return yield* Effect.fail(problems.notFound(`no pipeline named '${name}' has run here`))
    }
    return definition
  })

const fieldOf = (
  definition: { readonly name: string; readonly aggregates: ReadonlyArray<{ readonly name: string }> },
  field: string
) =>
  definition.aggregates.some((a) => a.name === field)
    ? Effect.succeed(field)
    : Effect.fail(
        problems.badRequest(
          `'${field}' is not an aggregate of ${definition.name}; it has ${definition.aggregates.map((a) => a.name).join(", ")}`
        )
      )

// --- groups ----------------------------------------------------------------------------------

/** The pipelines with their lag; every topic's offsets when `allTopics`, else only their sources'. */
const pipelinesAndLag = (allTopics: boolean) =>
  Effect.gen(function* () {
    const { readModel, log } = yield* QueryService
    const pipelines = yield* readModel.pipelines
    const topics = allTopics
      ? yield* log.topics
      : yield* log.offsets([...new Set(pipelines.flatMap((p) => p.sources))])
    return { pipelines, topics, lag: lagOf(pipelines, topics) }
  })

export const layerPipelinesGroup = HttpApiBuilder.group(QueryApi, "pipelines", (handlers) =>
  handlers
    .handle("list", () =>
      Effect.gen(function* () {
        const { cache } = yield* QueryService
        return yield* cache.get(
          "pipelines",
          Effect.map(pipelinesAndLag(false), ({ pipelines, lag }) => ({
            pipelines: pipelines.map(({ positions: _p, ...p }) => ({
              ...p,
              lag: lag.find((l) => l.pipeline === p.name)?.lag ?? null
            }))
          }))
        )
      }).pipe(Effect.mapError(unavailable))
    )
    .handle("results", ({ path, urlParams }) =>
      Effect.gen(function* () {
        const { readModel, localCache } = yield* QueryService
        const limit = yield* int("limit", urlParams.limit, 1000, 1, 10_000)
        const from = yield* time("from", urlParams.from)
        const to = yield* time("to", urlParams.to)
        const order = urlParams.order ?? "asc"
        if (order !== "asc" && order !== "desc")
          return yield* Effect.fail(problems.badRequest(`order must be asc or desc, not '${order}'`))
        const rowKey = yield* text("key", urlParams.key)
        const { window } = yield* knownPipeline(path.name)
        const key = JSON.stringify([
          "results",
          path.name,
          rowKey ?? null,
          from ?? null,
          to ?? null,
          limit,
          order
        ])
        const rows = yield* localCache
          .get(key, readModel.results(path.name, { key: rowKey, from, to, limit, order, window }))
          .pipe(Effect.mapError(unavailable))
        // The rows come from the read model already in their wire shape: sent as they are, not
        // re-encoded through the schema (the hottest endpoint; the schema still documents them).
        return HttpServerResponse.unsafeJson({ pipeline: path.name, rows })
      })
    )
    .handle("top", ({ path, urlParams }) =>
      Effect.gen(function* () {
        const { readModel, cache } = yield* QueryService
        const limit = yield* int("limit", urlParams.limit, 10, 1, 1000)
        const from = yield* time("from", urlParams.from)
        const to = yield* time("to", urlParams.to)
        const field = yield* fieldOf(yield* knownPipeline(path.name), urlParams.field)
        const key = JSON.stringify(["top", path.name, field, from ?? null, to ?? null, limit])
        const top = yield* cache
          .get(key, readModel.top(path.name, { field, from, to, limit }))
          .pipe(Effect.mapError(unavailable))
        return { pipeline: path.name, field, ...top }
      })
    )
    .handle("series", ({ path, urlParams }) =>
      Effect.gen(function* () {
        const { readModel, cache } = yield* QueryService
        const limit = yield* int("limit", urlParams.limit, 120, 1, 10_000)
        const from = yield* time("from", urlParams.from)
        const to = yield* time("to", urlParams.to)
        const field = yield* fieldOf(yield* knownPipeline(path.name), urlParams.field)
        const key = JSON.stringify(["series", path.name, field, from ?? null, to ?? null, limit])
        const points = yield* cache
          .get(key, readModel.series(path.name, { field, from, to, limit }))
          .pipe(Effect.mapError(unavailable))
        return { pipeline: path.name, field, points }
      })
    )
)

const encoder = new TextEncoder()

/** The SSE response: `hello`, the ticks missed since Last-Event-ID, then each new tick. */
const liveResponse = Effect.gen(function* () {
  const { live } = yield* QueryService
  const request = yield* HttpServerRequest.HttpServerRequest
  const lastEventId = request.headers["last-event-id"]
  const after =
    lastEventId !== undefined && /^\d+$/.test(lastEventId.trim()) ? Number(lastEventId) : undefined
  const hello = encoder.encode(
    `retry: 2000\nevent: hello\ndata: ${JSON.stringify({ serverTime: new Date().toISOString(), intervalMs: 1000, resumedAfter: after ?? null })}\n\n`
  )
  const stream = Stream.asyncPush<Uint8Array>(
    (emit) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          emit.single(hello)
          for (const frame of live.replay(after)) emit.single(frame)
          return live.subscribe((frame) => emit.single(frame))
        }),
        (unsubscribe) => Effect.sync(unsubscribe)
      ),
    // A client that cannot keep up loses its oldest ticks, never the server its memory.
    { bufferSize: 120, strategy: "sliding" }
  )
  return HttpServerResponse.stream(stream, {
    contentType: "text/event-stream",
    headers: {
      "cache-control": "no-cache, no-transform",
      "x-accel-buffering": "no",
      connection: "keep-alive"
    }
  })
})

export const layerFeedGroup = HttpApiBuilder.group(QueryApi, "feed", (handlers) =>
  handlers
    .handle("alerts", ({ urlParams }) =>
      Effect.gen(function* () {
        const { readModel } = yield* QueryService
        const limit = yield* int("limit", urlParams.limit, 100, 1, 1000)
        const pipeline = yield* text("pipeline", urlParams.pipeline)
        const alerts = yield* readModel.alerts({ pipeline, limit }).pipe(Effect.mapError(unavailable))
        return { alerts }
      })
    )
    .handle("recent", ({ urlParams }) =>
      Effect.gen(function* () {
        const { tail } = yield* QueryService
        const limit = yield* int("limit", urlParams.limit, 50, 1, 500)
        const type = urlParams.type === "" ? undefined : urlParams.type
        return { events: tail.recent(type, limit).map(({ seq: _seq, ...event }) => event) }
      })
    )
    .handle("topics", () =>
      Effect.gen(function* () {
        const { cache, groupOf } = yield* QueryService
        return yield* cache.get(
          "topics",
          Effect.map(pipelinesAndLag(true), ({ topics, lag }) => ({
            topics: topics.map((t) => ({
              name: t.name,
              partitions: t.partitions.map((p) => ({
                partition: p.partition,
                startOffset: String(p.startOffset),
                endOffset: String(p.endOffset)
              }))
            })),
            groups: lag.map((l) => ({
              group: groupOf(l.pipeline),
              pipeline: l.pipeline,
              lag: l.lag,
              partitions: l.partitions.map((p) => ({ ...p, offset: String(p.offset) }))
            }))
          }))
        )
      }).pipe(Effect.mapError(unavailable))
    )
    .handleRaw("live", () => liveResponse)
)

export const healthReport = Effect.gen(function* () {
  const { probes } = yield* QueryService
  const components = yield* checkAll(probes)
  const down = components.filter((c) => !c.ok)
  const backendDown = down.some((c) => c.kind === "backend")
  return {
    status:
      down.length === 0
        ? "ok"
        : backendDown && down.length === components.filter((c) => c.kind === "backend").length
          ? "down"
          : "degraded",
    checkedAt: new Date().toISOString(),
    components
  } as const
})

export const layerHealthGroup = HttpApiBuilder.group(QueryApi, "health", (handlers) =>
  handlers.handle("health", () => healthReport)
)

/** Read tokens, unless EVENTFLOW_QUERY_AUTH is off. */
export const layerReadAuth = Layer.effect(
  ReadAuth,
  Effect.gen(function* () {
    const { options } = yield* QueryService
    const tokens = yield* Effect.serviceOption(ReadTokens)
    if (options.auth && Option.isNone(tokens))
      return yield* Effect.dieMessage("query auth is on but no ReadTokens is provided")
    return ReadAuth.of({
      readToken: (presented) =>
        Effect.gen(function* () {
          if (!options.auth || Option.isNone(tokens)) return
          const token = Redacted.value(presented)
          if (token === "") {
            return yield* Effect.fail(
              problems.unauthorized(
                "send a read token as 'Authorization: Bearer <token>' (eventflow tokens create)"
              )
            )
          }
          const ok = yield* tokens.value
            .verify(token)
            .pipe(
              Effect.catchAll(() =>
                Effect.fail(problems.unauthorized("the token store is unavailable; try again"))
              )
            )
          if (!ok) return yield* Effect.fail(problems.unauthorized("the read token is unknown or revoked"))
        })
    })
  })
)

// --- extra routes: health probes, OpenAPI, reference page, dashboard -------------------------------

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
  ".map": "application/json"
}

/** Serves the built dashboard: hashed assets for a year, index.html never from a cache. */
const dashboardFile = (root: string) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = new URL(request.url, "http://x")
    let path: string
    try {
      path = decodeURIComponent(url.pathname)
    } catch {
      return HttpServerResponse.text("bad path", { status: 400 })
    }
    if (path.startsWith("/v1/")) {
      return yield* HttpServerResponse.json(
        Problems.notFound(`no resource at ${request.method} ${url.pathname}`),
        {
          status: 404,
          contentType: "application/problem+json"
        }
      )
    }
    const file = normalize(join(root, path))
    const inside = file === root || file.startsWith(root + sep)
    const isFile = inside && existsSync(file) && statSync(file).isFile()
    const target = isFile ? file : join(root, "index.html")
    if (!isFile && extname(path) !== "" && path !== "/") {
      return HttpServerResponse.text(`no file at ${url.pathname}`, { status: 404 })
    }
    const immutable = isFile && path.startsWith("/assets/")
    return yield* HttpServerResponse.file(target, {
      contentType: CONTENT_TYPES[extname(target)] ?? "application/octet-stream",
      headers: { "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" }
    })
  })

export const openApiDocument = OpenApi.fromApi(QueryApi)

export const layerExtraRoutes = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const service = yield* QueryService
    const { options } = service
    yield* router.get("/healthz", HttpServerResponse.json({ status: "ok" }))
    yield* router.get(
      "/readyz",
      Effect.gen(function* () {
        const report = yield* healthReport
        const ready = report.components.filter((c) => c.kind === "backend").every((c) => c.ok)
        return yield* HttpServerResponse.json(
          { ready, components: report.components },
          { status: ready ? 200 : 503 }
        )
      }).pipe(Effect.provideService(QueryService, service))
    )
    yield* router.get("/openapi/query.json", HttpServerResponse.json(openApiDocument))
    if (Option.isSome(options.dashboardDir)) {
      const root = resolve(options.dashboardDir.value)
      if (existsSync(join(root, "index.html"))) {
        yield* router.get("/", dashboardFile(root))
        yield* router.get("/*", dashboardFile(root))
      } else {
        yield* Effect.logWarning(
          `the dashboard is not built (no ${join(options.dashboardDir.value, "index.html")}): run npm run build -w dashboard`
        )
        yield* router.get(
          "/",
          HttpServerResponse.text(
            "The dashboard is not built: run `npm run build -w dashboard`, then reload.",
            {
              status: 503
            }
          )
        )
      }
    }
  })
)

/**
 * Parameters the endpoint's schema refuses (a missing `field`, a parameter given twice) answer the
 * same problem as the handlers' own checks, not the platform's bare decode error.
 */
export const layerDecodeProblems = HttpApiBuilder.middleware(
  (app) =>
    (app as HttpApp.Default<unknown>).pipe(
      Effect.catchIf(
        (error): error is HttpApiError.HttpApiDecodeError =>
          (error as { readonly _tag?: string } | null)?._tag === "HttpApiDecodeError",
        (error) => {
          const issue = error.issues[0]
          const detail =
            issue === undefined
              ? error.message
              : issue.message === "is missing"
                ? `the parameter '${issue.path.join(".")}' is missing`
                : `the parameter '${issue.path.join(".")}' is invalid: ${issue.message}`
          const { _tag, ...problem } = problems.badRequest(detail)
          return HttpServerResponse.json(problem, { status: 400, contentType: "application/problem+json" })
        }
      )
    ) as HttpApp.Default<never>
)

/** Every layer of the query API but the QueryService and the ReadTokens it needs. */
export const layerQueryApi = (corsOrigins: ReadonlyArray<string>) => {
  const api = HttpApiBuilder.api(QueryApi).pipe(
    Layer.provide([layerPipelinesGroup, layerFeedGroup, layerHealthGroup]),
    Layer.provide(layerReadAuth)
  )
  const cors =
    corsOrigins.length === 0
      ? Layer.empty
      : HttpApiBuilder.middlewareCors({
          allowedOrigins: corsOrigins.includes("*") ? [] : (origin: string) => corsOrigins.includes(origin),
          allowedMethods: ["GET", "HEAD", "OPTIONS"],
          allowedHeaders: ["authorization", "last-event-id", "content-type"],
          maxAge: 600
        })
  return Layer.mergeAll(
    layerExtraRoutes,
    HttpApiScalar.layer({ path: "/docs" }),
    cors,
    layerDecodeProblems
  ).pipe(Layer.provideMerge(api))
}
