/**
 * The engine and its Postgres store, on the real PostgreSQL, with records fed by hand: events of
 * one key spread over partitions merge into exact rows, instances that stop without a checkpoint
 * and restart from the stored state neither lose nor double count, a stale owner is fenced, and
 * alerts and set-aside records are published once per checkpoint.
 */

import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { layer as withLayer } from "@effect/vitest"
import type { CloudEvent, LogRecord } from "@eventflow/core"
import { layerTracing } from "@eventflow/telemetry"
import { describeWithServices, serviceUrls } from "@eventflow/testing"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Redacted } from "effect"
import { expect } from "vitest"
import {
  count,
  distinct,
  from,
  migrateStream,
  type Pipeline,
  PipelineEngine,
  pipeline,
  queryResults,
  Session,
  type SourceRecord,
  sum,
  TestDriver,
  Tumbling,
  thresholdRule,
  type WindowRow
} from "../src/index.ts"

const BASE = Date.UTC(2026, 10, 27, 12)

interface Fed {
  readonly partition: number
  readonly record: SourceRecord
  readonly time: number
  readonly user: string
  readonly amount: number
}

/** Events of 30 users over 3 partitions (a user's events on any partition), times a little out of order. */
const feed = (seed: number, n: number): Fed[] => {
  let s = seed
  const next = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31
    return s / 2 ** 31
  }
  const offsets = [0, 0, 0]
  return Array.from({ length: n }, (_, i) => {
    const partition = Math.floor(next() * 3)
    const user = `u${Math.floor(next() * 30)}`
    const amount = Math.floor(next() * 100)
    const time = BASE + i * 2_000 - Math.floor(next() * 20_000)
    const event = {
      specversion: "1.0",
      id: `e${i}`,
      source: "/test",
      type: "purchase",
      subject: user,
      time: new Date(time).toISOString(),
      data: { amount }
    }
    const offset = offsets[partition]!
    offsets[partition] = offset + 1
    const record: SourceRecord = {
      offset,
      timestamp: time,
      key: user,
      value: new TextEncoder().encode(JSON.stringify(event))
    }
    return { partition, record, time, user, amount }
  })
}

const uid = () => Math.random().toString(36).slice(2, 8)

const make = (name: string, definition: "tumbling" | "session"): Pipeline => {
  const keyed = from("events.purchases").selectKey((e) => e.subject!)
  const aggregations = {
    purchases: count(),
    amount: sum((e: CloudEvent) => (e.data as { amount: number }).amount),
    ids: distinct((e: CloudEvent) => e.id)
  }
  return pipeline(
    name,
    keyed
      .window(
        definition === "tumbling"
          ? Tumbling.ofSizeAndGrace("1 minute", "30 seconds")
          : Session.ofGapAndGrace("30 seconds", "10 seconds")
      )
      .aggregate(aggregations)
  )
}

const engineFor = (p: Pipeline, published: LogRecord[], owner = "test") =>
  new PipelineEngine(p, {
    owner,
    checkpointIntervalMs: 1_000_000,
    checkpointRecords: 1_000_000,
    dlqTopic: "events.dlq",
    alertsTopic: "alerts",
    sinkTopic: "analytics.aggregated",
    rules: [thresholdRule("big-spender", p, "amount", { above: 400 })],
    publish: (records) => Effect.sync(() => void published.push(...records))
  })

const tps = [0, 1, 2].map((partition) => ({ topic: "events.purchases", partition }))

/**
 * Ground truth: every event of the feed, in event-time order, through one processor. (Out of
 * order, one processor would close a session before a later-arriving event within its gap; each
 * partition's lower watermark keeps it open, so the engine's sessions are the in-order ones.)
 */
const truth = (p: Pipeline, events: ReadonlyArray<Fed>, end: number) => {
  const driver = new TestDriver(p)
  for (const e of [...events].sort((a, b) => a.time - b.time))
    driver.send({ ...JSON.parse(new TextDecoder().decode(e.record.value!)) }, e.time)
  driver.advanceTime(end)
  return driver.finalRows()
}

