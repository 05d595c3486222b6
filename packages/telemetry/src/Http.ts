/**
 * HTTP observability for every service: `GET /metrics`, and a request counter and latency
 * histogram per route template (never the raw path: names in paths would make a series each).
 */
import { type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Exit } from "effect"
import * as M from "./Metrics.ts"
import { startProcessMetrics } from "./ProcessMetrics.ts"
import { METRICS_CONTENT_TYPE, metricsText } from "./Prometheus.ts"

/** The routes of ingest and query; `{name}` stands for one path segment. */
export const ROUTES: ReadonlyArray<string> = [
  "/v1/events",
  "/v1/events/recent",
  "/v1/pipelines",
  "/v1/pipelines/{name}",
  "/v1/pipelines/{name}/results",
  "/v1/pipelines/{name}/top",
  "/v1/pipelines/{name}/series",
  "/v1/alerts",
  "/v1/topics",
  "/v1/health",
  "/v1/live",
  "/healthz",
  "/readyz",
  "/metrics",
  "/openapi.json",
  "/openapi/query.json",
  "/docs"
]

const split = (path: string) => path.split("/").filter((s) => s !== "")
const templates = ROUTES.map((route) => ({ route, segments: split(route) }))

/** The route template a path matches; `/v1/*` for other API paths, `/*` for the rest (the dashboard's files). */
export const routeOf = (path: string): string => {
  const segments = split(path)
  for (const t of templates) {
    if (t.segments.length !== segments.length) continue
    if (t.segments.every((s, i) => s === segments[i] || (s.startsWith("{") && segments[i] !== "")))
      return t.route
  }
  return segments[0] === "v1" ? "/v1/*" : "/*"
}

const metricsResponse = Effect.map(metricsText, (text) =>
  HttpServerResponse.text(text, { contentType: METRICS_CONTENT_TYPE })
)

/** Serves `GET /metrics` and counts and times every other request of `app`. */
export const observeHttp = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> => {
  startProcessMetrics()
  return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const path = request.url.split("?", 1)[0]!
    if (path === "/metrics" && (request.method === "GET" || request.method === "HEAD")) {
      return Effect.tap(metricsResponse, (response) => record("/metrics", request.method, response.status, 0))
    }
    const started = performance.now()
    return Effect.onExit(app, (exit) =>
      Effect.sync(() =>
        record(
          routeOf(path),
          request.method,
          Exit.isSuccess(exit) ? exit.value.status : Exit.isInterrupted(exit) ? 499 : 500,
          started
        )
      )
    )
  })
}

const record = (route: string, method: string, status: number, started: number) => {
  M.httpRequests(route, method, status).unsafeUpdate(1, [])
  if (started > 0) M.httpDuration(route, method).unsafeUpdate((performance.now() - started) / 1000, [])
}
