/**
 * The load process of the ingest benchmark, forked by `ingest.ts` so it does not share an event loop
 * with the harness. Arguments: one JSON object ({ ports, key, runId, batchSize, eventBytes }); with
 * several ports (several ingest processes), requests go to them in turn.
 * It runs the phases the harness sends over IPC and answers with progress and results.
 *
 * Bodies are built from a template: one serialized batch whose ids and subjects are fixed-width
 * placeholders, copied and patched per request, so every event has a unique id at little CPU cost.
 */
import { Agent, request } from "node:http"
import { performance } from "node:perf_hooks"
import {
  type EventCounts,
  type LoadCommand,
  type LoadMessage,
  type PhaseName,
  type PhaseResult,
  Samples,
  summarize,
  type Totals,
  zeroCounts
} from "./stats.ts"

interface LoadConfig {
  readonly ports: ReadonlyArray<number>
  readonly key: string
  readonly runId: string
  readonly batchSize: number
  readonly eventBytes: number
}

const REQUEST_TIMEOUT_MS = 30_000
const PROGRESS_EVERY_MS = 2_000
const ID_DIGITS = 10
const SUBJECT_DIGITS = 5

const send = (message: LoadMessage) => process.send?.(message)

// ---------------------------------------------------------------------------------------------
// Bodies

interface Template {
  readonly bytes: Buffer
  readonly idSlots: ReadonlyArray<number>
  readonly subjectSlots: ReadonlyArray<number>
  readonly eventBytes: number
}

const ID_MARK = "#".repeat(ID_DIGITS)
const SUBJECT_MARK = "%".repeat(SUBJECT_DIGITS)

const sampleEvent = (runId: string, time: string, padding: string) => ({
  specversion: "1.0",
  id: `${runId}-${ID_MARK}`,
  source: "/bench",
  type: "bench.event",
  subject: `user-${SUBJECT_MARK}`,
  time,
  datacontenttype: "application/json",
  data: { action: "page_view", page: "/products/1234", durationMs: 1234, pad: padding }
})

/** One batch in the JSON format whose events are each exactly `eventBytes` long (when possible). */
const makeTemplate = (config: LoadConfig): Template => {
  const time = new Date().toISOString()
  const bare = Buffer.byteLength(JSON.stringify(sampleEvent(config.runId, time, "")))
  const padding = "x".repeat(Math.max(0, config.eventBytes - bare))
  const event = JSON.stringify(sampleEvent(config.runId, time, padding))
  const text = `[${new Array<string>(config.batchSize).fill(event).join(",")}]`
  const bytes = Buffer.from(text, "latin1")
  const slots = (mark: string) => {
    const found: number[] = []
    for (let at = text.indexOf(mark); at !== -1; at = text.indexOf(mark, at + mark.length)) found.push(at)
    return found
  }
  const idSlots = slots(ID_MARK)
  const subjectSlots = slots(SUBJECT_MARK)
  if (idSlots.length !== config.batchSize || subjectSlots.length !== config.batchSize) {
    throw new Error("the event template has an unexpected shape")
  }
  return { bytes, idSlots, subjectSlots, eventBytes: Buffer.byteLength(event) }
}

const writeDigits = (target: Buffer, at: number, width: number, value: number) => {
  let rest = value
  for (let i = width - 1; i >= 0; i--) {
    target[at + i] = 48 + (rest % 10)
    rest = Math.floor(rest / 10)
  }
}

let sequence = 0

/** A fresh body: the template with the next unique ids and varied subjects (the partition key). */
const nextBody = (template: Template): Buffer => {
  const body = Buffer.allocUnsafe(template.bytes.length)
  template.bytes.copy(body)
  for (let i = 0; i < template.idSlots.length; i++) {
    const n = sequence++
    writeDigits(body, template.idSlots[i]!, ID_DIGITS, n)
    writeDigits(body, template.subjectSlots[i]!, SUBJECT_DIGITS, (n * 7919) % 100_000)
  }
  return body
}

// ---------------------------------------------------------------------------------------------
// One request

interface Outcome {
  /** The HTTP status, or "error" when no answer came. */
  readonly status: string
  readonly counts: EventCounts | undefined
  readonly problem: string | undefined
}

