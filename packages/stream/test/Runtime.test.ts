/**
 * The runtime on the embedded log (PGlite), as `eventflow dev` runs it: a pipeline that joins a
 * table of entity state, with an alert rule; late and undecodable records go to the DLQ, final rows
 * to their topic, alerts to the alerts topic and table, all from inside the checkpoint transaction.
 */
import { SqlClient } from "@effect/sql"
import { layer as withLayer } from "@effect/vitest"
import { EmbeddedLogReader, layerBackends } from "@eventflow/backends"
import { type CloudEvent, EventLog, eventRecord, type LogRecord } from "@eventflow/core"
import { tempDir } from "@eventflow/testing"
import { Duration, Effect, Fiber, type Layer } from "effect"
import { expect } from "vitest"
import { count, from, pipeline, queryResults, sum, Tumbling, table, thresholdRule } from "../src/index.ts"
import { type LoadedPipelines, runEmbedded, type StreamSettings } from "../src/Runtime.ts"

type Order = CloudEvent & { readonly subject: string; readonly data: { readonly amount: number } }
interface Customer {
  readonly tier: "gold" | "basic"
}

const spending = pipeline(
  "customer-spending",
  from<Order>("events.orders")
    .selectKey((order) => order.subject)
    // Orders of customers the table does not know are dropped (inner join).
    .joinTable(table<Customer>("entities.customers"), (order, customer) => ({
      amount: order.data.amount,
      weighted: customer.tier === "gold" ? order.data.amount * 2 : order.data.amount
    }))
    .window(Tumbling.ofSizeAndGrace("1 minute", "5 seconds"))
    .aggregate({ orders: count(), weighted: sum((o) => o.weighted) })
    .to("analytics.aggregated")
)
const bigSpender = thresholdRule("big-spender", spending, "weighted", { above: 500 }, "critical")

const settings: StreamSettings = {
  checkpointIntervalMs: 100,
  checkpointRecords: 10_000,
  dedupHorizonMs: 300_000,
  pollMs: 20,
  fetchRecords: 1_000,
  topicPrefix: "",
  partitions: 2,
  replicationFactor: 1,
  sessionTimeoutMs: 30_000,
  rebalanceTimeoutMs: 60_000
}

const BASE = Date.UTC(2026, 10, 27, 12)
let sequence = 0
const record = (topic: string, event: Partial<CloudEvent>): LogRecord => {
  const full = {
    specversion: "1.0",
    id: `r${++sequence}`,
    source: "/test",
    type: "test",
    ...event
  } as CloudEvent
  return eventRecord(topic, full.subject ?? full.id, full, Buffer.from(JSON.stringify(full)))
}
const order = (customer: string, amount: number, atMs: number) =>
  record("events.orders", {
    type: "order.created",
    subject: customer,
    time: new Date(BASE + atMs).toISOString(),
    data: { amount }
  })

const backends = layerBackends(
  { _tag: "embedded", dataDir: tempDir("runtime") },
  { dedup: false, embedded: "own", eventLog: true }
) as Layer.Layer<EventLog | EmbeddedLogReader | SqlClient.SqlClient, unknown>

