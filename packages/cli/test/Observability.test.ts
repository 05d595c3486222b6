/**
 * Observability on the real Kafka, Redis and PostgreSQL: `/metrics` counters move by exactly the
 * traffic sent; one trace spans ingest and processing across the Kafka hop; readiness follows
 * Redis down and back; no log line holds a key, a token or a password.
 */

import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { layerTracing, parseMetricsText } from "@eventflow/telemetry"
import {
  describeWithServices,
  freePort,
  serviceUrls,
  startRedis,
  tempDir,
  uniquePrefix,
  waitFor
} from "@eventflow/testing"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { ConfigProvider, Effect, Fiber } from "effect"
import { expect, it, onTestFinished } from "vitest"
import { runServer } from "../src/Servers.ts"
import { postEvents, runEventflow, spawnEventflow, startEventflow } from "./support.ts"

const event = (id: string, extra: Record<string, unknown> = {}) => ({
  specversion: "1.0",
  id,
  source: "/fleet",
  type: "truck.moved",
  data: { km: 1 },
  ...extra
})

const scrape = async (port: number) => {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
  return parseMetricsText(await response.text())
}

const distributedEnv = (prefix: string) => ({
  KAFKA_BROKERS: serviceUrls.kafka,
  REDIS_URL: serviceUrls.redis,
  DATABASE_URL: serviceUrls.postgres,
  EVENTFLOW_TOPIC_PREFIX: prefix,
  EVENTFLOW_DEDUP_PREFIX: `eventflow-test:${prefix}`,
  EVENTFLOW_STATS_PREFIX: `eventflow-test:${prefix}:stats:`,
  EVENTFLOW_HOST: "127.0.0.1"
})

/** Starts `eventflow <args>`, stopped (SIGKILL) when the test ends. */
const started = async (args: string[], env: Record<string, string>, port: number) => {
  const running = await startEventflow(args, env, port)
  onTestFinished(() => {
    running.child.kill("SIGKILL")
  })
  return running
}

/** POSTs events as part of the client's trace `traceId` (its span `00f067aa0ba902b7`). */
const postTraced = (port: number, key: string, traceId: string, events: unknown[]) =>
  fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${key}`,
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`
    },
    body: JSON.stringify(events)
  })

const createKey = async (env: Record<string, string>) => {
  const created = await runEventflow(["keys", "create", "--source", "/fleet", "--json"], env)
  expect(created.code).toBe(0)
  return (JSON.parse(created.stdout) as { key: string }).key
}

/**
 * `eventflow dev` in this process (ingest, the pipelines and the query API) with an in-memory span
 * exporter: one request's trace, from the client's span to each pipeline's processing.
 */
