/** The pass/fail limits of a scenario, and their evaluation against a run. */

export interface Thresholds {
  /** Highest p99 latency (from the due time), in milliseconds. */
  readonly p99Ms?: number
  /** Highest share of requests not answered 202 (other statuses, no answer, dropped). */
  readonly maxErrorRate?: number
  /** Lowest acknowledged events per second (events in 202 answers over the run's time). */
  readonly minThroughput?: number
}

export interface Measured {
  readonly p99Ms: number
  readonly errorRate: number
  readonly throughput: number
}

export interface ThresholdResult {
  readonly name: keyof Thresholds
  readonly description: string
  readonly limit: number
  readonly actual: number
  readonly pass: boolean
}

export const evaluateThresholds = (t: Thresholds, m: Measured): ThresholdResult[] => {
  const results: ThresholdResult[] = []
  if (t.p99Ms !== undefined)
    results.push({
      name: "p99Ms",
      description: `p99 latency ≤ ${t.p99Ms} ms`,
      limit: t.p99Ms,
      actual: m.p99Ms,
      pass: m.p99Ms <= t.p99Ms
    })
  if (t.maxErrorRate !== undefined)
    results.push({
      name: "maxErrorRate",
      description: `error rate ≤ ${(t.maxErrorRate * 100).toFixed(2)} %`,
      limit: t.maxErrorRate,
      actual: m.errorRate,
      pass: m.errorRate <= t.maxErrorRate
    })
  if (t.minThroughput !== undefined)
    results.push({
      name: "minThroughput",
      description: `throughput ≥ ${t.minThroughput} events/s`,
      limit: t.minThroughput,
      actual: m.throughput,
      pass: m.throughput >= t.minThroughput
    })
  return results
}

/** Share of the planned requests that did not end in a 202 (dropped ones included). */
export const errorRateOf = (planned: number, answered202: number) =>
  planned === 0 ? 0 : Math.max(0, planned - answered202) / planned
