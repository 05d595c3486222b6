/** Exact percentiles over recorded samples, and the messages the load process exchanges with the harness. */

/** Nearest-rank percentile of an ascending array (`q` in 0..1); NaN when there is no sample. */
export const percentile = (sorted: Float64Array, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1]!
}

/** A growable array of doubles (latencies in ms), cheap to append to at thousands of samples a second. */
export class Samples {
  private data = new Float64Array(1 << 14)
  private size = 0

  push(value: number): void {
    if (this.size === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.size++] = value
  }

  get length(): number {
    return this.size
  }

  /** A sorted copy of the samples. */
  sorted(): Float64Array {
    return this.data.slice(0, this.size).sort()
  }
}

export interface LatencySummary {
  readonly count: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
  readonly meanMs: number
}

export const summarize = (samples: Samples): LatencySummary => {
  const sorted = samples.sorted()
  let sum = 0
  for (const value of sorted) sum += value
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 0.5)),
    p90Ms: round(percentile(sorted, 0.9)),
    p99Ms: round(percentile(sorted, 0.99)),
    p999Ms: round(percentile(sorted, 0.999)),
    maxMs: round(sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!),
    meanMs: round(sorted.length === 0 ? Number.NaN : sum / sorted.length)
  }
}

/** Rounds to `digits` decimals (NaN stays NaN, which JSON prints as null). */
export const round = (value: number, digits = 2): number => {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

export interface EventCounts {
  accepted: number
  duplicate: number
  rejected: number
  retry: number
}

export const zeroCounts = (): EventCounts => ({ accepted: 0, duplicate: 0, rejected: 0, retry: 0 })

/** The harness tells the load process what to run. */
export type LoadCommand =
  | {
      readonly cmd: "max"
      readonly concurrency: number
      readonly warmupS: number
      readonly durationS: number
    }
  | {
      readonly cmd: "open"
      readonly targetEventsPerSec: number
      readonly warmupS: number
      readonly durationS: number
      readonly maxSockets: number
    }
  | { readonly cmd: "exit" }

export type PhaseName = "max" | "half"

export interface PhaseResult {
  readonly phase: PhaseName
  /** Seconds the figures are computed over. */
  readonly measuredS: number
  /** Requests that completed (max) or were scheduled (half) inside the measured window. */
  readonly requests: number
  readonly eventsPerSec: number
  readonly latency: LatencySummary
  /** HTTP statuses of the measured requests ("error" for a request that got no answer). */
  readonly statuses: Record<string, number>
  /** Per-event outcomes of the measured requests, from the 202 answers. */
  readonly events: EventCounts
  /** The open model only: the rate asked for. */
  readonly targetEventsPerSec?: number
  /** The open model only: how late, at worst, a request left after its scheduled time. */
  readonly maxSendLagMs?: number
}

/** Everything the load process did since it started, warm-ups and drains included (for verification). */
export interface Totals {
  readonly requests: number
  readonly statuses: Record<string, number>
  readonly events: EventCounts
  /** Requests without an answer: their events may or may not be in Kafka. */
  readonly unknownOutcomeEvents: number
  /** A few examples of what went wrong, if anything did. */
  readonly problems: ReadonlyArray<string>
}

export type LoadMessage =
  | { readonly type: "ready"; readonly eventBytes: number; readonly bodyBytes: number }
  | { readonly type: "window"; readonly phase: PhaseName; readonly edge: "start" | "end" }
  | {
      readonly type: "progress"
      readonly phase: PhaseName
      readonly measuring: boolean
      readonly elapsedS: number
      readonly eventsPerSec: number
      readonly inFlight: number
      readonly errors: number
    }
  | { readonly type: "result"; readonly result: PhaseResult; readonly totals: Totals }
  | { readonly type: "failed"; readonly message: string }