const traceAcrossTheLog = async (mode: "distributed" | "embedded") => {
  const prefix = uniquePrefix("trace")
  const port = await freePort()
  const key = "efk_0123456789ab_trace-test-key-0000000000000000000000000000000"
  const env: Record<string, string> =
    mode === "distributed"
      ? distributedEnv(prefix)
      : { EVENTFLOW_DATA_DIR: tempDir("trace"), EVENTFLOW_TOPIC_PREFIX: prefix, EVENTFLOW_DEV_WRITE_KEY: key }
  const writeKey = mode === "distributed" ? await createKey(env) : key
  const exporter = new InMemorySpanExporter()
  const config = ConfigProvider.fromMap(new Map(Object.entries({ ...env, PORT: String(port) })))
  const spans = await Effect.runPromise(
    Effect.gen(function* () {
      const server = yield* Effect.fork(runServer("dev"))
      yield* Effect.promise(() =>
        waitFor(
          "eventflow dev to be ready",
          async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
          90_000
        )
      )
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
      const clientSpan = "00f067aa0ba902b7"
      const extension = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
      const response = yield* Effect.promise(() =>
        fetch(`http://127.0.0.1:${port}/v1/events`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${writeKey}`,
            traceparent: `00-${traceId}-${clientSpan}-01`
          },
          body: JSON.stringify([event("t1", { traceparent: extension }), event("t2")])
        })
      )
      expect(response.status).toBe(202)
      // A query: its SQL statements are spans of its request.
      const read = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/v1/pipelines`))
      expect(read.status).toBe(200)
      // Read the spans while the layer is up: the exporter forgets them when it shuts down.
      const found = yield* Effect.promise(() =>
        waitFor(
          "the processing spans of the request's trace",
          async () =>
            exporter
              .getFinishedSpans()
              .some((s) => s.name === "eventflow.consume" && s.spanContext().traceId === traceId) &&
            exporter.getFinishedSpans().some((s) => s.name === "eventflow.checkpoint"),
          60_000
        ).then(() => [...exporter.getFinishedSpans()])
      )
      yield* Fiber.interrupt(server)
      return { found, traceId, clientSpan, extension }
    }).pipe(
      Effect.provide(layerTracing("dev", new SimpleSpanProcessor(exporter))),
      Effect.withConfigProvider(config)
    )
  )
  const { found, traceId, clientSpan } = spans
  const byId = new Map(found.map((s) => [s.spanContext().spanId, s]))
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
  const ancestors = (s: ReadableSpan) => {
    const chain: string[] = []
    let parent = parentOf(s)
    while (parent !== undefined) {
      chain.push(parent)
      const next = byId.get(parent)
      parent = next === undefined ? undefined : parentOf(next)
    }
    return chain
  }
  const server = found.find((s) => s.name === "http.server POST" && s.spanContext().traceId === traceId)
  expect(server).toBeDefined()
  // The client's span is the server span's parent (the request's `traceparent` header).
  expect(parentOf(server!)).toBe(clientSpan)
  const ingestSpan = found.find((s) => s.name === "eventflow.ingest" && s.spanContext().traceId === traceId)!
  expect(ingestSpan).toBeDefined()
  expect(ingestSpan.links.map((l) => l.context.spanId)).toContain("b7ad6b7169203331")
  for (const name of ["eventflow.ingest.validate", "eventflow.ingest.dedup", "eventflow.ingest.produce"]) {
    const stage = found.find((s) => s.name === name && s.spanContext().traceId === traceId)
    expect(stage, name).toBeDefined()
    expect(parentOf(stage!)).toBe(ingestSpan.spanContext().spanId)
  }
  // Across Kafka: each pipeline's processing of the batch descends from the request's span.
  const consumed = found.filter((s) => s.name === "eventflow.consume" && s.spanContext().traceId === traceId)
  expect(consumed.length).toBeGreaterThan(0)
  for (const consume of consumed) {
    expect(ancestors(consume)).toEqual([
      ingestSpan.spanContext().spanId,
      server!.spanContext().spanId,
      clientSpan
    ])
    expect(consume.attributes["messaging.destination.name"]).toBe(`${prefix}events.default`)
    const aggregate = found.find(
      (s) => s.name === "eventflow.aggregate" && parentOf(s) === consume.spanContext().spanId
    )
    expect(aggregate).toBeDefined()
  }
  // A checkpoint links to the batches it made durable.
  const consumeIds = new Set(consumed.map((s) => s.spanContext().spanId))
  const checkpoints = found.filter((s) => s.name === "eventflow.checkpoint")
  const linked = checkpoints.filter((c) => c.links.some((l) => consumeIds.has(l.context.spanId)))
  expect(linked.length).toBeGreaterThan(0)
  // …and its SQL transaction and statements are its descendants.
  const checkpointIds = new Set(linked.map((c) => c.spanContext().spanId))
  expect(
    found.some((s) => s.name === "sql.execute" && ancestors(s).some((id) => checkpointIds.has(id)))
  ).toBe(true)
  const query = found.find(
    (s) => s.name === "http.server GET" && s.attributes["url.path"] === "/v1/pipelines"
  )
  expect(query).toBeDefined()
  expect(
    found.some((s) => s.name === "sql.execute" && ancestors(s).includes(query!.spanContext().spanId))
  ).toBe(true)
}

