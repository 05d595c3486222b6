/**
 * CloudEvents Kafka protocol binding, structured mode: the value is the event in the JSON format,
 * `content-type` says so, and the key is the event's partition key.
 */
import type { CloudEvent } from "./CloudEvent.ts"
import type { LogRecord } from "./EventLog.ts"

export const STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"

export const Headers = {
  contentType: "content-type",
  traceparent: "traceparent",
  tracestate: "tracestate",
  /** Why a record is in the DLQ: a short code (`invalid`, `schema`, `too-large`, `forbidden`). */
  reason: "eventflow-reason",
  /** The sentence that explains the reason. */
  error: "eventflow-error",
  /** The topic the event would have gone to, when known. */
  route: "eventflow-route",
  receivedAt: "eventflow-received-at",
  /** The pipeline that set a record aside (late or poison records). */
  pipeline: "eventflow-pipeline",
  /** Where a set-aside record was read: `topic/partition/offset`. */
  origin: "eventflow-origin"
} as const

/**
 * `traceparent`: the span that wrote the record (ingest's, when tracing is on). Without one the
 * event's own `traceparent` and `tracestate` extensions, when it has them, go in the headers.
 */
export const eventRecord = (
  topic: string,
  key: string,
  event: CloudEvent,
  value: Buffer,
  traceparent?: string
): LogRecord => {
  const headers: Record<string, string> = { [Headers.contentType]: STRUCTURED_CONTENT_TYPE }
  if (traceparent !== undefined) headers[Headers.traceparent] = traceparent
  else {
    if (typeof event.traceparent === "string") headers[Headers.traceparent] = event.traceparent
    if (typeof event.tracestate === "string") headers[Headers.tracestate] = event.tracestate
  }
  return { topic, key, value, headers }
}

/** Ingest rejects `invalid`, `schema` and `too-large`; pipelines set aside `late` and `poison` records. */
export type RejectionCode = "invalid" | "schema" | "too-large" | "late" | "poison"

export const dlqRecord = (
  topic: string,
  key: string | null,
  value: Buffer,
  code: RejectionCode,
  reason: string,
  receivedAt: string,
  route?: string
): LogRecord => ({
  topic,
  key,
  value,
  headers: {
    [Headers.contentType]: STRUCTURED_CONTENT_TYPE,
    [Headers.reason]: code,
    // Header values must stay small and single-line, without a NUL or a lone surrogate (which
    // PostgreSQL's jsonb, the embedded log's headers, refuses).
    [Headers.error]: reason.slice(0, 1000).replace(/[\p{Cc}\p{Cs}]+/gu, " "),
    [Headers.receivedAt]: receivedAt,
    ...(route !== undefined ? { [Headers.route]: route } : {})
  }
})
