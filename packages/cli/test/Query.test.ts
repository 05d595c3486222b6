/**
 * The query API as users run it: `eventflow query` in distributed mode, on the real PostgreSQL,
 * Kafka and Redis. The read model is written by the real stream engine (checkpoints into
 * PostgreSQL); the tail reads events produced to Kafka; read tokens come from `eventflow tokens`.
 */
import { PgClient } from "@effect/sql-pg"
import type { CloudEvent, LogRecord } from "@eventflow/core"
import {
  count,
  from,
  migrateStream,
  PipelineEngine,
  pipeline,
  registerPipeline,
  sum,
  Tumbling,
  thresholdRule
} from "@eventflow/stream"
import { describeWithServices, freePort, serviceUrls, testKafka, uniquePrefix } from "@eventflow/testing"
import { Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type Running, runEventflow, startEventflow, stop } from "./support.ts"

const BASE = Date.UTC(2026, 10, 27, 12)
const MINUTE = 60_000

interface Order {
  readonly user: string
  readonly amount: number
  readonly time: number
}

// 3 users over 3 one-minute windows; u1 spends a lot in the second window (an alert).
const orders: Order[] = []
for (let w = 0; w < 3; w++) {
  for (let i = 0; i < 12; i++) {
    const user = `u${(i % 3) + 1}`
    orders.push({
      user,
      amount: user === "u1" && w === 1 ? 100 + i : i + w,
      time: BASE + w * MINUTE + i * 4_000
    })
  }
}
const expected = new Map<string, { orders: number; amount: number }>()
for (const o of orders) {
  const id = `${o.user}@${Math.floor((o.time - BASE) / MINUTE)}`
  const e = expected.get(id) ?? { orders: 0, amount: 0 }
  expected.set(id, { orders: e.orders + 1, amount: e.amount + o.amount })
}

const prefix = uniquePrefix("query")
const name = `orders-${prefix.slice(1, 9)}`
const topic = `${prefix}events.orders`

const definition = pipeline(
  name,
  from(topic)
    .selectKey((e: CloudEvent) => e.subject as string)
    .window(Tumbling.ofSizeAndGrace("1 minute", "0 seconds"))
    .aggregate({
      orders: count(),
      amount: sum((e: CloudEvent) => (e.data as { amount: number }).amount)
    })
)

const eventOf = (o: Order, i: number) => ({
  specversion: "1.0",
  id: `o${i}`,
  source: "/shop",
  type: "com.shop.order.created",
  subject: o.user,
  time: new Date(o.time).toISOString(),
  data: { amount: o.amount }
})

/** The stream engine writes the read model: one partition, one checkpoint, then the last window closes. */
const seed = Effect.gen(function* () {
  const engine = new PipelineEngine(definition, {
    owner: "query-test",
    checkpointIntervalMs: 1_000_000,
    checkpointRecords: 1_000_000,
    dlqTopic: "events.dlq",
    alertsTopic: "alerts",
    sinkTopic: undefined,
    rules: [thresholdRule("big-spender", definition, "amount", { above: 300 }, "critical")],
    publish: (_records: ReadonlyArray<LogRecord>) => Effect.void
  })
  const tp = { topic, partition: 0 }
  yield* registerPipeline(definition)
  yield* engine.claim([tp])
  const all = [...orders, { user: "u2", amount: 0, time: BASE + 3 * MINUTE + 1_000 }]
  engine.handle(
    tp,
    all.map((o, i) => ({
      offset: i,
      timestamp: o.time,
      key: o.user,
      value: new TextEncoder().encode(JSON.stringify(eventOf(o, i)))
    }))
  )
  yield* engine.checkpoint()
}).pipe(
  Effect.provide(
    Layer.effectDiscard(migrateStream).pipe(
      Layer.provideMerge(PgClient.layer({ url: Redacted.make(serviceUrls.postgres), maxConnections: 2 }))
    )
  )
)

