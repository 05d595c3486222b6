import { describe, expect, it } from "vitest"
import {
  AlertEvaluator,
  anomalyRule,
  count,
  from,
  pipeline,
  Tumbling,
  thresholdRule,
  type WindowRow
} from "../src/index.ts"

const perMinute = pipeline(
  "errors-per-minute",
  from("events.default")
    .selectKey((e) => e.source)
    .window(Tumbling.ofSizeWithNoGrace("1 minute"))
    .aggregate({ errors: count() })
)

const rows = (values: number[], key = "/api"): WindowRow[] =>
  values.map((errors, i) => ({
    key,
    windowStart: i * 60_000,
    windowEnd: (i + 1) * 60_000,
    final: true,
    values: { errors }
  }))

const statuses = (evaluator: AlertEvaluator, values: number[]) =>
  evaluator
    .evaluate("errors-per-minute", rows(values))
    .map((a) => [a.type, (a.data as { observed: number }).observed])

describe("threshold alerts", () => {
  it("open one incident while the value is above the bound, and resolve it once", () => {
    const evaluator = new AlertEvaluator([
      thresholdRule("too-many-errors", perMinute, "errors", { above: 10 })
    ])
    expect(statuses(evaluator, [1, 12, 30, 11, 4, 5, 20])).toEqual([
      ["eventflow.alert.opened", 12],
      ["eventflow.alert.resolved", 4],
      ["eventflow.alert.opened", 20]
    ])
  })

  it("give alerts deterministic ids, ignore open rows and other pipelines", () => {
    const evaluator = new AlertEvaluator([
      thresholdRule("low", perMinute, "errors", { below: 1 }, "critical")
    ])
    const [alert] = evaluator.evaluate("errors-per-minute", rows([0]))
    expect(alert).toMatchObject({
      id: "errors-per-minute/low//api/0/opened",
      type: "eventflow.alert.opened",
      subject: "errors-per-minute//api",
      data: { severity: "critical", observed: 0, reason: "0 is below 1" }
    })
    expect(evaluator.evaluate("errors-per-minute", [{ ...rows([0])[0]!, final: false }])).toEqual([])
    expect(evaluator.evaluate("other", rows([0]))).toEqual([])
  })

  it("needs a bound", () => {
    expect(() => thresholdRule("none", perMinute, "errors", {})).toThrow("alert rule 'none' needs a bound")
  })
})

describe("anomaly alerts", () => {
  it("learn the usual level, flag a spike as one incident, and resolve when it passes", () => {
    const evaluator = new AlertEvaluator([
      anomalyRule("spike", perMinute, "errors", { alpha: 0.3, zScore: 3, warmup: 5 })
    ])
    const usual = [10, 12, 9, 11, 10, 12, 9, 11]
    expect(statuses(evaluator, usual)).toEqual([])
    expect(statuses(evaluator, [80, 95])).toEqual([["eventflow.alert.opened", 80]])
    expect(statuses(evaluator, [10])).toEqual([["eventflow.alert.resolved", 10]])
  })

  it("keeps keys apart", () => {
    const evaluator = new AlertEvaluator([anomalyRule("spike", perMinute, "errors", { warmup: 3 })])
    evaluator.evaluate("errors-per-minute", rows([10, 11, 10, 11], "/a"))
    expect(evaluator.evaluate("errors-per-minute", rows([500], "/b"))).toEqual([])
    expect(evaluator.evaluate("errors-per-minute", rows([500], "/a")).map((a) => a.subject)).toEqual([
      "errors-per-minute//a"
    ])
  })
})
