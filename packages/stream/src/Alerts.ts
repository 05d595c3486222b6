/**
 * Alert rules over a pipeline's final window rows: a threshold on a value, or an anomaly score
 * (z-score against an exponentially weighted mean and variance of past normal windows). One incident is
 * one alert: `opened` when the condition starts to hold for a key, `resolved` when it stops, and
 * nothing in between. Alerts are CloudEvents with deterministic ids, so a replay repeats them
 * with the same ids and downstream dedup holds.
 */
import type { CloudEvent } from "@eventflow/core"
import type { Pipeline } from "./Dsl.ts"
import type { WindowRow } from "./WindowProcessor.ts"

export type AlertCondition =
  | { readonly kind: "threshold"; readonly above?: number; readonly below?: number }
  | {
      readonly kind: "anomaly"
      /** Weight of the newest window in the running mean and variance (0 < alpha ≤ 1). */
      readonly alpha: number
      /** How many standard deviations from the mean make an anomaly. */
      readonly zScore: number
      /** Windows to learn from before any anomaly is raised. */
      readonly warmup: number
    }

export interface AlertRule {
  readonly name: string
  readonly pipeline: string
  /** The aggregation (value name) of the pipeline's rows the rule watches. */
  readonly value: string
  readonly condition: AlertCondition
  readonly severity: "info" | "warning" | "critical"
}

export const thresholdRule = (
  name: string,
  pipeline: Pipeline,
  value: string,
  bounds: { readonly above?: number; readonly below?: number },
  severity: AlertRule["severity"] = "warning"
): AlertRule => {
  if (bounds.above === undefined && bounds.below === undefined) {
    throw new TypeError(`alert rule '${name}' needs a bound: above, below, or both`)
  }
  return { name, pipeline: pipeline.name, value, condition: { kind: "threshold", ...bounds }, severity }
}

export const anomalyRule = (
  name: string,
  pipeline: Pipeline,
  value: string,
  options: { readonly alpha?: number; readonly zScore?: number; readonly warmup?: number } = {},
  severity: AlertRule["severity"] = "warning"
): AlertRule => {
  const alpha = options.alpha ?? 0.3
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alert rule '${name}': alpha must be in (0, 1]`)
  return {
    name,
    pipeline: pipeline.name,
    value,
    condition: { kind: "anomaly", alpha, zScore: options.zScore ?? 3, warmup: options.warmup ?? 5 },
    severity
  }
}

/** What a rule remembers of one key: whether an incident is open, and the running statistics. */
export interface KeyState {
  open: boolean
  samples: number
  mean: number
  variance: number
}

/** Rule states by `rule NUL key`. */
export type AlertStates = Map<string, KeyState>

export class AlertEvaluator {
  private readonly touched = new Set<string>()

  constructor(
    readonly rules: ReadonlyArray<AlertRule>,
    readonly source = "/eventflow/alerts",
    /** The states stored so far (the engine loads them with each checkpoint). */
    private readonly store: AlertStates = new Map()
  ) {}

  /** The states the evaluations so far changed, to store. */
  states(): IterableIterator<[string, KeyState]> {
    const { store, touched } = this
    return (function* () {
      for (const id of touched) yield [id, store.get(id)!] as [string, KeyState]
    })()
  }

  /** Evaluates final rows of a pipeline, in window order; returns the alerts they raise or resolve. */
  evaluate(pipeline: string, rows: ReadonlyArray<WindowRow>): CloudEvent[] {
    const alerts: CloudEvent[] = []
    for (const row of rows) {
      if (!row.final) continue
      for (const rule of this.rules) {
        if (rule.pipeline !== pipeline) continue
        const value = row.values[rule.value]
        if (value === null || value === undefined) continue
        const id = `${rule.name}\u0000${row.key}`
        const state = this.store.get(id) ?? { open: false, samples: 0, mean: 0, variance: 0 }
        this.store.set(id, state)
        this.touched.add(id)
        const firing = this.firing(rule.condition, state, value)
        if (firing !== undefined && !state.open) {
          state.open = true
          alerts.push(this.alert("opened", rule, row, value, firing))
        } else if (firing === undefined && state.open) {
          state.open = false
          alerts.push(this.alert("resolved", rule, row, value, "back within bounds"))
        }
      }
    }
    return alerts
  }

  /** Why the condition holds for this value, or undefined when it does not. */
  private firing(condition: AlertCondition, state: KeyState, value: number): string | undefined {
    if (condition.kind === "threshold") {
      if (condition.above !== undefined && value > condition.above)
        return `${value} is above ${condition.above}`
      if (condition.below !== undefined && value < condition.below)
        return `${value} is below ${condition.below}`
      return undefined
    }
    const { alpha, zScore, warmup } = condition
    let reason: string | undefined
    if (state.samples >= warmup) {
      const deviation = Math.sqrt(state.variance)
      const z =
        deviation === 0
          ? value === state.mean
            ? 0
            : Number.POSITIVE_INFINITY
          : (value - state.mean) / deviation
      if (Math.abs(z) > zScore)
        reason = `${value} is ${Number.isFinite(z) ? Math.abs(z).toFixed(1) : "∞"} standard deviations from the mean ${state.mean.toFixed(2)}`
    }
    // Exponentially weighted mean and variance (West's incremental form). Anomalies do not teach the
    // baseline: a lasting shift stays one open incident until the level comes back.
    if (reason !== undefined) return reason
    if (state.samples === 0) state.mean = value
    else {
      const diff = value - state.mean
      const increment = alpha * diff
      state.mean += increment
      state.variance = (1 - alpha) * (state.variance + diff * increment)
    }
    state.samples++
    return reason
  }

  private alert(
    status: "opened" | "resolved",
    rule: AlertRule,
    row: WindowRow,
    value: number,
    reason: string
  ): CloudEvent {
    return {
      specversion: "1.0",
      id: `${rule.pipeline}/${rule.name}/${row.key}/${row.windowStart}/${status}`,
      source: this.source,
      type: `eventflow.alert.${status}`,
      subject: `${rule.pipeline}/${row.key}`,
      time: new Date(row.windowEnd).toISOString(),
      datacontenttype: "application/json",
      data: {
        rule: rule.name,
        pipeline: rule.pipeline,
        key: row.key,
        value: rule.value,
        observed: value,
        severity: rule.severity,
        reason,
        windowStart: new Date(row.windowStart).toISOString(),
        windowEnd: new Date(row.windowEnd).toISOString()
      }
    }
  }
}
