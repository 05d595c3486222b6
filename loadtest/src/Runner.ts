/**
 * The generator: sends each request at its due time over keep-alive connections, never more than
 * `maxInFlight` at once (a request due while the cap is reached is counted as dropped, not
 * delayed), and measures each answer's latency from when the request was DUE, so that a stalled
 * server shows in the latency instead of hiding in a slower send rate (no coordinated omission).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http"
import { Agent as HttpsAgent, request as httpsRequest } from "node:https"
import { performance } from "node:perf_hooks"
import { build, type Histogram } from "hdr-histogram-js"
import { type Batch, EventFactory, type EventOptions, Kind } from "./Events.ts"
import { intendedTimesMs, plannedRequests, rateAt, type ScheduleOptions } from "./Schedule.ts"

export interface RunOptions extends ScheduleOptions, Omit<EventOptions, "batch"> {
  /** The ingest service, e.g. http://127.0.0.1:8080 */
  readonly target: string
  readonly key: string
  readonly maxInFlight: number
  readonly requestTimeoutS: number
  /** Called once a second with the progress line (stderr in the CLI). */
  readonly onProgress?: (line: string) => void
}

export interface SecondStats {
  /** Seconds from the start. */
  readonly t: number
  /** Events due this second by the schedule (events/s). */
  readonly targetRate: number
  readonly sentEvents: number
  readonly ackedEvents: number
  readonly droppedEvents: number
  /** Requests that ended without a 202 (another status or no answer). */
  readonly failedRequests: number
  /** Of the answers that arrived this second, from their due times; null when none did. */
  readonly p50Ms: number | null
  readonly p99Ms: number | null
}

export interface LatencySummary {
  readonly count: number
  readonly meanMs: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
}

export interface RunStats {
  readonly startedAt: string
  readonly plannedRequests: number
  readonly plannedEvents: number
  /** Seconds from the start to the last answer (at least the planned duration). */
  readonly elapsedS: number
  readonly requests: {
    readonly sent: number
    readonly dropped: number
    readonly answered202: number
    /** Answers per HTTP status, plus `error` (no answer: connection error) and `timeout`. */
    readonly byStatus: Record<string, number>
  }
  readonly events: {
    readonly sent: number
    readonly fresh: number
    readonly duplicatesSent: number
    readonly malformedSent: number
    readonly dropped: number
    /** Events in requests answered 202. */
    readonly acked: number
    /** Per event result of the 202 answers. */
    readonly results: { accepted: number; duplicate: number; rejected: number; retry: number }
    /** Distinct event ids answered `accepted`: what the pipeline must count. */
    readonly acceptedDistinct: number
    /** `accepted` answers for an id that had been accepted before: a dedup failure. */
    readonly acceptedAgain: number
    /** Valid events of requests whose fate is unknown (no answer, or a 5xx other than 503). */
    readonly unknownOutcome: number
  }
  /** From each request's due time to its whole answer. */
  readonly latency: LatencySummary
  /** From each request's actual send to its whole answer. */
  readonly serviceTime: LatencySummary
  /** How late the generator sent requests after their due time (its own lag). */
  readonly sendLag: LatencySummary
  readonly timeline: ReadonlyArray<SecondStats>
}

const newHistogram = () =>
  build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3
  })

/** Histograms hold microseconds; summaries are in milliseconds. */
export const summarize = (h: Histogram): LatencySummary => {
  const ms = (us: number) => Math.round(us) / 1000
  return {
    count: h.totalCount,
    meanMs: h.totalCount === 0 ? 0 : Math.round(h.mean) / 1000,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p90Ms: ms(h.getValueAtPercentile(90)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue)
  }
}

const percentileOf = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

/** A set of non-negative integers that grows as needed. */
class BitSet {
  private bits = new Uint8Array(1 << 16)
  /** Sets bit n; answers whether it was set before. */
  testAndSet(n: number): boolean {
    const byte = n >>> 3
    if (byte >= this.bits.length) {
      const bigger = new Uint8Array(Math.max(this.bits.length * 2, byte + 1))
      bigger.set(this.bits)
      this.bits = bigger
    }
    const mask = 1 << (n & 7)
    const was = (this.bits[byte]! & mask) !== 0
    this.bits[byte] = this.bits[byte]! | mask
    return was
  }
}

