/** One whole run: preflight, the load, the verification, the thresholds, the report. */
import { join, resolve } from "node:path"
import { typesOfRun } from "./Events.ts"
import type { Options } from "./Options.ts"
import { buildReport, type Report, writeReport } from "./Report.ts"
import { runLoad } from "./Runner.ts"
import { eventsDueBy } from "./Schedule.ts"
import { errorRateOf, evaluateThresholds } from "./Thresholds.ts"
import { type Verification, verify } from "./Verify.ts"

/** The target cannot be used: unreachable, or it refuses the key or the token. */
export class TargetError extends Error {}

const reason = (e: unknown) => {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? (e as Error).message
}

/** Checks that ingest answers and takes the key, and that the query API answers when verifying. */
export const preflight = async (o: Options) => {
  try {
    await fetch(new URL("/healthz", o.target), { signal: AbortSignal.timeout(5000) })
  } catch (e) {
    throw new TargetError(
      `Cannot reach the target ${o.target} (${reason(e)}). Is EventFlow running? Start it with \`npm start\`, or pass --target.`
    )
  }
  // An empty batch: the key is checked before the body, so 401/403 means the key is refused.
  const probe = await fetch(new URL("/v1/events", o.target), {
    method: "POST",
    headers: { "content-type": "application/cloudevents-batch+json", authorization: `Bearer ${o.key}` },
    body: "[]",
    signal: AbortSignal.timeout(5000)
  })
  if (probe.status === 401 || probe.status === 403)
    throw new TargetError(
      `The target refused the write key (${probe.status}). Pass a valid key with --key or EVENTFLOW_LOADTEST_KEY ` +
        "(it must allow the source /loadtest/<run>, e.g. a key created with --source '/loadtest/*')."
    )
  if (!o.verify) return
  let status: number
  try {
    const url = new URL(`/v1/pipelines/${encodeURIComponent(o.pipeline)}/results?limit=1`, o.queryUrl)
    const headers: Record<string, string> = o.readToken ? { authorization: `Bearer ${o.readToken}` } : {}
    status = (await fetch(url, { headers, signal: AbortSignal.timeout(5000) })).status
  } catch (e) {
    throw new TargetError(
      `Cannot reach the query API at ${o.queryUrl} (${reason(e)}). Pass --query-url, or --no-verify.`
    )
  }
  if (status === 401)
    throw new TargetError(
      `The query API at ${o.queryUrl} wants a read token: pass --read-token or EVENTFLOW_LOADTEST_READ_TOKEN ` +
        "(`eventflow tokens create`), or --no-verify."
    )
  if (status === 404)
    throw new TargetError(`The query API has no pipeline '${o.pipeline}': pass --pipeline, or --no-verify.`)
  if (status !== 200) throw new TargetError(`The query API answered ${status} to a results request.`)
}

export interface Io {
  readonly progress: (line: string) => void
}

/** What a report keeps of the options: everything but the secrets. */
const publicOptions = (o: Options) => {
  const { key: _key, readToken: _token, ...rest } = o
  return { ...rest, readToken: o.readToken ? "(set)" : "(none)" }
}

export const runScenario = async (o: Options, io: Io): Promise<{ report: Report; dir: string }> => {
  await preflight(o)
  const startedAt = new Date()
  const run = await runLoad({
    ...o,
    onProgress: io.progress
  })
  let verification: Verification | null = null
  if (o.verify) {
    verification = await verify({
      queryUrl: o.queryUrl,
      readToken: o.readToken,
      pipeline: o.pipeline,
      field: o.field,
      keys: typesOfRun(o.runId, o.types),
      from: new Date(startedAt.getTime() - 2 * 60_000),
      expected: run.events.acceptedDistinct,
      unknown: run.events.unknownOutcome,
      drainTimeoutS: o.drainTimeoutS,
      onProgress: io.progress
    })
  }
  const throughput = run.events.acked / run.elapsedS
  const errorRate = errorRateOf(run.requests.sent + run.requests.dropped, run.requests.answered202)
  const thresholds = evaluateThresholds(o.thresholds, { p99Ms: run.latency.p99Ms, errorRate, throughput })
  const report = buildReport({
    scenario: o.scenario,
    runId: o.runId,
    options: publicOptions(o),
    durationS: o.durationS,
    targetRate: eventsDueBy(o, o.durationS) / o.durationS,
    throughput,
    errorRate,
    thresholds,
    verification,
    run
  })
  const dir = resolve(o.out)
  await writeReport(dir, report)
  return { report, dir }
}

/** A few lines for a terminal. */
export const summaryLines = (r: Report, dir: string): string[] => {
  const n = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 1 })
  const l = r.run.latency
  const e = r.run.events
  const v = r.verification
  return [
    `${r.scenario}: ${r.pass ? "PASS" : "FAIL"}  (run ${r.runId})`,
    `  throughput ${n(r.summary.throughput)} events/s of ${n(r.summary.targetRate)} targeted, error rate ${(r.summary.errorRate * 100).toFixed(3)} %`,
    `  latency p50 ${n(l.p50Ms)} ms  p90 ${n(l.p90Ms)} ms  p99 ${n(l.p99Ms)} ms  p99.9 ${n(l.p999Ms)} ms  max ${n(l.maxMs)} ms`,
    `  events sent ${n(e.sent)}  accepted ${n(e.results.accepted)}  duplicate ${n(e.results.duplicate)}  rejected ${n(e.results.rejected)}  retry ${n(e.results.retry)}  dropped ${n(e.dropped)}`,
    v === null
      ? "  verification: off"
      : `  verification: expected ${n(v.expected)}, counted ${n(v.counted)}, difference ${v.difference} -> ${v.pass ? "exact" : "FAILED"}${v.error ? ` (${v.error})` : ""}`,
    ...r.thresholds.map((t) => `  threshold ${t.description}: ${t.pass ? "pass" : "FAIL"} (${n(t.actual)})`),
    ...r.failures.map((f) => `  failure: ${f}`),
    `  report: ${join(dir, "report.md")}`
  ]
}