const comparable = (rows: ReadonlyArray<WindowRow>) =>
  rows
    .map((r) => ({
      key: r.key,
      windowStart: r.windowStart,
      windowEnd: r.windowEnd,
      purchases: r.values.purchases,
      amount: r.values.amount
    }))
    .sort((a, b) => a.windowStart - b.windowStart || (a.key < b.key ? -1 : 1))

const sqlLayer = Layer.effectDiscard(migrateStream).pipe(
  Layer.provideMerge(PgClient.layer({ url: Redacted.make(serviceUrls.postgres), maxConnections: 4 }))
)

await describeWithServices(["postgres"], "stream engine on the real PostgreSQL", () => {
  withLayer(sqlLayer, { timeout: 120_000, excludeTestServices: true })((it) => {
    it.effect.each(["tumbling", "session"] as const)(
      "%s windows: events of a key on several partitions, restarts without checkpoint, exact rows",
      (definition) =>
        Effect.gen(function* () {
          const p = make(`engine-${definition}-${uid()}`, definition)
          const events = feed(11, 1500)
          const published: LogRecord[] = []
          let engine = engineFor(p, published)
          yield* engine.claim(tps)
          // Feed in batches; every few batches checkpoint; at some batches "crash" (drop the engine
          // without a checkpoint) and restart from the store, re-reading from the stored offsets.
          const perPartition = tps.map((tp) => events.filter((e) => e.partition === tp.partition))
          const crashes = new Set([3, 7, 12])
          for (let round = 0; round < 20; round++) {
            for (const tp of tps) {
              const next = engine.nextOffset(tp)!
              const batch = perPartition[tp.partition]!.filter(
                (e) => Number(e.record.offset) >= Number(next)
              ).slice(0, 40)
              engine.handle(
                tp,
                batch.map((e) => e.record)
              )
            }
            if (crashes.has(round)) {
              engine = engineFor(p, published)
              yield* engine.claim(tps)
            } else if (round % 2 === 0) {
              yield* engine.checkpoint()
            }
          }
          // The rest, then an event far in the future on each partition to close every window.
          for (const tp of tps) {
            const next = engine.nextOffset(tp)!
            const rest = perPartition[tp.partition]!.filter((e) => Number(e.record.offset) >= Number(next))
            const last = perPartition[tp.partition]!.at(-1)!.record.offset
            const closing = {
              specversion: "1.0",
              id: `close-${tp.partition}`,
              source: "/test",
              type: "tick",
              subject: "nobody",
              time: new Date(BASE + 86_400_000).toISOString(),
              data: { amount: 0 }
            }
            engine.handle(tp, [
              ...rest.map((e) => e.record),
              {
                offset: Number(last) + 1,
                timestamp: 0,
                key: "nobody",
                value: new TextEncoder().encode(JSON.stringify(closing))
              }
            ])
          }
          // The last checkpoint traced: the rows and alerts it publishes carry its trace context.
          const exporter = new InMemorySpanExporter()
          const tracedFrom = published.length
          // (The exporter forgets its spans when its layer shuts down: read them inside.)
          const traceIds = yield* engine.checkpoint().pipe(
            Effect.map(() =>
              exporter
                .getFinishedSpans()
                .filter((s) => s.name === "eventflow.checkpoint")
                .map((s) => s.spanContext().traceId)
            ),
            Effect.provide(layerTracing("test", new SimpleSpanProcessor(exporter)))
          )
          expect(traceIds).toHaveLength(1)
          const traced = published.slice(tracedFrom).filter((r) => r.topic !== "events.dlq")
          expect(traced.length).toBeGreaterThan(0)
          for (const record of traced) {
            expect(record.headers.traceparent).toMatch(new RegExp(`^00-${traceIds[0]}-[0-9a-f]{16}-01$`))
          }
          // Untraced checkpoints write no trace header.
          expect(published.slice(0, tracedFrom).every((r) => r.headers.traceparent === undefined)).toBe(true)

          const rows = yield* queryResults(p.name)
          const finals = rows.filter((r) => r.final && r.key !== "nobody")
          const expected = truth(p, events, BASE + 86_400_000)
          expect(comparable(finals)).toEqual(comparable(expected))
          expect(finals.length).toBeGreaterThan(20)
          for (const row of finals) expect(row.values.ids).toBeCloseTo(row.values.purchases!, -1)
          // Every final row went to the sink topic once per time it became final (exactly once here).
          const sunk = published.filter((r) => r.topic === "analytics.aggregated")
          expect(sunk.length).toBe(rows.filter((r) => r.final).length)
          expect(new Set(sunk.map((r) => r.key)).size).toBe(sunk.length)
          // Alerts: one "opened" per key whose amount went above 400, not one per window.
          const alerts = published.filter((r) => r.topic === "alerts")
          const sql = yield* SqlClient.SqlClient
          const stored = yield* sql<{
            n: string
          }>`SELECT count(*) AS n FROM eventflow_alerts WHERE pipeline = ${p.name}`
          expect(Number(stored[0]!.n)).toBe(alerts.length)
          // Partials of final rows are gone; the counters count every record once.
          const partials = yield* sql<{ n: string }>`
            SELECT count(*) AS n FROM eventflow_stream_partials WHERE pipeline = ${p.name} AND key <> 'nobody'`
          expect(Number(partials[0]!.n)).toBe(0)
          const processed = yield* sql<{ n: string }>`
            SELECT sum(processed) AS n FROM eventflow_stream_positions WHERE pipeline = ${p.name}`
          expect(Number(processed[0]!.n)).toBe(events.length + 3)
        })
    )

    it.effect(
      "a second copy of an event in the log is dropped, also after a restart that rebuilds the recent ids",
      () =>
        Effect.gen(function* () {
          const p = make(`engine-copies-${uid()}`, "tumbling")
          const tp = tps[0]!
          const published: LogRecord[] = []
          const engine = (owner: string) =>
            new PipelineEngine(p, {
              owner,
              checkpointIntervalMs: 1_000_000,
              checkpointRecords: 1_000_000,
              dedupHorizonMs: 60_000,
              dlqTopic: "events.dlq",
              alertsTopic: "alerts",
              sinkTopic: undefined,
              rules: [],
              publish: (records) => Effect.sync(() => void published.push(...records))
            })
          // One partition's log: 300 events a second apart, then second copies of some of them
          // (a client's retries after an ambiguous append), 20 s to 2 min after their first copy.
          const log: SourceRecord[] = []
          const append = (i: number, time: number) => {
            const event = {
              specversion: "1.0",
              id: `e${i}`,
              source: "/test",
              type: "purchase",
              subject: `u${i % 7}`,
              time: new Date(BASE + i * 1_000).toISOString(),
              data: { amount: 1 }
            }
            log.push({
              offset: log.length,
              timestamp: time,
              key: event.subject,
              value: new TextEncoder().encode(JSON.stringify(event))
            })
          }
          for (let i = 0; i < 300; i++) {
            append(i, BASE + i * 1_000)
            // Copies within the horizon (20 s later) of every 10th event…
            if (i >= 20 && i % 10 === 0) append(i - 20, BASE + i * 1_000)
          }
          // …and one copy far beyond it (200 s after its first): not a duplicate any more, as
          // documented; its window has closed, so it is set aside as late rather than counted.
          append(50, BASE + 250_000 + 1)
          const within = 28
          const total = (rows: ReadonlyArray<WindowRow>) => rows.reduce((n, r) => n + r.values.purchases!, 0)

          let current = engine("first")
          yield* current.claim([tp])
          // Read as a runtime does, from readOffset, in batches of 37; crash (no checkpoint) twice and
          // restart from the store, which reads from the stored dedup offset to rebuild the ids.
          for (let round = 0; ; round++) {
            const from = Number(current.readOffset(tp)!)
            if (from >= log.length) break
            const before = current.nextOffset(tp)!
            current.handle(tp, log.slice(from, from + 37))
            // Once it processes records again, it reads on from its next offset (no record twice).
            if (current.nextOffset(tp)! > before) expect(current.readOffset(tp)).toBe(current.nextOffset(tp))
            if (round === 4 || round === 9) {
              yield* current.checkpoint()
              current = engine(`restart-${round}`)
              yield* current.claim([tp])
              // The rebuild starts at the oldest id still within the horizon, before the next offset.
              expect(current.readOffset(tp)!).toBeLessThan(current.nextOffset(tp)!)
            } else if (round % 3 === 0) {
              yield* current.checkpoint()
            }
          }
          yield* current.checkpoint()
          const rows = yield* queryResults(p.name)
          expect(total(rows)).toBe(300)
          const sql = yield* SqlClient.SqlClient
          const [stored] = yield* sql<{ duplicates: string; processed: string; late: string }>`
          SELECT sum(duplicates) AS duplicates, sum(processed) AS processed, sum(late) AS late
          FROM eventflow_stream_positions WHERE pipeline = ${p.name}`
          expect(Number(stored!.duplicates)).toBe(within)
          expect(Number(stored!.late)).toBe(1)
          expect(Number(stored!.processed)).toBe(log.length)
        })
    )

    it.effect("a stale owner is fenced: its checkpoint fails and its partitions are dropped", () =>
      Effect.gen(function* () {
        const p = make(`engine-fence-${uid()}`, "tumbling")
        const events = feed(5, 90)
        const first = engineFor(p, [], "first")
        yield* first.claim(tps)
        const second = engineFor(p, [], "second")
        yield* second.claim(tps)
        first.handle(
          tps[0]!,
          events.filter((e) => e.partition === 0).map((e) => e.record)
        )
        const result = yield* first.checkpoint()
        expect(result).toBeUndefined()
        expect(first.counters.fenced).toBe(1)
        // The fenced partition is dropped; the others, idle, are found out by the ownership check.
        expect(first.assigned).toEqual([tps[1], tps[2]])
        expect(yield* first.verifyOwnership()).toEqual([tps[1], tps[2]])
        expect(first.assigned).toEqual([])
        const rows = yield* queryResults(p.name)
        expect(rows).toEqual([])
        second.handle(
          tps[0]!,
          events.filter((e) => e.partition === 0).map((e) => e.record)
        )
        const ok = yield* second.checkpoint()
        expect(ok?.rowsWritten).toBeGreaterThan(0)
      })
    )

    it.effect("undecodable records and late events are set aside once, with their reason, and counted", () =>
      Effect.gen(function* () {
        const p = make(`engine-dlq-${uid()}`, "tumbling")
        const published: LogRecord[] = []
        const engine = engineFor(p, published)
        yield* engine.claim([tps[0]!])
        const json = (time: number, id: string) =>
          new TextEncoder().encode(
            JSON.stringify({
              specversion: "1.0",
              id,
              source: "/t",
              type: "t",
              subject: "u1",
              time: new Date(time).toISOString(),
              data: { amount: 1 }
            })
          )
        engine.handle(tps[0]!, [
          { offset: 0, timestamp: 0, key: "u1", value: json(BASE + 600_000, "a") },
          { offset: 1, timestamp: 0, key: "u1", value: new TextEncoder().encode("{not json") }
        ])
        // The watermark moves after each batch: an old event in the next one is late.
        engine.handle(tps[0]!, [{ offset: 2, timestamp: 0, key: "u1", value: json(BASE, "old") }])
        yield* engine.checkpoint()
        const dlq = published.filter((r) => r.topic === "events.dlq")
        expect(dlq.map((r) => r.headers["eventflow-reason"])).toEqual(["poison", "late"])
        expect(dlq[0]!.headers["eventflow-origin"]).toBe("events.purchases/0/1")
        expect(dlq[1]!.headers["eventflow-error"]).toContain("behind the watermark")
        const sql = yield* SqlClient.SqlClient
        const [counts] = yield* sql<{ processed: string; late: string; poison: string }>`
          SELECT processed, late, poison FROM eventflow_stream_positions WHERE pipeline = ${p.name}`
        expect(counts).toEqual({ processed: "3", late: "1", poison: "1" })
      })
    )
  })
})
