/**
 * CORS of the write endpoint, closed by default: only the origins EVENTFLOW_INGEST_CORS_ORIGINS
 * lists may send events from a browser. `*` is refused, since a write key would then work from any page.
 * Without CORS a browser still sends a simple POST, but its page cannot read the answer; a preflight
 * (JSON, `Authorization`, `ce-*` headers) is refused, so the request itself is never sent.
 */
import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { commaList, problem } from "@eventflow/core"
import { Config, Context, Effect, Layer, Option } from "effect"

export interface IngestCorsOptions {
  /** Exact origins (`https://app.example.com`) whose pages may POST events; empty: none. */
  readonly origins: ReadonlyArray<string>
}

export class IngestCors extends Context.Tag("ingest/IngestCors")<IngestCors, IngestCorsOptions>() {}

const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/\s?#]+$/i

/** `EVENTFLOW_INGEST_CORS_ORIGINS`: comma-separated exact origins; empty (the default) is closed. */
export const IngestCorsConfig: Config.Config<IngestCorsOptions> = commaList(
  "EVENTFLOW_INGEST_CORS_ORIGINS"
).pipe(
  Config.validate({
    message:
      "EVENTFLOW_INGEST_CORS_ORIGINS may not be '*': any web page could then send events with a write key; list the exact origins that may (https://app.example.com, …)",
    validation: (origins) => !origins.includes("*")
  }),
  Config.validate({
    message:
      "EVENTFLOW_INGEST_CORS_ORIGINS lists origins as scheme://host[:port], without a path or a trailing slash (https://app.example.com)",
    validation: (origins) => origins.every((o) => ORIGIN.test(o))
  }),
  Config.map((origins) => ({ origins }))
)

export const layerIngestCors = (options: IngestCorsOptions) => Layer.succeed(IngestCors, options)
export const layerIngestCorsConfig = Layer.effect(
  IngestCors,
  Effect.map(IngestCorsConfig, (o) => o)
)

/** Headers a browser may send: auth, content type, trace context and the binary mode's `ce-*` attributes. */
const ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "traceparent",
  "tracestate",
  "ce-specversion",
  "ce-id",
  "ce-source",
  "ce-type",
  "ce-subject",
  "ce-time",
  "ce-dataschema"
]
const CE_HEADER = /^ce-[a-z0-9]+$/
const MAX_AGE = "600"

const allowedOrigin = (origins: ReadonlyArray<string>, origin: string | undefined) =>
  origin !== undefined && origins.includes(origin) ? origin : undefined

const originsOf = Effect.map(Effect.serviceOption(IngestCors), (cors) =>
  Option.isSome(cors) ? cors.value.origins : []
)

/** `OPTIONS /v1/events`: a preflight from a listed origin answers 204, any other 403. */
export const preflight = Effect.gen(function* () {
  const origins = yield* originsOf
  const request = yield* HttpServerRequest.HttpServerRequest
  const origin = request.headers.origin
  if (origin === undefined) {
    // Not a CORS request: what the path takes.
    return HttpServerResponse.empty({ status: 204, headers: { allow: "POST, OPTIONS" } })
  }
  const allowed = allowedOrigin(origins, origin)
  const method = request.headers["access-control-request-method"]
  if (allowed === undefined || (method !== undefined && method.toUpperCase() !== "POST")) {
    const detail =
      allowed === undefined
        ? origins.length === 0
          ? "browsers may not send events here: no origin is allowed (EVENTFLOW_INGEST_CORS_ORIGINS)"
          : `the origin ${origin} may not send events here (EVENTFLOW_INGEST_CORS_ORIGINS)`
        : "only POST may be sent to /v1/events"
    const body = problem(403, "cors-forbidden", "This origin may not send events from a browser", detail)
    return HttpServerResponse.text(JSON.stringify(body), {
      status: 403,
      contentType: "application/problem+json",
      headers: { vary: "Origin" }
    })
  }
  const requested = (request.headers["access-control-request-headers"] ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => CE_HEADER.test(h) && !ALLOWED_HEADERS.includes(h))
  return HttpServerResponse.empty({
    status: 204,
    headers: {
      "access-control-allow-origin": allowed,
      vary: "Origin",
      "access-control-allow-methods": "POST",
      "access-control-allow-headers": [...ALLOWED_HEADERS, ...new Set(requested)].join(", "),
      "access-control-max-age": MAX_AGE
    }
  })
})

/** A write answer with the CORS headers when the request's origin is listed, else as it is. */
export const withCors = <E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const origins = yield* originsOf
    const response = yield* handler
    if (origins.length === 0) return response
    const request = yield* HttpServerRequest.HttpServerRequest
    const allowed = allowedOrigin(origins, request.headers.origin)
    return HttpServerResponse.setHeaders(
      response,
      allowed === undefined
        ? { vary: "Origin" }
        : {
            "access-control-allow-origin": allowed,
            "access-control-expose-headers":
              "retry-after, www-authenticate, ratelimit-limit, ratelimit-remaining, ratelimit-reset",
            vary: "Origin"
          }
    )
  })
