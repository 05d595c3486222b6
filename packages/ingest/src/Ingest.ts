/**
 * The ingestion protocol for one request: validate → authorize → route → dedup claim → append →
 * dedup commit (or release, then 503). A result per event; valid events are accepted even when
 * others of the batch are rejected.
 */
import {
  BackendUnavailable,
  type CloudEvent,
  DedupStore,
  dlqRecord,
  type EventIdentity,
  EventLog,
  effectiveRateLimit,
  eventRecord,
  Headers,
  identityKey,
  type LogRecord,
  type RateDecision,
  type RateLimit,
  RateLimiter,
  type RejectionCode,
  sourceAllowed,
  validate,
  type WriteKeyInfo
} from "@eventflow/core"
import { currentTraceparent, Metrics as M, traceLinks, tracingEnabled } from "@eventflow/telemetry"
import { Context, Data, Effect, Layer, Option } from "effect"
import { IngestSettings } from "./IngestConfig.ts"
import { Routes } from "./Routes.ts"

export type EventStatus = "accepted" | "duplicate" | "rejected" | "retry"

export interface EventResult {
  readonly index: number
  readonly status: EventStatus
  readonly id?: string
  readonly source?: string
  /** Where an accepted event went. */
  readonly topic?: string
  /** Why an event was rejected, or why it should be retried. */
  readonly reason?: string
}

export interface IngestResponse {
  readonly accepted: number
  readonly duplicate: number
  readonly rejected: number
  readonly retry: number
  readonly results: ReadonlyArray<EventResult>
}

/** A write key may only write events of its own sources. */
export class SourceForbidden extends Data.TaggedError("SourceForbidden")<{
  readonly source: string
  readonly keySource: string
}> {}

/** Nothing of the request was accepted: a backend failed. */
export class IngestUnavailable extends Data.TaggedError("IngestUnavailable")<{
  readonly cause: BackendUnavailable
}> {}

interface Candidate {
  readonly index: number
  readonly event: CloudEvent
  readonly identity: EventIdentity
  readonly record: LogRecord
  readonly topic: string
}

/** What a write key's rate limit says of a request of `cost` events. */
export type Admission =
  | { readonly _tag: "Unlimited" }
  | { readonly _tag: "Allowed"; readonly limit: RateLimit; readonly decision: RateDecision }
  | { readonly _tag: "Refused"; readonly limit: RateLimit; readonly decision: RateDecision }
  /** More events than the key's burst: this request can never pass; split it. */
  | { readonly _tag: "TooLarge"; readonly limit: RateLimit; readonly cost: number }

const unlimited: Admission = { _tag: "Unlimited" }

const encoder = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8")

export class Ingest extends Context.Tag("ingest/Ingest")<
  Ingest,
  {
    /** `key`: the verified write key, or none when authentication is off. */
    /** `raws`: the bytes each item came as, when known; a valid event is stored as sent. */
    readonly ingest: (
      items: ReadonlyArray<unknown>,
      key: Option.Option<WriteKeyInfo>,
      raws?: ReadonlyArray<Buffer | undefined>
    ) => Effect.Effect<IngestResponse, SourceForbidden | IngestUnavailable>
    /**
     * Takes `cost` events from the key's rate limit (its own, else the default), before anything of
     * the request is claimed or produced. Keys without a limit (and no key: auth off) never touch
     * the limiter. A limiter that fails refuses the request (503), as the dedup store does.
     */
    readonly admit: (
      key: Option.Option<WriteKeyInfo>,
      cost: number
    ) => Effect.Effect<Admission, IngestUnavailable>
  }
>() {}

/** Times a dedup store operation and counts its failures. */
const timed = <A, E, R>(operation: "claim" | "commit" | "release", effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const started = performance.now()
    return effect.pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          M.ingestDedupDuration(operation).unsafeUpdate((performance.now() - started) / 1000, [])
          if (exit._tag === "Failure") M.ingestDedupErrors(operation).unsafeUpdate(1, [])
        })
      )
    )
  })