withLayer(backends, { timeout: 120_000, excludeTestServices: true })((it) => {
  it.effect(
    "joins a table, publishes final rows and one alert per incident, sets late and poison records aside",
    () =>
      Effect.gen(function* () {
        const log = yield* EventLog
        const reader = yield* EmbeddedLogReader
        const loaded: LoadedPipelines = { folder: "(test)", pipelines: [spending], rules: [bigSpender] }
        const running = yield* Effect.fork(runEmbedded(loaded, settings))
        // The runtime creates the topics it reads and writes; wait for them.
        for (let i = 0; i < 200; i++) {
          const topics = yield* reader.topics
          if (topics.some((t) => t.name === "entities.customers")) break
          yield* Effect.sleep(Duration.millis(50))
        }
        yield* Effect.sleep(Duration.millis(300))

        yield* log.append([
          record("entities.customers", { subject: "ann", data: { tier: "gold" } }),
          record("entities.customers", { subject: "bob", data: { tier: "basic" } })
        ])
        yield* Effect.sleep(Duration.millis(300))
        yield* log.append([
          order("ann", 100, 1_000),
          order("ann", 200, 2_000), // ann (gold): 600 weighted in the first minute: above 500
          order("bob", 50, 3_000),
          order("zed", 999, 4_000), // unknown customer: dropped by the inner join
          order("ann", 10, 61_000), // second minute: 20, back within bounds
          order("bob", 5, 62_000)
        ])
        yield* log.append([
          {
            topic: "events.orders",
            key: "bob",
            value: Buffer.from("{not json"),
            headers: {}
          }
        ])
        // Far later: closes both minutes on the partitions that see it, then a late one for minute one.
        yield* log.append([order("ann", 1, 600_000), order("bob", 1, 600_000)])
        yield* Effect.sleep(Duration.millis(500))
        yield* log.append([order("bob", 7, 5_000)])

        const sql = yield* SqlClient.SqlClient
        const waitFor = <A>(what: string, check: Effect.Effect<boolean, unknown, A>) =>
          Effect.gen(function* () {
            for (let i = 0; i < 200; i++) {
              if (yield* check) return
              yield* Effect.sleep(Duration.millis(50))
            }
            throw new Error(`timed out waiting for ${what}`)
          })
        yield* waitFor(
          "the late record to be counted",
          sql<{ late: string }>`SELECT coalesce(sum(late), 0) AS late FROM eventflow_stream_positions
          WHERE pipeline = 'customer-spending'`.pipe(Effect.map((rows) => Number(rows[0]!.late) === 1))
        )
        const rows = yield* queryResults("customer-spending", { to: BASE + 120_000 })
        expect(rows.map((r) => [r.key, r.windowStart - BASE, r.final, r.values])).toEqual([
          ["ann", 0, true, { orders: 2, weighted: 600 }],
          ["bob", 0, true, { orders: 1, weighted: 50 }],
          ["ann", 60_000, true, { orders: 1, weighted: 20 }],
          ["bob", 60_000, true, { orders: 1, weighted: 5 }]
        ])
        const [counts] = yield* sql<{ processed: string; late: string; poison: string }>`
        SELECT sum(processed) AS processed, sum(late) AS late, sum(poison) AS poison
        FROM eventflow_stream_positions WHERE pipeline = 'customer-spending'`
        expect(counts).toEqual({ processed: "10", late: "1", poison: "1" })

        const readAll = (topic: string) =>
          Effect.gen(function* () {
            const out: Array<{ key: string | null; value: string; headers: Record<string, string> }> = []
            for (let p = 0; p < (yield* reader.partitions(topic)); p++) {
              for (const r of yield* reader.read(topic, p, 0n, 1000)) {
                out.push({ key: r.key, value: r.value.toString(), headers: r.headers })
              }
            }
            return out
          })
        const dlq = yield* readAll("events.dlq")
        expect(dlq.map((r) => r.headers["eventflow-reason"]).sort()).toEqual(["late", "poison"])
        expect(dlq.every((r) => r.headers["eventflow-pipeline"] === "customer-spending")).toBe(true)
        const finals = (yield* readAll("analytics.aggregated")).map((r) => JSON.parse(r.value) as CloudEvent)
        expect(finals.map((e) => e.id).sort()).toEqual([
          `customer-spending/ann/${BASE}`,
          `customer-spending/ann/${BASE + 60_000}`,
          `customer-spending/bob/${BASE}`,
          `customer-spending/bob/${BASE + 60_000}`
        ])
        // One incident, one alert opened and one resolved: not one per window.
        const alerts = (yield* readAll("alerts")).map((r) => JSON.parse(r.value) as CloudEvent)
        expect(alerts.map((a) => a.type)).toEqual(["eventflow.alert.opened", "eventflow.alert.resolved"])
        expect(alerts[0]!.data).toMatchObject({
          rule: "big-spender",
          key: "ann",
          observed: 600,
          severity: "critical"
        })
        const stored = yield* sql<{ status: string }>`SELECT status FROM eventflow_alerts
        WHERE pipeline = 'customer-spending' ORDER BY time`
        expect(stored.map((s) => s.status)).toEqual(["opened", "resolved"])
        yield* Fiber.interrupt(running)
      })
  )
})
