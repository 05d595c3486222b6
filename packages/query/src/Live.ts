/**
 * The live feed: one ticker per process computes a tick every second (rates, latency, lag, what
 * changed) and fans the same encoded bytes out to every Server-Sent Events client. The last five
 * minutes of ticks are kept, so a client that reconnects with `Last-Event-ID` gets what it missed.
 */

import { readIngestStats } from "@eventflow/backends"
import { IngestStats, LatencyHistogram } from "@eventflow/core"
import { Metrics as M } from "@eventflow/telemetry"
import { Duration, Effect, Option, Schedule } from "effect"
import type { Redis } from "ioredis"
import type { EventTail, TailEvent } from "./LogView.ts"
import type { AlertRow, ChangedRow, ReadModel } from "./ReadModel.ts"

export interface LiveRow {
  readonly pipeline: string
  readonly key: string
  readonly windowStart: string
  readonly windowEnd: string
  readonly final: boolean
  readonly values: Record<string, number | null>
}

export interface LiveTick {
  readonly id: number
  readonly time: string
  readonly ingestRate: number
  readonly processedRate: number
  readonly ackP50Ms: number | null
  readonly ackP99Ms: number | null
  readonly lag: number
  readonly accepted: number
  readonly duplicates: number
  readonly rejected: number
  readonly processed: number
  readonly newRows: number
  /** Live clients of this instance when the tick was sent. */
  readonly clients: number
  readonly rows: ReadonlyArray<LiveRow>
  readonly alerts: ReadonlyArray<AlertRow>
  readonly events: ReadonlyArray<Omit<TailEvent, "seq">>
}

export interface IngestReading {
  readonly accepted: number
  readonly duplicates: number
  readonly rejected: number
  readonly latency: LatencyHistogram
  /** Ingest instances seen (1 in process). */
  readonly instances: number
}

/** Where the ticker reads ingest's numbers: this process's own, or every instance's through Redis. */
export interface IngestSource {
  readonly read: Effect.Effect<IngestReading | undefined>
}

export const localIngestSource = Effect.map(
  Effect.serviceOption(IngestStats),
  (stats): IngestSource => ({
    read: Effect.sync(() => {
      if (Option.isNone(stats)) return undefined
      const sample = stats.value.sample()
      return { ...sample, instances: 1 }
    })
  })
)

/**
 * Sums the instances' counters; the latencies of the last read are each instance's cumulative
 * histogram minus what it was at the previous read (an instance seen for the first time adds none).
 */
export const redisIngestSource = (redis: Redis, prefix: string): IngestSource => {
  const previous = new Map<string, LatencyHistogram>()
  return {
    read: readIngestStats(redis, prefix).pipe(
      Effect.map((samples) => {
        const latency = new LatencyHistogram()
        let accepted = 0
        let duplicates = 0
        let rejected = 0
        for (const s of samples) {
          accepted += s.accepted
          duplicates += s.duplicates
          rejected += s.rejected
          const before = previous.get(s.instance)
          if (before !== undefined) latency.merge(s.latency.minus(before))
          previous.set(s.instance, s.latency)
        }
        return { accepted, duplicates, rejected, latency, instances: samples.length }
      }),
      Effect.orElseSucceed(() => undefined)
    )
  }
}

export interface LiveOptions {
  readonly interval: Duration.Duration
  /** Ticks kept for resuming clients. */
  readonly history: number
  readonly maxRows: number
  readonly maxEvents: number
}

export const defaultLiveOptions: LiveOptions = {
  interval: Duration.seconds(1),
  history: 300,
  maxRows: 50,
  maxEvents: 20
}

type Listener = (frame: Uint8Array) => void

const encoder = new TextEncoder()

export const frameOf = (tick: LiveTick): Uint8Array =>
  encoder.encode(`event: tick\nid: ${tick.id}\ndata: ${JSON.stringify(tick)}\n\n`)

export interface Live {
  /** Encoded ticks after `lastId` still in the history (all of them when `lastId` is undefined: none). */
  readonly replay: (lastId: number | undefined) => ReadonlyArray<Uint8Array>
  readonly subscribe: (listener: Listener) => () => void
  readonly clients: () => number
  readonly latest: () => LiveTick | undefined
}

