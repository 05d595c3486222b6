/**
 * `/metrics`: the Effect metric registry in the Prometheus text format (version 0.0.4). Effect's
 * OpenTelemetry producer reads the registry; OpenTelemetry's Prometheus serializer writes the text.
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import { PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import type { MetricProducer } from "@opentelemetry/sdk-metrics"
import { Effect } from "effect"
import { refreshProcessMetrics } from "./ProcessMetrics.ts"

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/** The unit a name's suffix says; Effect metrics carry none of their own. */
const unitOf = (name: string): string => {
  const base = name.endsWith("_total") ? name.slice(0, -6) : name
  if (base.endsWith("_seconds")) return "seconds"
  if (base.endsWith("_bytes")) return "bytes"
  if (base.endsWith("_ratio")) return "ratio"
  return ""
}

let producer: MetricProducer | undefined
// No target_info and no scope labels: Prometheus's job and instance labels say where a series is from.
const serializer = new PrometheusSerializer("", false, undefined, true, true)

/** Every metric of this process, as Prometheus text. */
export const metricsText: Effect.Effect<string> = Effect.suspend(() => {
  if (producer === undefined) {
    producer = Effect.runSync(OtelMetrics.makeProducer.pipe(Effect.provide(OtelResource.layerEmpty)))
  }
  refreshProcessMetrics()
  const current = producer
  return Effect.promise(async () => {
    const { resourceMetrics } = await current.collect()
    for (const scope of resourceMetrics.scopeMetrics) {
      // Only EventFlow's own: Effect's fiber metrics (unlabelled, undocumented) stay out.
      ;(scope as { metrics: typeof scope.metrics }).metrics = scope.metrics.filter((m) =>
        m.descriptor.name.startsWith("eventflow_")
      )
      for (const metric of scope.metrics) {
        ;(metric as { descriptor: object }).descriptor = {
          ...metric.descriptor,
          unit: unitOf(metric.descriptor.name)
        }
      }
    }
    return serializer.serialize(resourceMetrics)
  })
})

/** Parses Prometheus text into `name{labels} → value` (sorted labels), for tests and tools. */
export const parseMetricsText = (text: string): Map<string, number> => {
  const values = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (match === null) continue
    const labels = [...(match[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map((m) => `${m[1]}="${m[2]}"`)
      .sort()
    const value = match[4] === "+Inf" ? Number.POSITIVE_INFINITY : Number(match[4])
    values.set(labels.length === 0 ? match[1]! : `${match[1]}{${labels.join(",")}}`, value)
  }
  return values
}
