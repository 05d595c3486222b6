/** The ingest HTTP API: POST /v1/events, /healthz, /readyz. Thin handlers over `Ingest`. */

import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { IngestStats, type Problem, Problems, WriteKeys } from "@eventflow/core"
import { Metrics as M } from "@eventflow/telemetry"
import { Duration, Effect, Option } from "effect"
import { presentedKey } from "./Auth.ts"
import { readBody } from "./Body.ts"
import { preflight, withCors } from "./Cors.ts"
import { decode } from "./Decode.ts"
import { Ingest } from "./Ingest.ts"
import { IngestSettings } from "./IngestConfig.ts"
import { ingestOpenApi } from "./OpenApi.ts"
import { rateLimitHeaders, rateLimitRefusal } from "./RateLimits.ts"
import { Readiness } from "./Readiness.ts"

export const problemResponse = (problem: Problem, headers: Record<string, string> = {}) =>
  HttpServerResponse.text(JSON.stringify(problem), {
    status: problem.status,
    contentType: "application/problem+json",
    headers
  })

const json = (body: unknown, status = 200) =>
  HttpServerResponse.text(JSON.stringify(body), { status, contentType: "application/json" })

const postEvents = Effect.gen(function* () {
  const started = performance.now()
  const settings = yield* IngestSettings
  const stats = yield* Effect.serviceOption(IngestStats)
  const ingest = yield* Ingest
  const keys = yield* Effect.serviceOption(WriteKeys)
  const request = yield* HttpServerRequest.HttpServerRequest
  const retryAfter = String(Math.ceil(Duration.toSeconds(settings.retryAfter)))
  const unavailable = (detail: string) =>
    problemResponse(Problems.unavailable(detail, Number(retryAfter)), { "retry-after": retryAfter })

  let key = Option.none<import("@eventflow/core").WriteKeyInfo>()
  if (settings.auth) {
    const presented = presentedKey(request.headers.authorization)
    const challenge = { "www-authenticate": 'Bearer realm="eventflow"' }
    if (presented === undefined) {
      return problemResponse(
        Problems.unauthorized(
          "send a write key as 'Authorization: Bearer <key>' (or Basic, the key as user)"
        ),
        challenge
      )
    }
    if (Option.isNone(keys))
      return yield* Effect.dieMessage("authentication is on but no WriteKeys is provided")
    const verified = yield* keys.value.verify(presented).pipe(Effect.either)
    if (verified._tag === "Left") return unavailable(verified.left.message)
    if (Option.isNone(verified.right)) {
      return problemResponse(Problems.unauthorized("the write key is unknown or revoked"), challenge)
    }
    key = verified.right
  }

  const body = yield* readBody(
    NodeHttpServerRequest.toIncomingMessage(request),
    settings.limits.maxBodyBytes
  ).pipe(Effect.either)
  if (body._tag === "Left") {
    const error = body.left
    if (error._tag === "BodyAborted") return problemResponse(Problems.badRequest(error.message))
    return problemResponse(
      Problems.tooLarge(
        error.declared !== undefined
          ? `the body has ${error.declared} bytes; the limit is ${error.limit}`
          : `the body is larger than the limit of ${error.limit} bytes`,
        { limit: error.limit }
      ),
      // The rest of the body is not read: the connection cannot be reused.
      { connection: "close" }
    )
  }
  const decoded = decode(request.headers, body.right, settings.limits)
  if (!decoded.ok) return problemResponse(decoded.problem)
  // The key's rate limit (cost: the request's events), before anything of it is claimed or produced.
  const admission = yield* ingest.admit(key, decoded.items.length).pipe(Effect.either)
  if (admission._tag === "Left") return unavailable(admission.left.cause.message)
  const refusal = rateLimitRefusal(admission.right)
  if (refusal !== undefined) return problemResponse(refusal.problem, refusal.headers)
  const limitHeaders = rateLimitHeaders(admission.right)
  return yield* ingest.ingest(decoded.items, key, decoded.raws).pipe(
    Effect.map((response) => {
      const seconds = (performance.now() - started) / 1000
      M.ingestAckDuration.unsafeUpdate(seconds, [])
      M.ingestBatchEvents.unsafeUpdate(decoded.items.length, [])
      if (response.accepted > 0) M.ingestEvents("accepted").unsafeUpdate(response.accepted, [])
      if (response.duplicate > 0) M.ingestEvents("duplicate").unsafeUpdate(response.duplicate, [])
      if (response.rejected > 0) M.ingestEvents("rejected").unsafeUpdate(response.rejected, [])
      if (response.retry > 0) M.ingestEvents("retry").unsafeUpdate(response.retry, [])
      if (Option.isSome(stats)) {
        stats.value.record({
          accepted: response.accepted,
          duplicates: response.duplicate,
          rejected: response.rejected,
          latencyMs: performance.now() - started
        })
      }
      return HttpServerResponse.setHeaders(json(response, 202), limitHeaders)
    }),
    Effect.catchTags({
      SourceForbidden: (e) =>
        Effect.succeed(
          problemResponse(
            Problems.forbidden(
              `this write key may write events of source '${e.keySource}', not '${e.source}'`,
              {
                source: e.source
              }
            )
          )
        ),
      IngestUnavailable: (e) => Effect.succeed(unavailable(e.cause.message))
    })
  )
})

const readyz = Effect.gen(function* () {
  const readiness = yield* Readiness
  const report = yield* readiness.check
  return json(report, report.ready ? 200 : 503)
})

const methodNotAllowed = (allowed: string) =>
  Effect.succeed(
    problemResponse(Problems.methodNotAllowed(`use ${allowed} on this path`), { allow: allowed })
  )

export const ingestRouter = HttpRouter.empty.pipe(
  HttpRouter.post("/v1/events", withCors(postEvents)),
  HttpRouter.options("/v1/events", preflight),
  HttpRouter.get("/v1/events", methodNotAllowed("POST")),
  HttpRouter.put("/v1/events", methodNotAllowed("POST")),
  HttpRouter.patch("/v1/events", methodNotAllowed("POST")),
  HttpRouter.del("/v1/events", methodNotAllowed("POST")),
  HttpRouter.get("/healthz", Effect.succeed(json({ status: "ok" }))),
  HttpRouter.get("/readyz", readyz),
  HttpRouter.get("/openapi.json", Effect.succeed(json(ingestOpenApi)))
)

/** The router as an app whose unknown paths answer a 404 problem. */
export const toApp = <E, R>(router: HttpRouter.HttpRouter<E, R>) =>
  Effect.map(HttpRouter.toHttpApp(router), (app) =>
    app.pipe(
      Effect.catchTag("RouteNotFound", () =>
        Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
          problemResponse(Problems.notFound(`no resource at ${request.method} ${request.url}`))
        )
      )
    )
  )