const HEAD = /^\{"accepted":(\d+),"duplicate":(\d+),"rejected":(\d+),"retry":(\d+),/

/**
 * Reads the counters at the head of a 202 answer; parses the whole answer only when something is
 * not accepted, to report why.
 */
const readAnswer = (status: number, body: Buffer, batchSize: number): Outcome => {
  if (status !== 202) {
    return {
      status: String(status),
      counts: undefined,
      problem: `${status}: ${body.toString("utf8", 0, 300)}`
    }
  }
  const head = HEAD.exec(body.toString("latin1", 0, 96))
  if (head === null) return { status: "202", counts: undefined, problem: "a 202 answer without counters" }
  const counts = {
    accepted: Number(head[1]),
    duplicate: Number(head[2]),
    rejected: Number(head[3]),
    retry: Number(head[4])
  }
  if (counts.accepted === batchSize) return { status: "202", counts, problem: undefined }
  let problem = `202 with ${JSON.stringify(counts)}`
  try {
    const parsed = JSON.parse(body.toString("utf8")) as {
      results?: Array<{ status: string; reason?: string }>
    }
    const first = parsed.results?.find((r) => r.status !== "accepted")
    if (first !== undefined) problem += `, e.g. ${first.status}: ${first.reason ?? "(no reason)"}`
  } catch {
    problem += " (the answer is not JSON)"
  }
  return { status: "202", counts, problem }
}

let turn = 0
const nextPort = (config: LoadConfig) => config.ports[turn++ % config.ports.length]!

const post = (config: LoadConfig, agent: Agent, body: Buffer): Promise<Outcome> =>
  new Promise((resolve) => {
    let settled = false
    const done = (outcome: Outcome) => {
      if (settled) return
      settled = true
      resolve(outcome)
    }
    const req = request(
      {
        host: "127.0.0.1",
        port: nextPort(config),
        method: "POST",
        path: "/v1/events",
        agent,
        headers: {
          "content-type": "application/cloudevents-batch+json",
          "content-length": body.length,
          authorization: `Bearer ${config.key}`
        }
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () =>
          done(
            readAnswer(
              res.statusCode ?? 0,
              chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
              config.batchSize
            )
          )
        )
        res.on("error", (error) => done({ status: "error", counts: undefined, problem: error.message }))
      }
    )
    req.setTimeout(REQUEST_TIMEOUT_MS, () =>
      req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`))
    )
    req.on("error", (error) => done({ status: "error", counts: undefined, problem: error.message }))
    req.end(body)
  })

/** Counts the requests of a phase and reports progress every PROGRESS_EVERY_MS. */
class Progress {
  inFlight = 0
  private accepted = 0
  private errors = 0
  private last = performance.now()
  private readonly timer: NodeJS.Timeout

  constructor(phase: "max" | "half", started: number, windowStart: number) {
    this.timer = setInterval(() => {
      const now = performance.now()
      send({
        type: "progress",
        phase,
        measuring: now >= windowStart,
        elapsedS: (now - started) / 1000,
        eventsPerSec: (this.accepted * 1000) / (now - this.last),
        inFlight: this.inFlight,
        errors: this.errors
      })
      this.accepted = 0
      this.errors = 0
      this.last = now
    }, PROGRESS_EVERY_MS)
  }

  /** Sends one request, counted while in flight and by its outcome. */
  async track(request: Promise<Outcome>): Promise<Outcome> {
    this.inFlight++
    const outcome = await request
    this.inFlight--
    this.accepted += outcome.counts?.accepted ?? 0
    if (outcome.status !== "202") this.errors++
    return outcome
  }

  stop() {
    clearInterval(this.timer)
  }
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping

const totals = {
  requests: 0,
  statuses: {} as Record<string, number>,
  events: zeroCounts(),
  unknownOutcomeEvents: 0,
  problems: [] as string[]
}

const addCounts = (into: EventCounts, from: EventCounts) => {
  into.accepted += from.accepted
  into.duplicate += from.duplicate
  into.rejected += from.rejected
  into.retry += from.retry
}

const bump = (statuses: Record<string, number>, status: string) => {
  statuses[status] = (statuses[status] ?? 0) + 1
}

const recordTotals = (outcome: Outcome, batchSize: number) => {
  totals.requests++
  bump(totals.statuses, outcome.status)
  if (outcome.counts !== undefined) addCounts(totals.events, outcome.counts)
  // A 503 means nothing of the request was stored; no answer at all means we cannot know.
  if (outcome.status === "error") totals.unknownOutcomeEvents += batchSize
  if (outcome.problem !== undefined && totals.problems.length < 10) totals.problems.push(outcome.problem)
}

const snapshotTotals = (): Totals => ({
  requests: totals.requests,
  statuses: { ...totals.statuses },
  events: { ...totals.events },
  unknownOutcomeEvents: totals.unknownOutcomeEvents,
  problems: [...totals.problems]
})

/** Counts in the measured window of a phase. */
class Window {
  readonly latencies = new Samples()
  readonly statuses: Record<string, number> = {}
  readonly events = zeroCounts()
  requests = 0

  add(outcome: Outcome, latencyMs: number) {
    this.requests++
    this.latencies.push(latencyMs)
    bump(this.statuses, outcome.status)
    if (outcome.counts !== undefined) addCounts(this.events, outcome.counts)
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Tells the harness when the measured window starts and ends (it samples CPU then): at those times,
 * or at the latest when the phase is over. Each edge is sent once, start before end.
 */
const windowEdges = (phase: PhaseName, startAt: number, endAt: number) => {
  let sent = 0
  const edge = (upTo: 1 | 2) => {
    while (sent < upTo) {
      sent++
      send({ type: "window", phase, edge: sent === 1 ? "start" : "end" })
    }
  }
  const timers = [
    setTimeout(() => edge(1), Math.max(0, startAt - performance.now())),
    setTimeout(() => edge(2), Math.max(0, endAt - performance.now()))
  ]
  return {
    finish: () => {
      for (const timer of timers) clearTimeout(timer)
      edge(2)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Phase A: closed loop, `concurrency` requests in flight

const runMax = async (
  config: LoadConfig,
  template: Template,
  command: Extract<LoadCommand, { cmd: "max" }>
): Promise<PhaseResult> => {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: command.concurrency,
    maxFreeSockets: command.concurrency
  })
  const started = performance.now()
  const windowStart = started + command.warmupS * 1000
  const windowEnd = windowStart + command.durationS * 1000
  const window = new Window()
  const progress = new Progress("max", started, windowStart)
  const edges = windowEdges("max", windowStart, windowEnd)

  const worker = async () => {
    while (performance.now() < windowEnd) {
      const body = nextBody(template)
      const begin = performance.now()
      const outcome = await progress.track(post(config, agent, body))
      const end = performance.now()
      recordTotals(outcome, config.batchSize)
      if (end >= windowStart && end < windowEnd) window.add(outcome, end - begin)
      // Back off a little on errors so a dead server is not hammered in a tight loop.
      if (outcome.status === "error") await sleep(50)
    }
  }
  await Promise.all(Array.from({ length: command.concurrency }, worker))
  progress.stop()
  edges.finish()
  agent.destroy()
  return {
    phase: "max",
    measuredS: command.durationS,
    requests: window.requests,
    eventsPerSec: window.events.accepted / command.durationS,
    latency: summarize(window.latencies),
    statuses: window.statuses,
    events: window.events
  }
}

// ---------------------------------------------------------------------------------------------
// Phase B: open model, requests sent at fixed intervals, latency from the scheduled time

const runOpen = async (
  config: LoadConfig,
  template: Template,
  command: Extract<LoadCommand, { cmd: "open" }>
): Promise<PhaseResult> => {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: command.maxSockets,
    maxFreeSockets: command.maxSockets
  })
  const intervalMs = (1000 * config.batchSize) / command.targetEventsPerSec
  const started = performance.now() + 20
  const windowStart = started + command.warmupS * 1000
  const windowEnd = windowStart + command.durationS * 1000
  const total = Math.floor((windowEnd - started) / intervalMs)
  const window = new Window()
  const progress = new Progress("half", started, windowStart)
  let lastCountedEnd = windowStart
  let maxSendLagMs = 0
  let next = 0
  let pending: Array<Promise<void>> = []

  const edges = windowEdges("half", windowStart, windowEnd)

  const fire = async (scheduled: number) => {
    const counted = scheduled >= windowStart && scheduled < windowEnd
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - scheduled)
    const outcome = await progress.track(post(config, agent, nextBody(template)))
    const end = performance.now()
    recordTotals(outcome, config.batchSize)
    if (counted) {
      window.add(outcome, end - scheduled)
      lastCountedEnd = Math.max(lastCountedEnd, end)
    }
  }

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      while (next < total && started + next * intervalMs <= now) {
        pending.push(fire(started + next * intervalMs))
        next++
      }
      if (pending.length > 4096) pending = [Promise.all(pending).then(() => undefined)]
      if (next >= total) return resolve()
      setTimeout(tick, Math.max(0, started + next * intervalMs - performance.now()))
    }
    setTimeout(tick, Math.max(0, started - performance.now()))
  })
  await Promise.all(pending)
  progress.stop()
  edges.finish()
  agent.destroy()
  // If the service fell behind, the counted requests finished later than the window: the rate is lower.
  const measuredS = Math.max(command.durationS, (lastCountedEnd - windowStart) / 1000)
  return {
    phase: "half",
    measuredS,
    requests: window.requests,
    eventsPerSec: window.events.accepted / measuredS,
    latency: summarize(window.latencies),
    statuses: window.statuses,
    events: window.events,
    targetEventsPerSec: command.targetEventsPerSec,
    maxSendLagMs
  }
}

// ---------------------------------------------------------------------------------------------

const main = () => {
  const config = JSON.parse(process.argv[2] ?? "{}") as LoadConfig
  const template = makeTemplate(config)
  send({ type: "ready", eventBytes: template.eventBytes, bodyBytes: template.bytes.length })
  // The harness going away ends this process too.
  process.on("disconnect", () => process.exit(0))
  process.on("message", (message: LoadCommand) => {
    if (message.cmd === "exit") {
      process.disconnect?.()
      return
    }
    const run = message.cmd === "max" ? runMax(config, template, message) : runOpen(config, template, message)
    run.then(
      (result) => send({ type: "result", result, totals: snapshotTotals() }),
      (error: unknown) =>
        send({ type: "failed", message: error instanceof Error ? error.message : String(error) })
    )
  })
}

main()