await describeWithServices(["postgres", "kafka", "redis"], "eventflow query (distributed)", () => {
  let server: Running
  let port: number
  let token: string
  const env = {
    KAFKA_BROKERS: serviceUrls.kafka,
    DATABASE_URL: serviceUrls.postgres,
    REDIS_URL: serviceUrls.redis,
    EVENTFLOW_TOPIC_PREFIX: prefix,
    EVENTFLOW_QUERY_CACHE_TTL: "3 seconds",
    EVENTFLOW_CORS_ORIGINS: "https://dashboard.example, https://other.example"
  }
  const get = async (path: string, auth: string | null = token) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: auth === null ? {} : { authorization: `Bearer ${auth}` }
    })
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      body: (await response.json()) as any
    }
  }

  beforeAll(async () => {
    await Effect.runPromise(seed)
    // Events in Kafka for the tail: 30 of them, two types.
    const kafka = testKafka()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
    await admin.disconnect()
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({
      topic,
      messages: Array.from({ length: 30 }, (_, i) => ({
        key: `k${i}`,
        value: JSON.stringify({
          ...eventOf(orders[i]!, i),
          type: i % 3 === 0 ? "com.shop.refund" : "com.shop.order.created"
        })
      }))
    })
    await producer.disconnect()
    const created = await runEventflow(["tokens", "create", "--description", "query test", "--json"], env)
    expect(created.code, created.stderr).toBe(0)
    token = JSON.parse(created.stdout.trim().split("\n").pop()!).token
    expect(token).toMatch(/^efr_[0-9a-f]{12}_/)
    port = await freePort()
    server = await startEventflow(["query"], env, port)
  }, 150_000)

  afterAll(async () => {
    if (server) await stop(server)
  })

  it("asks for a read token: none, a wrong one and a write key are refused with a problem", async () => {
    const none = await get(`/v1/pipelines`, null)
    expect(none.status).toBe(401)
    expect(none.type).toContain("application/problem+json")
    expect(none.body).toMatchObject({ status: 401, type: "urn:eventflow:problem:unauthorized" })
    expect(
      (await get(`/v1/pipelines`, "efr_000000000000_wrongwrongwrongwrongwrongwrongwrongwrongwro")).status
    ).toBe(401)
    expect(
      (await get(`/v1/alerts`, "efk_000000000000_a-write-key-is-not-a-read-token-000000000")).status
    ).toBe(401)
    expect((await get(`/v1/pipelines`)).status).toBe(200)
  })

  it("lists the pipeline with its window, aggregates and progress", async () => {
    const { status, body } = await get(`/v1/pipelines`)
    expect(status).toBe(200)
    const p = body.pipelines.find((x: { name: string }) => x.name === name)
    expect(p).toMatchObject({
      sources: [topic],
      window: { kind: "tumbling", sizeMs: 60_000, graceMs: 0 },
      aggregates: [
        { name: "orders", kind: "count" },
        { name: "amount", kind: "sum" }
      ],
      processed: orders.length + 1,
      late: 0,
      poison: 0,
      latestWindowStart: new Date(BASE + 3 * MINUTE).toISOString(),
      keysInLatestWindow: 1
    })
  })

  it("returns exactly the window rows the engine wrote, filtered by key, time and limit", async () => {
    const { body } = await get(`/v1/pipelines/${name}/results`)
    const rows = body.rows.filter(
      (r: { windowStart: string }) => Date.parse(r.windowStart) < BASE + 3 * MINUTE
    )
    expect(rows).toHaveLength(expected.size)
    for (const row of rows) {
      const id = `${row.key}@${(Date.parse(row.windowStart) - BASE) / MINUTE}`
      expect({ id, ...row.values }).toEqual({ id, ...expected.get(id) })
      expect(row.final).toBe(true)
    }
    const u1 = await get(`/v1/pipelines/${name}/results?key=u1`)
    expect(u1.body.rows.map((r: { values: { amount: number } }) => r.values.amount)).toEqual(
      [0, 1, 2].map((w) => expected.get(`u1@${w}`)!.amount)
    )
    const second = await get(
      `/v1/pipelines/${name}/results?from=${new Date(BASE + MINUTE).toISOString()}&to=${new Date(BASE + 2 * MINUTE).toISOString()}`
    )
    expect(second.body.rows.map((r: { key: string }) => r.key)).toEqual(["u1", "u2", "u3"])
    const newest = await get(`/v1/pipelines/${name}/results?order=desc&limit=2`)
    expect(newest.body.rows.map((r: { windowStart: string }) => Date.parse(r.windowStart))).toEqual([
      BASE + 3 * MINUTE,
      BASE + 2 * MINUTE
    ])
  })

  it("answers bad parameters and unknown pipelines with problem details", async () => {
    for (const [path, status, detail] of [
      [`/v1/pipelines/${name}/results?limit=0`, 400, "limit must be a whole number from 1 to 10000"],
      [`/v1/pipelines/${name}/results?from=yesterday`, 400, "from must be an ISO 8601 time"],
      [`/v1/pipelines/${name}/results?order=sideways`, 400, "order must be asc or desc"],
      [`/v1/pipelines/${name}/top?field=nope`, 400, "'nope' is not an aggregate"],
      [`/v1/pipelines/nope-${name}/results`, 404, "no pipeline named"],
      [`/v1/nothing-here`, 404, "no resource at GET /v1/nothing-here"]
    ] as const) {
      const answer = await get(path)
      expect([path, answer.status, answer.type]).toEqual([path, status, "application/problem+json"])
      expect(answer.body.detail).toContain(detail)
    }
  })

  it("ranks keys by a field and sums a field per window", async () => {
    const top = await get(
      `/v1/pipelines/${name}/top?field=amount&from=${new Date(BASE).toISOString()}&to=${new Date(BASE + 3 * MINUTE).toISOString()}&limit=2`
    )
    const totals = ["u1", "u2", "u3"].map((u) => ({
      key: u,
      value: [0, 1, 2].reduce((s, w) => s + expected.get(`${u}@${w}`)!.amount, 0)
    }))
    totals.sort((a, b) => b.value - a.value)
    expect(top.body.rows).toEqual(totals.slice(0, 2))
    const latest = await get(`/v1/pipelines/${name}/top?field=orders`)
    expect(latest.body).toMatchObject({
      from: new Date(BASE + 3 * MINUTE).toISOString(),
      rows: [{ key: "u2", value: 1 }]
    })
    const series = await get(`/v1/pipelines/${name}/series?field=orders`)
    expect(series.body.points).toEqual([
      { windowStart: new Date(BASE).toISOString(), value: 12 },
      { windowStart: new Date(BASE + MINUTE).toISOString(), value: 12 },
      { windowStart: new Date(BASE + 2 * MINUTE).toISOString(), value: 12 },
      { windowStart: new Date(BASE + 3 * MINUTE).toISOString(), value: 1 }
    ])
  })

  it("lists the alerts the rule raised", async () => {
    const { body } = await get(`/v1/alerts?pipeline=${name}`)
    expect(body.alerts.map((a: any) => [a.rule, a.key, a.status, a.severity, a.value])).toEqual(
      expect.arrayContaining([["big-spender", "u1", "opened", "critical", expected.get("u1@1")!.amount]])
    )
  })

  it("tails recent events from Kafka, filtered by type and bounded", async () => {
    let recent: any
    for (let i = 0; i < 40; i++) {
      recent = await get(`/v1/events/recent?limit=500`)
      if (recent.body.events.length >= 30) break
      await new Promise((r) => setTimeout(r, 250))
    }
    expect(recent.body.events).toHaveLength(30)
    const refunds = await get(`/v1/events/recent?type=com.shop.refund&limit=4`)
    expect(refunds.body.events).toHaveLength(4)
    for (const e of refunds.body.events)
      expect(e).toMatchObject({ topic, type: "com.shop.refund", source: "/shop" })
    expect((await get(`/v1/events/recent?limit=501`)).status).toBe(400)
  })

  it("shows topics with end offsets and the pipeline's lag", async () => {
    const { body } = await get(`/v1/topics`)
    const t = body.topics.find((x: { name: string }) => x.name === topic)
    expect(t.partitions.reduce((s: number, p: { endOffset: string }) => s + Number(p.endOffset), 0)).toBe(30)
    const group = body.groups.find((g: { pipeline: string }) => g.pipeline === name)
    expect(group.group).toBe(`${prefix}eventflow.${name}`)
    // The engine stored offset 37 on partition 0 (more than Kafka holds) and nothing on partition 1.
    const p1 = group.partitions.find((p: { partition: number }) => p.partition === 1)
    expect(p1.lag).toBe(Number(t.partitions.find((p: { partition: number }) => p.partition === 1).endOffset))
  })

  it("reports the health of every component with the latency of its check", async () => {
    const { status, body } = await get(`/v1/health`, null)
    expect(status).toBe(200)
    const byName = Object.fromEntries(body.components.map((c: any) => [c.name, c]))
    for (const backend of ["kafka", "postgres", "redis"]) {
      expect(byName[backend]).toMatchObject({ kind: "backend", ok: true })
      expect(byName[backend].latencyMs).toBeGreaterThanOrEqual(0)
    }
    expect(byName.query.ok).toBe(true)
    // No processor runs this test's pipeline, and no ingest instance reports here.
    expect(byName.process).toMatchObject({ ok: false })
    expect(body.status).toBe("degraded")
  })

  it("serves its OpenAPI document and a reference page", async () => {
    const doc = await get(`/openapi/query.json`, null)
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        "/v1/pipelines",
        "/v1/pipelines/{name}/results",
        "/v1/pipelines/{name}/top",
        "/v1/alerts",
        "/v1/events/recent",
        "/v1/topics",
        "/v1/health",
        "/v1/live"
      ])
    )
    const page = await fetch(`http://127.0.0.1:${port}/docs`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain("EventFlow query API")
  })

  it("lets the listed origins read (CORS), and no other", async () => {
    const preflight = await fetch(`http://127.0.0.1:${port}/v1/pipelines`, {
      method: "OPTIONS",
      headers: {
        origin: "https://dashboard.example",
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization, last-event-id"
      }
    })
    expect(preflight.status).toBeLessThan(300)
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://dashboard.example")
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization")
    const allowed = await fetch(`http://127.0.0.1:${port}/v1/alerts`, {
      headers: { origin: "https://other.example", authorization: `Bearer ${token}` }
    })
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://other.example")
    const refused = await fetch(`http://127.0.0.1:${port}/v1/alerts`, {
      headers: { origin: "https://evil.example", authorization: `Bearer ${token}` }
    })
    expect(refused.headers.get("access-control-allow-origin")).toBeNull()
  })

  it("shares the dashboard's hot questions through Redis for the cache's TTL", async () => {
    const redis = new Redis(serviceUrls.redis)
    try {
      await redis.del("eventflow:query:topics")
      // In front of Redis each instance keeps an answer for at most 250 ms: let an earlier one expire.
      await new Promise((r) => setTimeout(r, 300))
      const first = await get(`/v1/topics`)
      const cached = await redis.get("eventflow:query:topics")
      expect(cached).not.toBeNull()
      expect(JSON.parse(cached!)).toEqual(first.body)
      expect(await redis.pttl("eventflow:query:topics")).toBeGreaterThan(0)
      expect(await redis.pttl("eventflow:query:topics")).toBeLessThanOrEqual(3_000)
    } finally {
      await redis.quit()
    }
  })

  it("streams a tick a second over SSE and resumes after Last-Event-ID", async () => {
    const read = async (lastEventId?: string, ticks = 2) => {
      const controller = new AbortController()
      const response = await fetch(`http://127.0.0.1:${port}/v1/live`, {
        headers: {
          authorization: `Bearer ${token}`,
          ...(lastEventId ? { "last-event-id": lastEventId } : {})
        },
        signal: controller.signal
      })
      expect(response.headers.get("content-type")).toContain("text/event-stream")
      const reader = response.body!.getReader()
      let text = ""
      const started = Date.now()
      while ((text.match(/event: tick/g) ?? []).length < ticks && Date.now() - started < 10_000) {
        const { value, done } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
      }
      controller.abort()
      return text
        .split("\n\n")
        .filter((frame) => frame.includes("event: tick"))
        .map((frame) => JSON.parse(frame.split("\ndata: ")[1]!))
    }
    const first = await read(undefined, 3)
    expect(first.length).toBeGreaterThanOrEqual(3)
    expect(first[1].id - first[0].id).toBeGreaterThan(500)
    expect(first[1].id - first[0].id).toBeLessThan(2_500)
    for (const tick of first) expect(tick).toHaveProperty("lag")
    // Resuming after the first tick replays the ones after it at once, in order.
    const resumed = await read(String(first[0].id), 6)
    expect(resumed[0].id).toBe(first[1].id)
    expect(resumed[1].id).toBe(first[2].id)
    // The first connection was closed and left: no tick ever counts more than one client here.
    for (const tick of resumed) expect(tick.clients).toBeLessThanOrEqual(1)
    expect(resumed[resumed.length - 1].clients).toBe(1)
  })
})
