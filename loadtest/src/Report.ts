/** The run's report: one JSON object with everything, a Markdown summary and an SVG latency chart. */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import type { RunStats, SecondStats } from "./Runner.ts"
import type { ThresholdResult } from "./Thresholds.ts"
import type { Verification } from "./Verify.ts"

export interface Report {
  readonly scenario: string
  readonly runId: string
  readonly pass: boolean
  /** Why the run failed, one sentence each (empty when it passed). */
  readonly failures: ReadonlyArray<string>
  readonly options: Record<string, unknown>
  readonly summary: {
    readonly durationS: number
    readonly elapsedS: number
    readonly targetRate: number
    /** Acknowledged events per second. */
    readonly throughput: number
    readonly errorRate: number
  }
  readonly thresholds: ReadonlyArray<ThresholdResult>
  readonly verification: Verification | null
  readonly run: RunStats
}

export const buildReport = (input: {
  scenario: string
  runId: string
  options: Record<string, unknown>
  durationS: number
  targetRate: number
  throughput: number
  errorRate: number
  thresholds: ReadonlyArray<ThresholdResult>
  verification: Verification | null
  run: RunStats
}): Report => {
  const failures = [
    ...input.thresholds
      .filter((t) => !t.pass)
      .map((t) => `threshold not met: ${t.description} (measured ${formatValue(t.name, t.actual)})`),
    ...(input.verification && !input.verification.pass
      ? [
          input.verification.error
            ? `verification failed: ${input.verification.error}`
            : `verification failed: the pipeline counted ${input.verification.counted} events, ` +
              `${input.verification.expected} were accepted (difference ${signed(input.verification.difference)})`
        ]
      : []),
    ...(input.run.events.acceptedAgain > 0
      ? [`${input.run.events.acceptedAgain} events were answered 'accepted' twice (a dedup failure)`]
      : [])
  ]
  return {
    scenario: input.scenario,
    runId: input.runId,
    pass: failures.length === 0,
    failures,
    options: input.options,
    summary: {
      durationS: input.durationS,
      elapsedS: input.run.elapsedS,
      targetRate: Math.round(input.targetRate * 10) / 10,
      throughput: Math.round(input.throughput * 10) / 10,
      errorRate: Math.round(input.errorRate * 1e6) / 1e6
    },
    thresholds: input.thresholds,
    verification: input.verification,
    run: input.run
  }
}

const n = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 1 })
const signed = (v: number) => (v > 0 ? `+${v}` : String(v))
const formatValue = (name: string, v: number) =>
  name === "maxErrorRate" ? `${(v * 100).toFixed(2)} %` : name === "p99Ms" ? `${n(v)} ms` : `${n(v)} events/s`