/** Starts the ticker in the current scope. `lag` gives the total records behind of all pipelines. */
export const makeLive = (
  readModel: ReadModel,
  tail: EventTail,
  ingest: IngestSource,
  lag: Effect.Effect<number, unknown>,
  options: LiveOptions = defaultLiveOptions
) =>
  Effect.gen(function* () {
    const history: Array<{ readonly tick: LiveTick; readonly frame: Uint8Array }> = []
    const listeners = new Set<Listener>()
    // Ingest counters are per process; per instance in Redis. Keep the previous totals for rates.
    let previous: { accepted: number; processed: number; at: number } | undefined
    let since = Date.now() - 2_000
    let lastSeq = tail.lastSeq
    let lastId = 0
    let sentRows = new Set<string>()
    const sentAlerts = new Set<string>()
    let lagValue = 0

    const tickOnce = Effect.gen(function* () {
      const now = Date.now()
      const reading = yield* ingest.read
      // Rows written by a checkpoint that began before `since` and committed after it carry an
      // earlier updated_at: look back 2 s and drop what was sent already.
      const changes = yield* readModel.changes(since - 2_000, 500).pipe(Effect.option)
      lagValue = yield* lag.pipe(Effect.orElseSucceed(() => lagValue))
      const rows: ChangedRow[] = []
      const seen = new Set<string>()
      let processed = previous?.processed ?? 0
      const alerts: AlertRow[] = []
      if (Option.isSome(changes)) {
        since = changes.value.now
        processed = changes.value.processed
        for (const row of changes.value.rows) {
          const id = `${row.pipeline}\u0000${row.key}\u0000${row.windowStart}\u0000${row.updatedAt}`
          seen.add(id)
          if (!sentRows.has(id)) rows.push(row)
        }
        for (const alert of changes.value.alerts) {
          if (sentAlerts.has(alert.id)) continue
          sentAlerts.add(alert.id)
          alerts.push(alert)
        }
        if (sentAlerts.size > 10_000) sentAlerts.clear()
        sentRows = seen
      }
      const accepted = reading?.accepted ?? previous?.accepted ?? 0
      const seconds = previous === undefined ? 1 : Math.max(0.001, (now - previous.at) / 1000)
      const rate = (a: number, b: number | undefined) =>
        b === undefined ? 0 : Math.max(0, Math.round((a - b) / seconds))
      const events = tail.since(lastSeq, options.maxEvents).map(({ seq: _seq, ...event }) => event)
      lastSeq = tail.lastSeq
      const id = Math.max(now, lastId + 1)
      lastId = id
      const tick: LiveTick = {
        id,
        time: new Date(now).toISOString(),
        ingestRate: rate(accepted, previous?.accepted),
        processedRate: rate(processed, previous?.processed),
        ackP50Ms: reading?.latency.quantile(0.5) ?? null,
        ackP99Ms: reading?.latency.quantile(0.99) ?? null,
        lag: lagValue,
        accepted,
        duplicates: reading?.duplicates ?? 0,
        rejected: reading?.rejected ?? 0,
        processed,
        newRows: rows.length,
        clients: listeners.size,
        rows: rows.slice(0, options.maxRows).map(({ updatedAt: _u, ...row }) => row),
        alerts,
        events
      }
      previous = { accepted, processed, at: now }
      const frame = frameOf(tick)
      history.push({ tick, frame })
      if (history.length > options.history) history.shift()
      for (const listener of listeners) listener(frame)
    })

    yield* Effect.forkScoped(
      tickOnce.pipe(Effect.ignoreLogged, Effect.repeat(Schedule.spaced(options.interval)))
    )

    return {
      replay: (after) =>
        after === undefined ? [] : history.filter((h) => h.tick.id > after).map((h) => h.frame),
      subscribe: (listener) => {
        listeners.add(listener)
        M.querySseClients.unsafeUpdate(listeners.size, [])
        return () => {
          const removed = listeners.delete(listener)
          M.querySseClients.unsafeUpdate(listeners.size, [])
          return removed
        }
      },
      clients: () => listeners.size,
      latest: () => history[history.length - 1]?.tick
    } satisfies Live
  })