export const makeIngest = Effect.gen(function* () {
  M.registerIngestMetrics()
  const routing = yield* Routes
  const settings = yield* IngestSettings
  const log = yield* EventLog
  const dedup = settings.dedup ? yield* Effect.serviceOption(DedupStore) : Option.none()
  if (settings.dedup && Option.isNone(dedup))
    return yield* Effect.dieMessage("dedup is on but no DedupStore is provided")
  const maxEventBytes = settings.limits.maxEventBytes
  const limiter = yield* Effect.serviceOption(RateLimiter)

  const admit = (
    key: Option.Option<WriteKeyInfo>,
    cost: number
  ): Effect.Effect<Admission, IngestUnavailable> =>
    Effect.suspend(() => {
      if (Option.isNone(key) || cost < 1) return Effect.succeed(unlimited)
      const { id, rateLimit, rateBurst } = key.value
      const limit = effectiveRateLimit({ rate: rateLimit, burst: rateBurst }, settings.rateLimit)
      if (limit === undefined) return Effect.succeed(unlimited)
      if (cost > limit.burst) {
        M.ingestRateLimited.unsafeUpdate(1, [])
        return Effect.succeed<Admission>({ _tag: "TooLarge", limit, cost })
      }
      if (Option.isNone(limiter)) {
        const message =
          "this write key has a rate limit, and no rate limiter runs here (distributed mode keeps limits in Redis: set REDIS_URL)"
        return Effect.fail(
          new IngestUnavailable({ cause: new BackendUnavailable({ backend: "ratelimit", message }) })
        )
      }
      return limiter.value.take(id, cost, limit).pipe(
        Effect.map((decision): Admission => {
          if (decision.allowed) return { _tag: "Allowed", limit, decision }
          M.ingestRateLimited.unsafeUpdate(1, [])
          return { _tag: "Refused", limit, decision }
        }),
        Effect.mapError((cause) => new IngestUnavailable({ cause })),
        Effect.withSpan("eventflow.ingest.ratelimit", {
          captureStackTrace: false,
          attributes: { events: cost }
        })
      )
    })

  const reject = (
    results: EventResult[],
    dlq: LogRecord[],
    index: number,
    raw: unknown,
    code: RejectionCode,
    reason: string,
    receivedAt: string,
    ids: { id?: string; source?: string },
    route?: string
  ) => {
    results[index] = { index, status: "rejected", ...ids, reason }
    let value = encoder(raw)
    if (value.length > maxEventBytes) {
      // Keep the DLQ record small: the attributes without the data that made it too large.
      const { data: _data, data_base64: _base64, ...attributes } = raw as Record<string, unknown>
      value = encoder(attributes)
      if (value.length > maxEventBytes) value = encoder({ id: ids.id, source: ids.source })
    }
    const key = ids.source ?? null
    dlq.push(dlqRecord(routing.dlqTopic, key, value, code, reason, receivedAt, route))
  }

  const ingest = (
    items: ReadonlyArray<unknown>,
    key: Option.Option<WriteKeyInfo>,
    raws?: ReadonlyArray<Buffer | undefined>
  ) =>
    Effect.gen(function* () {
      if (Option.isSome(key)) {
        for (const item of items) {
          const source = (item as { source?: unknown } | null)?.source
          if (typeof source === "string" && !sourceAllowed(key.value.source, source)) {
            return yield* new SourceForbidden({ source, keySource: key.value.source })
          }
        }
      }
      const receivedAt = new Date().toISOString()
      // The records carry this request's span, so a pipeline's processing joins its trace.
      const traceparent = yield* currentTraceparent
      const results: EventResult[] = new Array(items.length)
      const dlq: LogRecord[] = []
      const candidates: Candidate[] = []
      const firstOfIdentity = new Set<string>()
      yield* Effect.sync(() => {
        for (let index = 0; index < items.length; index++) {
          const raw = items[index]
          const checked = validate(raw)
          if (!checked.ok) {
            const ids = {
              ...(checked.id !== undefined ? { id: checked.id } : {}),
              ...(checked.source !== undefined ? { source: checked.source } : {})
            }
            reject(results, dlq, index, raw, "invalid", checked.reason, receivedAt, ids)
            continue
          }
          const event = checked.event
          const ids = { id: event.id, source: event.source }
          const route = routing.resolve(event.type)
          const dataProblem = route.checkData(event)
          if (dataProblem !== undefined) {
            reject(results, dlq, index, event, "schema", dataProblem, receivedAt, ids, route.topic)
            continue
          }
          const sent = raws?.[index]
          const value = sent !== undefined && !checked.normalized ? sent : encoder(event)
          if (value.length > maxEventBytes) {
            const reason = `the event has ${value.length} bytes; the limit is ${maxEventBytes}`
            reject(results, dlq, index, event, "too-large", reason, receivedAt, ids, route.topic)
            continue
          }
          const identity = { source: event.source, id: event.id }
          const identityId = identityKey("", identity)
          if (firstOfIdentity.has(identityId)) {
            results[index] = {
              index,
              status: "duplicate",
              ...ids,
              reason: "the same source and id came earlier in this batch"
            }
            continue
          }
          firstOfIdentity.add(identityId)
          const record = eventRecord(
            route.topic,
            routing.partitionKey(route, event),
            event,
            value,
            traceparent
          )
          candidates.push({ index, event, identity, record, topic: route.topic })
        }
      }).pipe(Effect.withSpan("eventflow.ingest.validate", { attributes: { events: items.length } }))

      let fresh = candidates
      let claimToken: string | undefined
      if (Option.isSome(dedup) && candidates.length > 0) {
        const claim = yield* timed("claim", dedup.value.claim(candidates.map((c) => c.identity))).pipe(
          Effect.withSpan("eventflow.ingest.dedup", { attributes: { events: candidates.length } })
        )
        claimToken = claim.token
        fresh = []
        candidates.forEach((candidate, i) => {
          const outcome = claim.outcomes[i]
          const ids = { id: candidate.event.id, source: candidate.event.source }
          M.ingestDedup(
            outcome === "claimed" || outcome === "duplicate" ? outcome : "in_flight"
          ).unsafeUpdate(1, [])
          if (outcome === "claimed") fresh.push(candidate)
          else if (outcome === "duplicate")
            results[candidate.index] = { index: candidate.index, status: "duplicate", ...ids }
          else {
            results[candidate.index] = {
              index: candidate.index,
              status: "retry",
              ...ids,
              reason: "another request with this event is in flight; send it again later"
            }
          }
        })
      }

      const records = dlq.length === 0 ? fresh.map((c) => c.record) : [...fresh.map((c) => c.record), ...dlq]
      if (records.length > 0) {
        const appendStarted = performance.now()
        yield* log.append(records).pipe(
          Effect.tap(() =>
            M.ingestProduceDuration.unsafeUpdate((performance.now() - appendStarted) / 1000, [])
          ),
          Effect.withSpan("eventflow.ingest.produce", { attributes: { records: records.length } }),
          Effect.tapError(() =>
            Option.isSome(dedup) && claimToken !== undefined && fresh.length > 0
              ? timed(
                  "release",
                  dedup.value.release(
                    claimToken,
                    fresh.map((c) => c.identity)
                  )
                ).pipe(
                  Effect.catchAll((error) =>
                    Effect.logWarning(
                      "could not release pending dedup keys; they expire by themselves",
                      error.message
                    )
                  )
                )
              : Effect.void
          )
        )
      }
      // Counted once they are in the log (a failed append answers 503 and keeps nothing).
      for (const record of dlq) M.ingestDlq(record.headers[Headers.reason] ?? "unknown").unsafeUpdate(1, [])
      if (Option.isSome(dedup) && claimToken !== undefined && fresh.length > 0) {
        // The events are in the log: a failure here only shortens how long they are remembered.
        yield* timed(
          "commit",
          dedup.value.commit(
            claimToken,
            fresh.map((c) => c.identity)
          )
        ).pipe(
          Effect.catchAll((error) =>
            Effect.logError(
              "events were stored but could not be marked done in the dedup store",
              error.message
            )
          )
        )
      }
      for (const candidate of fresh) {
        results[candidate.index] = {
          index: candidate.index,
          status: "accepted",
          id: candidate.event.id,
          source: candidate.event.source,
          topic: candidate.topic
        }
      }
      const counts = { accepted: 0, duplicate: 0, rejected: 0, retry: 0 }
      for (const result of results) counts[result.status]++
      yield* Effect.logDebug(
        `answered ${items.length} event(s): ${counts.accepted} accepted, ${counts.duplicate} duplicate, ${counts.rejected} rejected, ${counts.retry} retry`
      )
      return { ...counts, results } satisfies IngestResponse
    }).pipe(
      Effect.catchTag("BackendUnavailable", (cause) => {
        if (cause.backend === "eventlog") M.ingestProduceErrors.unsafeUpdate(1, [])
        return Effect.fail(new IngestUnavailable({ cause }))
      }),
      // Once claimed, a batch runs to its end even if the client goes away, so no claim is left dangling.
      Effect.uninterruptible,
      // The events' own trace contexts (the CloudEvents `traceparent` extension) are links.
      (effect) =>
        Effect.flatMap(tracingEnabled, (enabled) =>
          Effect.withSpan(effect, "eventflow.ingest", {
            captureStackTrace: false,
            kind: "producer",
            attributes: { events: items.length },
            links: enabled
              ? traceLinks(items.map((item) => (item as { traceparent?: unknown } | null)?.traceparent))
              : []
          })
        )
    )

  return Ingest.of({ ingest, admit })
})

export const layerIngest = Layer.effect(Ingest, makeIngest)