export const renderMarkdown = (r: Report): string => {
  const e = r.run.events
  const l = r.run.latency
  const lines = [
    `# Load test \`${r.scenario}\`: ${r.pass ? "PASS" : "FAIL"}`,
    "",
    `Run \`${r.runId}\`, started ${r.run.startedAt}, against ${String(r.options.target)}.`,
    "",
    ...(r.failures.length > 0 ? ["**Failures:**", "", ...r.failures.map((f) => `- ${f}`), ""] : []),
    "## Summary",
    "",
    "| figure | value |",
    "| --- | --- |",
    `| duration (planned / to the last answer) | ${n(r.summary.durationS)} s / ${n(r.summary.elapsedS)} s |`,
    `| target rate (mean) | ${n(r.summary.targetRate)} events/s |`,
    `| throughput (acknowledged) | ${n(r.summary.throughput)} events/s |`,
    `| requests sent / dropped (in-flight cap) | ${n(r.run.requests.sent)} / ${n(r.run.requests.dropped)} |`,
    `| events sent / acknowledged (202) | ${n(e.sent)} / ${n(e.acked)} |`,
    `| error rate (requests not answered 202) | ${(r.summary.errorRate * 100).toFixed(3)} % |`,
    "",
    "## Thresholds",
    "",
    ...(r.thresholds.length === 0
      ? ["None."]
      : [
          "| threshold | measured | result |",
          "| --- | --- | --- |",
          ...r.thresholds.map(
            (t) => `| ${t.description} | ${formatValue(t.name, t.actual)} | ${t.pass ? "pass" : "**FAIL**"} |`
          )
        ]),
    "",
    "## Verification (exactly once)",
    "",
    ...(r.verification === null
      ? ["Not run (`verify` is off)."]
      : [
          "| figure | value |",
          "| --- | --- |",
          `| expected (distinct events answered \`accepted\`) | ${n(r.verification.expected)} |`,
          `| counted (sum of \`${r.verification.field}\` in \`${r.verification.pipeline}\`) | ${n(r.verification.counted)} |`,
          `| difference | ${signed(r.verification.difference)} |`,
          ...(r.verification.unknown > 0
            ? [`| events of unanswered requests (may count) | ${n(r.verification.unknown)} |`]
            : []),
          `| drained in | ${n(r.verification.drainS)} s |`,
          `| result | ${r.verification.pass ? "pass" : "**FAIL**"}${r.verification.error ? `: ${r.verification.error}` : ""} |`
        ]),
    "",
    "## Results per event",
    "",
    "| result | events |",
    "| --- | --- |",
    `| accepted | ${n(e.results.accepted)} |`,
    `| duplicate | ${n(e.results.duplicate)} |`,
    `| rejected | ${n(e.results.rejected)} |`,
    `| retry | ${n(e.results.retry)} |`,
    `| sent as duplicates / as malformed | ${n(e.duplicatesSent)} / ${n(e.malformedSent)} |`,
    `| dropped (never sent) | ${n(e.dropped)} |`,
    "",
    "## HTTP statuses",
    "",
    "| status | requests |",
    "| --- | --- |",
    ...Object.entries(r.run.requests.byStatus)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, count]) => `| ${status} | ${n(count)} |`),
    "",
    "## Latency (from each request's due time)",
    "",
    "| | p50 | p90 | p99 | p99.9 | max | mean |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...(
      [
        ["latency", l],
        ["service time (from the actual send)", r.run.serviceTime],
        ["generator lag (send − due)", r.run.sendLag]
      ] as const
    ).map(
      ([name, s]) =>
        `| ${name} | ${n(s.p50Ms)} ms | ${n(s.p90Ms)} ms | ${n(s.p99Ms)} ms | ${n(s.p999Ms)} ms | ${n(s.maxMs)} ms | ${n(s.meanMs)} ms |`
    ),
    "",
    "![latency over time](latency.svg)",
    ""
  ]
  return lines.join("\n")
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/** p50 and p99 per second (left axis, ms) and the sent and target rates (right axis, events/s). */
export const renderSvg = (timeline: ReadonlyArray<SecondStats>, title: string): string => {
  const W = 900
  const H = 360
  const m = { left: 60, right: 70, top: 40, bottom: 40 }
  const w = W - m.left - m.right
  const h = H - m.top - m.bottom
  const seconds = Math.max(1, timeline.length)
  const maxLatency = Math.max(1, ...timeline.flatMap((s) => [s.p50Ms ?? 0, s.p99Ms ?? 0]))
  const maxRate = Math.max(1, ...timeline.flatMap((s) => [s.sentEvents, s.targetRate]))
  const x = (t: number) => m.left + (w * (t + 0.5)) / seconds
  const yL = (v: number) => m.top + h - (h * v) / maxLatency
  const yR = (v: number) => m.top + h - (h * v) / maxRate
  const path = (points: Array<[number, number] | null>) => {
    let d = ""
    let pen = false
    for (const p of points) {
      if (p === null) {
        pen = false
        continue
      }
      d += `${pen ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)} `
      pen = true
    }
    return d.trim()
  }
  const line = (d: string, color: string, extra = "") =>
    `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"${extra}/>`
  const ticks = [0, 0.25, 0.5, 0.75, 1]
  const xTicks = Array.from({ length: 6 }, (_, i) => Math.round(((seconds - 1) * i) / 5))
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.left}" y="20" font-size="14">${escapeXml(title)}</text>`,
    ...ticks.map(
      (f) =>
        `<line x1="${m.left}" x2="${m.left + w}" y1="${yL(maxLatency * f).toFixed(1)}" y2="${yL(maxLatency * f).toFixed(1)}" stroke="#eee"/>` +
        `<text x="${m.left - 6}" y="${(yL(maxLatency * f) + 4).toFixed(1)}" text-anchor="end">${n(maxLatency * f)}</text>` +
        `<text x="${m.left + w + 6}" y="${(yR(maxRate * f) + 4).toFixed(1)}">${n(maxRate * f)}</text>`
    ),
    ...xTicks.map(
      (t) => `<text x="${x(t).toFixed(1)}" y="${m.top + h + 16}" text-anchor="middle">${t}s</text>`
    ),
    `<text x="14" y="${m.top + h / 2}" transform="rotate(-90 14 ${m.top + h / 2})" text-anchor="middle">latency (ms)</text>`,
    `<text x="${W - 12}" y="${m.top + h / 2}" transform="rotate(90 ${W - 12} ${m.top + h / 2})" text-anchor="middle">events/s</text>`,
    `<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
    line(path(timeline.map((s) => [x(s.t), yR(s.targetRate)])), "#bbb", ' stroke-dasharray="4 3"'),
    line(path(timeline.map((s) => [x(s.t), yR(s.sentEvents)])), "#2ca02c"),
    line(path(timeline.map((s) => (s.p50Ms === null ? null : [x(s.t), yL(s.p50Ms)]))), "#1f77b4"),
    line(path(timeline.map((s) => (s.p99Ms === null ? null : [x(s.t), yL(s.p99Ms)]))), "#d62728"),
    ...(
      [
        ["p50 (ms)", "#1f77b4"],
        ["p99 (ms)", "#d62728"],
        ["sent events/s", "#2ca02c"],
        ["target events/s", "#bbb"]
      ] as const
    ).map(
      ([label, color], i) =>
        `<rect x="${m.left + 250 + i * 120}" y="12" width="12" height="3" fill="${color}"/>` +
        `<text x="${m.left + 266 + i * 120}" y="17">${label}</text>`
    ),
    "</svg>",
    ""
  ].join("\n")
}

/** Writes report.json, report.md and latency.svg into `dir`. */
export const writeReport = async (dir: string, r: Report) => {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, "report.json"), `${JSON.stringify(r, null, 2)}\n`)
  await writeFile(join(dir, "report.md"), renderMarkdown(r))
  await writeFile(
    join(dir, "latency.svg"),
    renderSvg(r.run.timeline, `${r.scenario}: latency and rate per second`)
  )
}
