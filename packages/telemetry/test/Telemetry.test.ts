import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, FiberRef, HashSet } from "effect"
import { describe, expect, it } from "vitest"
import {
  batchSpanOptions,
  currentTraceparent,
  formatTraceparent,
  layerTracing,
  Metrics,
  makeLogger,
  metricsText,
  parseMetricsText,
  parseTraceparent,
  redact,
  routeOf
} from "../src/index.ts"

const KEY = `efk_0123456789ab_${"A".repeat(43)}`
const TOKEN = `efr_ba9876543210_${"b".repeat(40)}-_c`

describe("redact", () => {
  it("masks write keys, read tokens, credentials and URL passwords", () => {
    expect(redact(`key ${KEY} token ${TOKEN}`)).toBe("key efk_0123456789ab_*** token efr_ba9876543210_***")
    expect(redact("Authorization: Bearer abc.def-ghi")).toBe("Authorization: Bearer ***")
    expect(redact("basic dXNlcjpwYXNz")).toBe("basic ***")
    expect(redact("postgres://app:hunter2@db:5432/x and redis://:p%40ss@cache:6379")).toBe(
      "postgres://app:***@db:5432/x and redis://:***@cache:6379"
    )
    expect(redact("/v1/live?token=abc&x=1")).toBe("/v1/live?token=***&x=1")
    expect(redact("nothing secret here: 42")).toBe("nothing secret here: 42")
  })
})

describe("traceparent", () => {
  it("parses valid values and refuses invalid ones", () => {
    const value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    const span = parseTraceparent(value)!
    expect(span).toMatchObject({
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      sampled: true
    })
    expect(formatTraceparent(span)).toBe(value)
    expect(parseTraceparent(Buffer.from(value))?.spanId).toBe("00f067aa0ba902b7")
    expect(parseTraceparent([value, "junk"])?.spanId).toBe("00f067aa0ba902b7")
    expect(parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled).toBe(false)
    for (const bad of [
      undefined,
      null,
      42,
      "",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined()
    }
    // A later version may carry more fields.
    expect(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more")).toBeDefined()
  })

  it("makes the first traced record a batch's parent and the others links", () => {
    const a = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    const b = "00-4bf92f3577b34da6a3ce929d0e0e4737-00f067aa0ba902b8-01"
    const options = batchSpanOptions([undefined, "junk", a, a, b])
    expect(options.parent?.spanId).toBe("00f067aa0ba902b7")
    expect(options.links.map((l) => l.span.spanId)).toEqual(["00f067aa0ba902b8"])
    expect(batchSpanOptions([undefined]).parent).toBeUndefined()
  })

  it("is undefined with the tracer off, the current span's context with it on", async () => {
    expect(await Effect.runPromise(currentTraceparent.pipe(Effect.withTracerEnabled(false)))).toBeUndefined()
    // Effect's own tracer (on by default, exporting nowhere) writes no header either.
    expect(await Effect.runPromise(currentTraceparent.pipe(Effect.withSpan("native")))).toBeUndefined()
    const exporter = new InMemorySpanExporter()
    const value = await Effect.runPromise(
      currentTraceparent.pipe(
        Effect.withSpan("outer"),
        Effect.provide(layerTracing("test", new SimpleSpanProcessor(exporter)))
      )
    )
    expect(value).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  })
})

describe("logs", () => {
  it("are JSON lines with level, service, annotations, trace and span ids, and no secret", async () => {
    const lines: string[] = []
    const logger = makeLogger("ingest", "json", (line) => lines.push(line))
    const exporter = new InMemorySpanExporter()
    const ids = await Effect.runPromise(
      Effect.gen(function* () {
        yield* Effect.logInfo(`accepted with ${KEY}`)
        yield* Effect.logWarning("database postgres://app:hunter2@db/x is slow").pipe(
          Effect.annotateLogs("pipeline", "orders")
        )
        const span = yield* Effect.currentSpan
        return { traceId: span.traceId, spanId: span.spanId }
      }).pipe(
        Effect.withSpan("request"),
        Effect.locally(FiberRef.currentLoggers, HashSet.make(logger)),
        Effect.provide(layerTracing("test", new SimpleSpanProcessor(exporter)))
      )
    )
    expect(lines).toHaveLength(2)
    expect(lines.every((l) => l.endsWith("\n"))).toBe(true)
    const [first, second] = lines.map((l) => JSON.parse(l))
    expect(first).toMatchObject({
      level: "info",
      service: "ingest",
      message: "accepted with efk_0123456789ab_***",
      trace_id: ids.traceId,
      span_id: ids.spanId
    })
    expect(Date.parse(first.time)).not.toBeNaN()
    expect(second).toMatchObject({
      level: "warn",
      message: "database postgres://app:***@db/x is slow",
      pipeline: "orders"
    })
    expect(lines.join("")).not.toContain("hunter2")
  })

  it("have no trace ids when the tracer is off, and a readable form", async () => {
    const lines: string[] = []
    await Effect.runPromise(
      Effect.logError("boom", TOKEN).pipe(
        Effect.withSpan("x"),
        Effect.withTracerEnabled(false),
        Effect.locally(
          FiberRef.currentLoggers,
          HashSet.make(makeLogger("query", "text", (l) => lines.push(l)))
        )
      )
    )
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR boom efr_ba9876543210_\*\*\*\n$/)
  })
})

describe("metrics", () => {
  it("are Prometheus text with help, type and unit, only EventFlow's own", async () => {
    Metrics.ingestEvents("accepted").unsafeUpdate(2, [])
    Metrics.ingestAckDuration.unsafeUpdate(0.003, [])
    const text = await Effect.runPromise(metricsText)
    expect(text).toContain("# HELP eventflow_ingest_events_total Events answered by POST /v1/events")
    expect(text).toContain("# TYPE eventflow_ingest_events_total counter")
    expect(text).toContain("# TYPE eventflow_ingest_ack_duration_seconds histogram")
    expect(text).toContain("# UNIT eventflow_ingest_ack_duration_seconds seconds")
    expect(text).toContain('eventflow_ingest_ack_duration_seconds_bucket{le="0.005"}')
    expect(text).not.toMatch(/^effect_/m)
    const values = parseMetricsText(text)
    expect(values.get('eventflow_ingest_events_total{result="accepted"}')).toBeGreaterThanOrEqual(2)
    expect(values.get("eventflow_process_heap_used_bytes")).toBeGreaterThan(0)
    expect(values.get("eventflow_process_cpu_seconds_total")).toBeGreaterThan(0)
    const before = values.get('eventflow_ingest_events_total{result="accepted"}')!
    Metrics.ingestEvents("accepted").unsafeUpdate(5, [])
    const after = parseMetricsText(await Effect.runPromise(metricsText))
    expect(after.get('eventflow_ingest_events_total{result="accepted"}')).toBe(before + 5)
  })

  it("label requests by route template, never by raw path", () => {
    expect(routeOf("/v1/events")).toBe("/v1/events")
    expect(routeOf("/v1/pipelines/orders/results")).toBe("/v1/pipelines/{name}/results")
    expect(routeOf("/v1/pipelines/orders")).toBe("/v1/pipelines/{name}")
    expect(routeOf("/v1/pipelines/a/b/c")).toBe("/v1/*")
    expect(routeOf("/assets/index-abc123.js")).toBe("/*")
    expect(routeOf("/")).toBe("/*")
    expect(routeOf("/metrics")).toBe("/metrics")
  })
})
