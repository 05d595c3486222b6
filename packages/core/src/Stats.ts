/**
 * Live ingest statistics for the dashboard: counters since start and the latency of acknowledged
 * requests, as a log-bucketed histogram that merges across instances (each bucket is 5% wide, so a
 * percentile read from it is within 2.5% of the true value).
 */
import { Context } from "effect"

const RATIO = 1.05
const MIN_MS = 0.05
const LOG_RATIO = Math.log(RATIO)

/** A sparse histogram of milliseconds: bucket index → count. */
export class LatencyHistogram {
  readonly buckets = new Map<number, number>()
  count = 0

  record(ms: number): void {
    const index = ms <= MIN_MS ? 0 : Math.ceil(Math.log(ms / MIN_MS) / LOG_RATIO)
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1)
    this.count++
  }

  merge(other: LatencyHistogram): this {
    for (const [index, n] of other.buckets) this.buckets.set(index, (this.buckets.get(index) ?? 0) + n)
    this.count += other.count
    return this
  }

  /** What this histogram holds beyond `earlier` (an earlier copy of the same cumulative histogram). */
  minus(earlier: LatencyHistogram): LatencyHistogram {
    const out = new LatencyHistogram()
    for (const [index, n] of this.buckets) {
      const d = n - (earlier.buckets.get(index) ?? 0)
      if (d > 0) {
        out.buckets.set(index, d)
        out.count += d
      }
    }
    return out
  }

  /** The value at quantile `q` (0 < q ≤ 1): the geometric middle of its bucket; null when empty. */
  quantile(q: number): number | null {
    if (this.count === 0) return null
    const rank = Math.max(1, Math.ceil(q * this.count))
    let seen = 0
    for (const index of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(index) ?? 0
      if (seen >= rank) {
        if (index === 0) return MIN_MS
        const upper = MIN_MS * RATIO ** index
        return Math.round((upper / Math.sqrt(RATIO)) * 100) / 100
      }
    }
    return null
  }

  toJSON(): ReadonlyArray<readonly [number, number]> {
    return [...this.buckets.entries()]
  }

  static fromJSON(entries: unknown): LatencyHistogram {
    const histogram = new LatencyHistogram()
    if (!Array.isArray(entries)) return histogram
    for (const entry of entries) {
      if (!Array.isArray(entry)) continue
      const [index, n] = entry as [unknown, unknown]
      if (typeof index !== "number" || typeof n !== "number" || !(n > 0)) continue
      histogram.buckets.set(index, (histogram.buckets.get(index) ?? 0) + n)
      histogram.count += n
    }
    return histogram
  }
}

export interface IngestTotals {
  readonly accepted: number
  readonly duplicates: number
  readonly rejected: number
  readonly requests: number
}

export interface IngestSample extends IngestTotals {
  /** Latencies of the requests answered since the previous sample. */
  readonly latency: LatencyHistogram
}

/** What one ingest process counts. `sample` hands over the latencies recorded since its last call. */
export class IngestStats extends Context.Tag("core/IngestStats")<
  IngestStats,
  {
    readonly record: (outcome: {
      readonly accepted: number
      readonly duplicates: number
      readonly rejected: number
      readonly latencyMs: number
    }) => void
    readonly totals: () => IngestTotals
    /** Hands over the latencies recorded since the previous call (one reader only). */
    readonly sample: () => IngestSample
    /** The totals with every latency since start: for readers that take differences (through Redis). */
    readonly cumulative: () => IngestSample
  }
>() {}

export const makeIngestStats = (): Context.Tag.Service<IngestStats> => {
  let accepted = 0
  let duplicates = 0
  let rejected = 0
  let requests = 0
  // One histogram of every latency since start; a sample is its difference from the last one taken.
  const all = new LatencyHistogram()
  let sampled = new LatencyHistogram()
  const totals = () => ({ accepted, duplicates, rejected, requests })
  return {
    record: (outcome) => {
      accepted += outcome.accepted
      duplicates += outcome.duplicates
      rejected += outcome.rejected
      requests++
      all.record(outcome.latencyMs)
    },
    totals,
    sample: () => {
      const latency = all.minus(sampled)
      sampled = new LatencyHistogram().merge(all)
      return { ...totals(), latency }
    },
    cumulative: () => ({ ...totals(), latency: all })
  }
}
