import { describe, expect, it } from "vitest"
import { resolveOptions, UsageError } from "../src/Options.ts"
import { buildReport, renderMarkdown, renderSvg } from "../src/Report.ts"
import type { RunStats } from "../src/Runner.ts"
import { errorRateOf, evaluateThresholds } from "../src/Thresholds.ts"

describe("thresholds", () => {
  it("pass at the limit and fail beyond it", () => {
    const t = { p99Ms: 100, maxErrorRate: 0.01, minThroughput: 1000 }
    expect(
      evaluateThresholds(t, { p99Ms: 100, errorRate: 0.01, throughput: 1000 }).every((r) => r.pass)
    ).toBe(true)
    const failed = evaluateThresholds(t, { p99Ms: 101, errorRate: 0.02, throughput: 999 })
    expect(failed.map((r) => [r.name, r.pass])).toEqual([
      ["p99Ms", false],
      ["maxErrorRate", false],
      ["minThroughput", false]
    ])
    expect(evaluateThresholds({}, { p99Ms: 1e9, errorRate: 1, throughput: 0 })).toEqual([])
  })

  it("count dropped requests as errors", () => {
    expect(errorRateOf(100, 90)).toBeCloseTo(0.1)
    expect(errorRateOf(0, 0)).toBe(0)
  })
})

const summary = { count: 10, meanMs: 5, p50Ms: 4, p90Ms: 8, p99Ms: 9, p999Ms: 9.5, maxMs: 9.5 }
const run: RunStats = {
  startedAt: "2026-01-01T00:00:00.000Z",
  plannedRequests: 10,
  plannedEvents: 100,
  elapsedS: 2,
  requests: { sent: 10, dropped: 0, answered202: 9, byStatus: { "202": 9, "503": 1 } },
  events: {
    sent: 100,
    fresh: 100,
    duplicatesSent: 0,
    malformedSent: 0,
    dropped: 0,
    acked: 90,
    results: { accepted: 90, duplicate: 0, rejected: 0, retry: 0 },
    acceptedDistinct: 90,
    acceptedAgain: 0,
    unknownOutcome: 0
  },
  latency: summary,
  serviceTime: summary,
  sendLag: summary,
  timeline: [
    {
      t: 0,
      targetRate: 50,
      sentEvents: 50,
      ackedEvents: 50,
      droppedEvents: 0,
      failedRequests: 0,
      p50Ms: 4,
      p99Ms: 9
    },
    {
      t: 1,
      targetRate: 50,
      sentEvents: 50,
      ackedEvents: 40,
      droppedEvents: 0,
      failedRequests: 1,
      p50Ms: null,
      p99Ms: null
    }
  ]
}

describe("the report", () => {
  const make = (counted: number) => {
    const thresholds = evaluateThresholds(
      { p99Ms: 5, maxErrorRate: 0.2 },
      { p99Ms: 9, errorRate: 0.1, throughput: 45 }
    )
    return buildReport({
      scenario: "steady",
      runId: "r1",
      options: { target: "http://127.0.0.1:8080" },
      durationS: 2,
      targetRate: 50,
      throughput: 45,
      errorRate: 0.1,
      thresholds,
      verification: {
        pipeline: "events-per-type",
        field: "events",
        expected: 90,
        counted,
        difference: counted - 90,
        unknown: 0,
        pass: counted === 90,
        drainS: 1,
        polls: 2
      },
      run
    })
  }

  it("fails on a threshold breach and on a count that differs, saying which", () => {
    const r = make(88)
    expect(r.pass).toBe(false)
    expect(r.failures).toHaveLength(2)
    expect(r.failures[0]).toContain("p99 latency ≤ 5 ms")
    expect(r.failures[1]).toContain("difference -2")
    const md = renderMarkdown(r)
    expect(md).toContain("# Load test `steady`: FAIL")
    expect(md).toMatch(/\| p99 latency ≤ 5 ms \| 9 ms \| \*\*FAIL\*\* \|/)
    expect(md).toMatch(/\| error rate ≤ 20\.00 % \| 10\.00 % \| pass \|/)
    expect(md).toContain("| difference | -2 |")
    expect(md).toContain("| 503 | 1 |")
    expect(md).toMatch(/\| latency \| 4 ms \| 8 ms \| 9 ms \| 9\.5 ms \| 9\.5 ms \| 5 ms \|/)
    expect(make(90).failures).toHaveLength(1)
  })

  it("draws p50, p99 and the rates as an SVG, with gaps for seconds without answers", () => {
    const svg = renderSvg(run.timeline, "steady & co")
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg).toContain("steady &amp; co")
    expect(svg.match(/<path /g)).toHaveLength(4)
    expect(svg).toContain("p99 (ms)")
  })
})

describe("options", () => {
  const env = { EVENTFLOW_LOADTEST_KEY: "k" }
  it("take the scenario, then the flags", () => {
    const o = resolveOptions(["--scenario", "spike", "--duration", "2m", "--rate", "500"], env)
    expect(o.durationS).toBe(120)
    expect(o.rate).toBe(500)
    expect(o.profile).toEqual({ kind: "spike", multiplier: 5, seconds: 10, at: 20 })
    // the throughput floor follows the rate
    expect(o.thresholds.minThroughput).toBe(750)
    expect(o.key).toBe("k")
    expect(o.out).toMatch(/^test-output[\\/]loadtest[\\/]spike-/)
    expect(resolveOptions(["--scenario", "soak"], env).durationS).toBe(600)
  })

  it("say what is wrong in a sentence", () => {
    expect(() => resolveOptions(["--rate", "fast"], env)).toThrow(UsageError)
    expect(() => resolveOptions(["--rate", "fast"], env)).toThrow(
      "--rate (events per second) must be a number above zero"
    )
    expect(() => resolveOptions(["--scenario", "nope"], env)).toThrow("There is no scenario 'nope'")
    expect(() => resolveOptions(["--bogus"], env)).toThrow(UsageError)
    expect(() => resolveOptions(["--duplicate-ratio", "0.7", "--malformed-ratio", "0.5"], env)).toThrow(
      "must not exceed 1"
    )
    expect(() => resolveOptions([], {}, "/nonexistent")).toThrow("No write key")
  })
})