await describeWithServices(["kafka", "redis", "postgres"], "observability", () => {
  it("moves the /metrics counters of ingest and process by exactly the traffic sent", async () => {
    const prefix = uniquePrefix("metrics")
    const env = distributedEnv(prefix)
    const key = await createKey(env)
    const ingestPort = await freePort()
    const processPort = await freePort()
    await started(["ingest"], env, ingestPort)
    await started(["process"], env, processPort)
    const ingestBefore = await scrape(ingestPort)
    const processBefore = await scrape(processPort)
    const delta = (after: Map<string, number>, before: Map<string, number>, name: string) =>
      (after.get(name) ?? 0) - (before.get(name) ?? 0)

    // 3 requests: 12 new events with 2 invalid ones; 8 new; 5 sent again (duplicates) and 1 new.
    const first = await postEvents(ingestPort, key, [
      ...Array.from({ length: 12 }, (_, i) => event(`a${i}`)),
      { id: "broken-1" },
      { specversion: "1.0", id: "broken-2", source: "/fleet" }
    ])
    expect(first.body).toMatchObject({ accepted: 12, rejected: 2 })
    const second = await postEvents(
      ingestPort,
      key,
      Array.from({ length: 8 }, (_, i) => event(`b${i}`))
    )
    expect(second.body).toMatchObject({ accepted: 8 })
    const third = await postEvents(ingestPort, key, [
      ...Array.from({ length: 5 }, (_, i) => event(`a${i}`)),
      event("c0")
    ])
    expect(third.body).toMatchObject({ accepted: 1, duplicate: 5 })
    // A request refused whole: a wrong key.
    expect((await postEvents(ingestPort, "efk_000000000000_wrong", [event("z")])).status).toBe(401)

    const ingestAfter = await scrape(ingestPort)
    const moved = (name: string) => delta(ingestAfter, ingestBefore, name)
    const expected: Record<string, number> = {
      'eventflow_ingest_events_total{result="accepted"}': 21,
      'eventflow_ingest_events_total{result="duplicate"}': 5,
      'eventflow_ingest_events_total{result="rejected"}': 2,
      'eventflow_ingest_events_total{result="retry"}': 0,
      'eventflow_ingest_dlq_records_total{reason="invalid"}': 2,
      'eventflow_ingest_dedup_total{outcome="claimed"}': 21,
      'eventflow_ingest_dedup_total{outcome="duplicate"}': 5,
      'eventflow_ingest_dedup_duration_seconds_count{operation="claim"}': 3,
      'eventflow_ingest_dedup_duration_seconds_count{operation="commit"}': 3,
      eventflow_ingest_batch_events_count: 3,
      eventflow_ingest_batch_events_sum: 14 + 8 + 6,
      eventflow_ingest_ack_duration_seconds_count: 3,
      eventflow_ingest_produce_duration_seconds_count: 3,
      eventflow_ingest_produce_errors_total: 0,
      'eventflow_http_requests_total{method="POST",route="/v1/events",status="202"}': 3,
      'eventflow_http_requests_total{method="POST",route="/v1/events",status="401"}': 1,
      'eventflow_http_request_duration_seconds_count{method="POST",route="/v1/events"}': 4
    }
    expect(Object.fromEntries(Object.keys(expected).map((name) => [name, moved(name)]))).toEqual(expected)
    // Process metrics are there, with sane values.
    expect(ingestAfter.get("eventflow_process_heap_used_bytes")).toBeGreaterThan(1_000_000)
    expect(ingestAfter.get("eventflow_process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
    expect(ingestAfter.get('eventflow_process_event_loop_delay_seconds{quantile="0.99"}')).toBeGreaterThan(0)

    // The pipelines count the 21 accepted events once each, when their checkpoints commit.
    const records = 'eventflow_stream_records_total{pipeline="events-per-type"}'
    await waitFor("events-per-type to checkpoint the 21 events", async () => {
      const now = await scrape(processPort)
      return delta(now, processBefore, records) >= 21
    })
    await new Promise((r) => setTimeout(r, 1500))
    const processAfter = await scrape(processPort)
    expect(delta(processAfter, processBefore, records)).toBe(21)
    expect(
      delta(processAfter, processBefore, 'eventflow_stream_records_total{pipeline="active-users"}')
    ).toBe(21)
    expect(
      delta(
        processAfter,
        processBefore,
        'eventflow_stream_checkpoints_total{outcome="committed",pipeline="events-per-type"}'
      )
    ).toBeGreaterThan(0)
    expect(
      delta(processAfter, processBefore, 'eventflow_stream_late_events_total{pipeline="events-per-type"}')
    ).toBe(0)
    const lag = [...processAfter].filter(
      ([name]) =>
        name.startsWith(`eventflow_stream_lag_records{partition=`) &&
        name.includes(`pipeline="events-per-type"`)
    )
    expect(lag.length).toBeGreaterThan(0)
    for (const [, value] of lag) expect(value).toBe(0)
    expect(processAfter.get('eventflow_stream_rebalances_total{pipeline="events-per-type"}')).toBeGreaterThan(
      0
    )
  })

  it(
    "traces a request from ingest through Kafka into the pipelines' processing",
    () => traceAcrossTheLog("distributed"),
    150_000
  )

  it("traces a request through the embedded log the same way", () => traceAcrossTheLog("embedded"), 150_000)

  it("exports spans over OTLP/HTTP to the configured endpoint", async () => {
    const received: Array<{ path: string; type: string | undefined; body: string }> = []
    const collector = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => {
        body += chunk
      })
      request.on("end", () => {
        received.push({ path: request.url ?? "", type: request.headers["content-type"], body })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
    onTestFinished(() => {
      collector.close()
    })
    const collectorPort = (collector.address() as AddressInfo).port
    const prefix = uniquePrefix("otlp")
    const env = {
      ...distributedEnv(prefix),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
      OTEL_BSP_SCHEDULE_DELAY: "100"
    }
    const key = await createKey(env)
    const port = await freePort()
    await started(["ingest"], env, port)
    const traceId = "5bf92f3577b34da6a3ce929d0e0e4736"
    const response = await postTraced(port, key, traceId, [event("o1")])
    expect(response.status).toBe(202)
    // The batch span processor exports every 100 ms: a trace's spans may come in several exports.
    type Export = {
      resourceSpans: Array<{
        resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
        scopeSpans: Array<{ spans: Array<{ name: string; traceId: string }> }>
      }>
    }
    const traced = () =>
      received
        .filter((r) => r.body.includes(traceId))
        .map((r) => ({ ...r, payload: JSON.parse(r.body) as Export }))
    const namesOf = (exports: ReturnType<typeof traced>) =>
      exports.flatMap((e) =>
        e.payload.resourceSpans
          .flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))
          .filter((span) => span.traceId === traceId)
          .map((span) => span.name)
      )
    const wanted = ["http.server POST", "eventflow.ingest", "eventflow.ingest.produce"]
    await waitFor("the collector to receive the request's spans", async () => {
      const names = namesOf(traced())
      return wanted.every((name) => names.includes(name))
    })
    for (const batch of traced()) {
      expect(batch.path).toBe("/v1/traces")
      expect(batch.type).toContain("application/json")
      for (const r of batch.payload.resourceSpans) {
        expect(r.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue).toBe(
          "eventflow-ingest"
        )
      }
    }
    expect(namesOf(traced())).toEqual(expect.arrayContaining(wanted))
  })

  it("is unready while its Redis is down and ready again when it is back", async () => {
    const redis = await startRedis()
    onTestFinished(() => redis.stop())
    const prefix = uniquePrefix("ready")
    const env = { ...distributedEnv(prefix), REDIS_URL: redis.url }
    const port = await freePort()
    await started(["ingest"], env, port)
    const readiness = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`)
      return { status: response.status, body: (await response.json()) as any }
    }
    expect((await readiness()).status).toBe(200)
    await redis.stop()
    let down: { status: number; body: any } | undefined
    // Its Redis client gives up on a command after 2 s; readiness checks with the same limit.
    await waitFor("/readyz to answer 503", async () => {
      down = await readiness()
      return down.status === 503
    })
    expect(down!.body.ready).toBe(false)
    const dedup = down!.body.components.find((c: { name: string }) => c.name === "dedup")
    expect(dedup).toMatchObject({ ok: false })
    expect(typeof dedup.error).toBe("string")
    expect(down!.body.components.find((c: { name: string }) => c.name === "eventlog")).toMatchObject({
      ok: true
    })
    // /healthz says the process itself is fine.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)

    await redis.restart()
    await waitFor("/readyz to answer 200 again", async () => (await readiness()).status === 200, 30_000)
    // And it takes events again.
    const key = await createKey(env)
    expect((await postEvents(port, key, [event("back-1")])).body).toMatchObject({ accepted: 1 })
  })

  it("logs JSON lines with level, service and trace ids, never a key, a token or a password", async () => {
    const prefix = uniquePrefix("logs")
    const password = "s3cret-Passw0rd"
    const withPassword = new URL(serviceUrls.postgres)
    withPassword.password = password
    // PostgreSQL here trusts local connections: the password is sent and ignored, and must not show.
    const env = {
      ...distributedEnv(prefix),
      DATABASE_URL: withPassword.toString(),
      EVENTFLOW_LOG_LEVEL: "debug",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9"
    }
    const key = await createKey(env)
    const token = await runEventflow(["tokens", "create", "--json"], env)
    expect(token.code).toBe(0)
    const readToken = (JSON.parse(token.stdout) as { token: string }).token
    const ingestPort = await freePort()
    const queryPort = await freePort()
    const ingest = await started(["ingest"], env, ingestPort)
    const query = await started(["query"], env, queryPort)
    const traceId = "6bf92f3577b34da6a3ce929d0e0e4736"
    const posted = await postTraced(ingestPort, key, traceId, [event("l1"), { id: "bad" }])
    expect(posted.status).toBe(202)
    expect((await postEvents(ingestPort, `${key.slice(0, -2)}xx`, [event("l2")])).status).toBe(401)
    const read = await fetch(`http://127.0.0.1:${queryPort}/v1/pipelines`, {
      headers: { authorization: `Bearer ${readToken}` }
    })
    expect(read.status).toBe(200)
    expect((await fetch(`http://127.0.0.1:${queryPort}/v1/pipelines?token=${readToken}`)).status).toBe(401)
    // A failing process logs its error: a query service whose database refuses (wrong port).
    const broken = spawnEventflow(["query"], {
      ...env,
      DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:1/test`,
      PORT: String(await freePort())
    })
    onTestFinished(() => {
      broken.child.kill("SIGKILL")
    })
    await new Promise((r) => setTimeout(r, 3000))
    ingest.child.kill("SIGTERM")
    query.child.kill("SIGTERM")
    await Promise.all([ingest.exited, query.exited])
    broken.child.kill("SIGTERM")
    await broken.exited

    for (const running of [ingest, query]) {
      const lines = running
        .output()
        .split("\n")
        .filter((l) => l.trim() !== "")
      expect(lines.length).toBeGreaterThan(0)
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>
        expect(typeof entry.time).toBe("string")
        expect(["trace", "debug", "info", "warn", "error", "fatal"]).toContain(entry.level)
        expect(["ingest", "query"]).toContain(entry.service)
        expect(typeof entry.message).toBe("string")
      }
    }
    // A line logged inside the request's span carries its trace.
    const answered = ingest
      .output()
      .split("\n")
      .filter((l) => l.includes("answered 2 event(s)"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(answered).toHaveLength(1)
    expect(answered[0]).toMatchObject({ level: "debug", service: "ingest", trace_id: traceId })
    expect(answered[0]!.span_id).toMatch(/^[0-9a-f]{16}$/)
    // The query service that could not start said why, as a JSON line.
    const last = broken.output().trim().split("\n").at(-1)!
    expect(JSON.parse(last)).toMatchObject({ level: "error", service: "query" })
    expect(JSON.parse(last).message).toContain("eventflow query stopped")
    const everything = [ingest, query, broken].map((r) => r.output()).join("\n")
    expect(everything).toContain("listening on")
    for (const secret of [key, readToken, password, key.slice(17), readToken.slice(17)]) {
      expect(everything).not.toContain(secret)
    }
  })

  it("serves /metrics on the query service too", async () => {
    const prefix = uniquePrefix("qmetrics")
    const env = distributedEnv(prefix)
    const token = await runEventflow(["tokens", "create", "--json"], env)
    const readToken = (JSON.parse(token.stdout) as { token: string }).token
    const port = await freePort()
    await started(["query"], env, port)
    const before = await scrape(port)
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/v1/pipelines/nope/results`, {
        headers: { authorization: `Bearer ${readToken}` }
      })
      expect(r.status).toBe(404)
    }
    const after = await scrape(port)
    const name =
      'eventflow_http_requests_total{method="GET",route="/v1/pipelines/{name}/results",status="404"}'
    expect((after.get(name) ?? 0) - (before.get(name) ?? 0)).toBe(3)
    expect(
      after.get(
        'eventflow_http_request_duration_seconds_count{method="GET",route="/v1/pipelines/{name}/results"}'
      )
    ).toBeGreaterThanOrEqual(3)

    // The live feed's clients, as they come and go.
    const controller = new AbortController()
    const live = await fetch(`http://127.0.0.1:${port}/v1/live`, {
      headers: { authorization: `Bearer ${readToken}` },
      signal: controller.signal
    })
    expect(live.status).toBe(200)
    await live.body!.getReader().read()
    expect((await scrape(port)).get("eventflow_query_sse_clients")).toBe(1)
    controller.abort()
    await waitFor(
      "the live client to be gone",
      async () => (await scrape(port)).get("eventflow_query_sse_clients") === 0
    )
  })
})
