/**
 * The ingestion protocol for one request: validate → authorize → route → dedup claim → append →
 * dedup commit (or release, then 503). A result per event; valid events are accepted even when
 * others of the batch are rejected.
 */
import {
  type BackendUnavailable,
  type CloudEvent,
  DedupStore,
  dlqRecord,
  type EventIdentity,
  EventLog,
  eventRecord,
  identityKey,
  type LogRecord,
  type RejectionCode,
  sourceAllowed,
  validate,
  type WriteKeyInfo
} from "@eventflow/core"
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
  }
>() {}

export const makeIngest = Effect.gen(function* () {
  const routing = yield* Routes
  const settings = yield* IngestSettings
  const log = yield* EventLog
  const dedup = settings.dedup ? yield* Effect.serviceOption(DedupStore) : Option.none()
  if (settings.dedup && Option.isNone(dedup))
    return yield* Effect.dieMessage("dedup is on but no DedupStore is provided")
  const maxEventBytes = settings.limits.maxEventBytes

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
      const results: EventResult[] = new Array(items.length)
      const dlq: LogRecord[] = []
      const candidates: Candidate[] = []
      const firstOfIdentity = new Set<string>()
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
        const record = eventRecord(route.topic, routing.partitionKey(route, event), event, value)
        candidates.push({ index, event, identity, record, topic: route.topic })
      }

      let fresh = candidates
      let claimToken: string | undefined
      if (Option.isSome(dedup) && candidates.length > 0) {
        const claim = yield* dedup.value.claim(candidates.map((c) => c.identity))
        claimToken = claim.token
        fresh = []
        candidates.forEach((candidate, i) => {
          const outcome = claim.outcomes[i]
          const ids = { id: candidate.event.id, source: candidate.event.source }
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
        yield* log.append(records).pipe(
          Effect.tapError(() =>
            Option.isSome(dedup) && claimToken !== undefined && fresh.length > 0
              ? dedup.value
                  .release(
                    claimToken,
                    fresh.map((c) => c.identity)
                  )
                  .pipe(
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
      if (Option.isSome(dedup) && claimToken !== undefined && fresh.length > 0) {
        // The events are in the log: a failure here only shortens how long they are remembered.
        yield* dedup.value
          .commit(
            claimToken,
            fresh.map((c) => c.identity)
          )
          .pipe(
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
      return { ...counts, results } satisfies IngestResponse
    }).pipe(
      Effect.catchTag("BackendUnavailable", (cause) => Effect.fail(new IngestUnavailable({ cause }))),
      // Once claimed, a batch runs to its end even if the client goes away, so no claim is left dangling.
      Effect.uninterruptible,
      Effect.withSpan("Ingest.ingest", { captureStackTrace: false, attributes: { events: items.length } })
    )

  return Ingest.of({ ingest })
})

export const layerIngest = Layer.effect(Ingest, makeIngest)