interface Bucket {
  sentEvents: number
  ackedEvents: number
  droppedEvents: number
  failedRequests: number
  latenciesMs: number[]
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US")

interface Answer {
  readonly status: number | "error" | "timeout"
  readonly body: string
}

export const runLoad = async (o: RunOptions): Promise<RunStats> => {
  const url = new URL("/v1/events", o.target)
  const https = url.protocol === "https:"
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: o.maxInFlight })
    : new HttpAgent({ keepAlive: true, maxSockets: o.maxInFlight })
  const send = https ? httpsRequest : httpRequest
  const headers = {
    "content-type": "application/cloudevents-batch+json",
    authorization: `Bearer ${o.key}`
  }

  const factory = new EventFactory({ ...o, batch: o.batch })
  const latency = newHistogram()
  const serviceTime = newHistogram()
  const sendLag = newHistogram()
  const accepted = new BitSet()
  const byStatus: Record<string, number> = {}
  const results = { accepted: 0, duplicate: 0, rejected: 0, retry: 0 }
  const counts = {
    sent: 0,
    dropped: 0,
    answered202: 0,
    eventsSent: 0,
    duplicatesSent: 0,
    malformedSent: 0,
    eventsDropped: 0,
    acked: 0,
    acceptedDistinct: 0,
    acceptedAgain: 0,
    unknownOutcome: 0
  }
  const buckets: Bucket[] = []
  const bucket = (second: number): Bucket => {
    const index = Math.max(0, Math.floor(second))
    while (buckets.length <= index)
      buckets.push({ sentEvents: 0, ackedEvents: 0, droppedEvents: 0, failedRequests: 0, latenciesMs: [] })
    return buckets[index]!
  }

  let inFlight = 0
  let lastAnswerMs = 0
  const startedAt = new Date()
  const t0 = performance.now()
  const now = () => performance.now() - t0

  const post = (body: string) =>
    new Promise<Answer>((resolve) => {
      let done = false
      const finish = (answer: Answer) => {
        if (!done) {
          done = true
          resolve(answer)
        }
      }
      const req = send(
        url,
        { method: "POST", agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = []
          res.on("data", (chunk: Buffer) => chunks.push(chunk))
          res.on("end", () =>
            finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })
          )
          res.on("error", () => finish({ status: "error", body: "" }))
        }
      )
      req.setTimeout(o.requestTimeoutS * 1000, () => {
        finish({ status: "timeout", body: "" })
        req.destroy()
      })
      req.on("error", () => finish({ status: "error", body: "" }))
      req.end(body)
    })

  const account = (batch: Batch, answer: Answer) => {
    const key = String(answer.status)
    byStatus[key] = (byStatus[key] ?? 0) + 1
    if (answer.status !== 202) {
      // 4xx and 503: nothing of the request was accepted. Anything else: it may have been.
      const known = typeof answer.status === "number" && (answer.status < 500 || answer.status === 503)
      if (!known) for (const kind of batch.kinds) if (kind !== Kind.malformed) counts.unknownOutcome++
      return false
    }
    counts.answered202++
    counts.acked += batch.seqs.length
    let parsed: { results?: Array<{ index: number; status: string }> }
    try {
      parsed = JSON.parse(answer.body)
    } catch {
      return true
    }
    for (const r of parsed.results ?? []) {
      if (r.status in results) results[r.status as keyof typeof results]++
      if (r.status === "accepted") {
        const seq = batch.seqs[r.index] ?? -1
        if (seq < 0) continue
        if (accepted.testAndSet(seq)) counts.acceptedAgain++
        else counts.acceptedDistinct++
      }
    }
    return true
  }

  const fire = async (dueMs: number) => {
    const batch = factory.nextBatch()
    const events = batch.seqs.length
    if (inFlight >= o.maxInFlight) {
      counts.dropped++
      counts.eventsDropped += events
      bucket(dueMs / 1000).droppedEvents += events
      return
    }
    inFlight++
    const sentMs = now()
    counts.sent++
    counts.eventsSent += events
    for (const kind of batch.kinds) {
      if (kind === Kind.duplicate) counts.duplicatesSent++
      else if (kind === Kind.malformed) counts.malformedSent++
    }
    bucket(sentMs / 1000).sentEvents += events
    sendLag.recordValue(Math.max(0, Math.round((sentMs - dueMs) * 1000)))
    const answer = await post(batch.body)
    const endMs = now()
    inFlight--
    lastAnswerMs = Math.max(lastAnswerMs, endMs)
    const ok = account(batch, answer)
    const b = bucket(endMs / 1000)
    if (answer.status === "error" || answer.status === "timeout") {
      b.failedRequests++
      return
    }
    latency.recordValue(Math.max(1, Math.round((endMs - dueMs) * 1000)))
    serviceTime.recordValue(Math.max(1, Math.round((endMs - sentMs) * 1000)))
    b.latenciesMs.push(endMs - dueMs)
    if (ok) b.ackedEvents += events
    else b.failedRequests++
  }

  // Once a second: the progress line, from the bucket of the second that just ended.
  const progress = setInterval(() => {
    const second = Math.floor(now() / 1000)
    const last = buckets[second - 1]
    const p99 = last
      ? percentileOf(
          [...last.latenciesMs].sort((a, b) => a - b),
          99
        )
      : null
    o.onProgress?.(
      `${second}s  sent ${fmt(counts.eventsSent)}  acked ${fmt(counts.acked)}  ` +
        `p99 ${p99 === null ? "-" : fmt(p99)} ms  in flight ${inFlight}` +
        (counts.dropped > 0 ? `  dropped ${fmt(counts.eventsDropped)}` : "")
    )
  }, 1000)
  progress.unref()

  const pending = new Set<Promise<void>>()
  await new Promise<void>((resolve) => {
    const times = intendedTimesMs(o)
    let next = times.next()
    const tick = () => {
      const current = now()
      while (!next.done && next.value <= current) {
        const p = fire(next.value)
        pending.add(p)
        void p.finally(() => pending.delete(p))
        next = times.next()
      }
      if (next.done) resolve()
      else setTimeout(tick, Math.max(0, next.value - now()))
    }
    tick()
  })
  await Promise.all(pending)
  clearInterval(progress)
  agent.destroy()

  const elapsedS = Math.max(o.durationS, lastAnswerMs / 1000)
  const timeline: SecondStats[] = buckets.map((b, t) => {
    const sorted = b.latenciesMs.sort((x, y) => x - y)
    const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000)
    return {
      t,
      targetRate: t < o.durationS ? Math.round(rateAt(o, t + 0.5)) : 0,
      sentEvents: b.sentEvents,
      ackedEvents: b.ackedEvents,
      droppedEvents: b.droppedEvents,
      failedRequests: b.failedRequests,
      p50Ms: round(percentileOf(sorted, 50)),
      p99Ms: round(percentileOf(sorted, 99))
    }
  })
  const planned = plannedRequests(o)
  return {
    startedAt: startedAt.toISOString(),
    plannedRequests: planned,
    plannedEvents: planned * o.batch,
    elapsedS: Math.round(elapsedS * 1000) / 1000,
    requests: { sent: counts.sent, dropped: counts.dropped, answered202: counts.answered202, byStatus },
    events: {
      sent: counts.eventsSent,
      fresh: factory.freshEvents,
      duplicatesSent: counts.duplicatesSent,
      malformedSent: counts.malformedSent,
      dropped: counts.eventsDropped,
      acked: counts.acked,
      results,
      acceptedDistinct: counts.acceptedDistinct,
      acceptedAgain: counts.acceptedAgain,
      unknownOutcome: counts.unknownOutcome
    },
    latency: summarize(latency),
    serviceTime: summarize(serviceTime),
    sendLag: summarize(sendLag),
    timeline
  }
}
