/**
 * Tracing: Effect's spans become OpenTelemetry spans, exported over OTLP/HTTP when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; with neither,
 * the tracer is off and spans cost next to nothing. The W3C trace context crosses Kafka in the
 * `traceparent` record header (https://www.w3.org/TR/trace-context/).
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Config, Effect, FiberRef, Layer, Option, Tracer } from "effect"

export interface TracingSettings {
  /** Where spans go: OTLP/HTTP, the traces path included. None: tracing is off. */
  readonly tracesUrl: Option.Option<string>
  readonly serviceName: Option.Option<string>
}

/** `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`. */
export const TracingConfig: Config.Config<TracingSettings> = Config.all({
  traces: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
  base: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")),
  serviceName: Config.option(Config.nonEmptyString("OTEL_SERVICE_NAME"))
}).pipe(
  Config.map(({ traces, base, serviceName }) => ({
    tracesUrl: Option.orElse(traces, () => Option.map(base, (url) => `${url.replace(/\/+$/, "")}/v1/traces`)),
    serviceName
  }))
)

/**
 * The tracing layer of a service: OTLP export when configured, `spanProcessor` instead when given
 * (tests pass an in-memory exporter's), else the tracer turned off.
 */
export const layerTracing = (service: string, spanProcessor?: SpanProcessor) =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const settings = yield* TracingConfig
      if (spanProcessor === undefined && Option.isNone(settings.tracesUrl)) {
        return Layer.setTracerEnabled(false)
      }
      const processor =
        spanProcessor ??
        // Sampling follows OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (the SDK reads them);
        // the exporter reads the endpoint and OTEL_EXPORTER_OTLP_HEADERS (an API key, say) itself.
        new BatchSpanProcessor(new OTLPTraceExporter())
      const sdk = NodeSdk.layer(() => ({
        resource: {
          serviceName: Option.getOrElse(settings.serviceName, () => `eventflow-${service}`),
          serviceVersion: "0.1.0"
        },
        spanProcessor: processor
      }))
      return Layer.merge(sdk, Layer.scopedDiscard(Effect.locallyScoped(exporting, true)))
    })
  )

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** The span a `traceparent` value names, or undefined when it is not a valid one. */
export const parseTraceparent = (value: unknown): Tracer.ExternalSpan | undefined => {
  // Kafka headers may repeat: the first counts.
  const first = Array.isArray(value) ? value[0] : value
  if (typeof first !== "string" && !(first instanceof Uint8Array)) return undefined
  const text = typeof first === "string" ? first : Buffer.from(first).toString("latin1")
  const match = TRACEPARENT.exec(text.trim())
  if (match === null) return undefined
  const [, version, traceId, spanId, flags, rest] = match
  // Version ff is invalid; version 00 has nothing after the flags; all-zero ids are invalid.
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined
  return Tracer.externalSpan({
    traceId: traceId!,
    spanId: spanId!,
    sampled: (Number.parseInt(flags!, 16) & 1) === 1
  })
}

export const formatTraceparent = (span: { traceId: string; spanId: string; sampled: boolean }) =>
  `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

/** True under `layerTracing` with an exporter; Effect's own tracer (on by default) does not count. */
const exporting = FiberRef.unsafeMake(false)

/** Whether spans are exported (a tracing layer with an exporter is in place and the tracer is on). */
export const tracingEnabled: Effect.Effect<boolean> = Effect.zipWith(
  FiberRef.get(exporting),
  FiberRef.get(FiberRef.currentTracerEnabled),
  (a, b) => a && b
)

/** The current span as a `traceparent` value, when spans are exported and one is current. */
export const currentTraceparent: Effect.Effect<string | undefined> = Effect.flatMap(
  tracingEnabled,
  (enabled) =>
    enabled
      ? Effect.map(Effect.option(Effect.currentSpan), (span) =>
          Option.isSome(span) ? formatTraceparent(span.value) : undefined
        )
      : Effect.succeed(undefined)
)

/**
 * The parent and links of a span that handles records of several traces at once (a batch): the
 * first record's context is the parent (so its trace shows the processing), the others are
 * links, at most `maxLinks`.
 */
export const batchSpanOptions = (
  traceparents: Iterable<unknown>,
  maxLinks = 32
): { parent?: Tracer.AnySpan; links: Array<Tracer.SpanLink> } => {
  const [first, ...links] = traceLinks(traceparents, maxLinks + 1)
  return first === undefined ? { links } : { parent: first.span, links }
}

/** Links to the distinct valid trace contexts among `values` (at most `max`). */
export const traceLinks = (values: Iterable<unknown>, max = 32): Array<Tracer.SpanLink> => {
  const links: Array<Tracer.SpanLink> = []
  const seen = new Set<string>()
  for (const value of values) {
    const span = parseTraceparent(value)
    if (span === undefined || seen.has(span.spanId)) continue
    seen.add(span.spanId)
    links.push({ _tag: "SpanLink", span, attributes: {} })
    if (links.length >= max) break
  }
  return links
}
