/** The options of a run: a scenario file, then flags over it; every mistake is a plain sentence. */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import type { Profile } from "./Schedule.ts"
import type { Thresholds } from "./Thresholds.ts"

export class UsageError extends Error {}

export const scenariosDir = fileURLToPath(new URL("../scenarios/", import.meta.url))

/** A scenario file (loadtest/scenarios/*.json). Durations are seconds or text like "10m". */
export interface Scenario {
  readonly description?: string
  readonly rate?: number
  readonly batch?: number
  readonly duration?: number | string
  readonly profile?: "constant" | "ramp" | "spike"
  readonly ramp?: { readonly from?: number; readonly to?: number }
  readonly spike?: { readonly multiplier?: number; readonly seconds?: number; readonly at?: number }
  readonly payloadBytes?: number
  readonly keys?: number
  readonly types?: number
  readonly duplicateRatio?: number
  readonly malformedRatio?: number
  readonly maxInFlight?: number
  readonly drainTimeout?: number | string
  readonly verify?: boolean
  readonly pipeline?: string
  readonly field?: string
  readonly thresholds?: Thresholds
}

export interface Options {
  readonly scenario: string
  readonly target: string
  readonly queryUrl: string
  readonly key: string
  readonly readToken: string | undefined
  readonly rate: number
  readonly batch: number
  readonly durationS: number
  readonly profile: Profile
  readonly payloadBytes: number
  readonly keys: number
  readonly types: number
  readonly duplicateRatio: number
  readonly malformedRatio: number
  readonly maxInFlight: number
  readonly requestTimeoutS: number
  readonly drainTimeoutS: number
  readonly verify: boolean
  readonly pipeline: string
  readonly field: string
  readonly thresholds: Thresholds
  readonly out: string
  readonly runId: string
  readonly seed: number
  readonly quiet: boolean
}

export const usage = `Usage: npm run loadtest -- [--scenario NAME|FILE] [flags]

Sends CloudEvents to EventFlow at a constant arrival rate (open model), measures latency from each
request's due time, then checks that the pipeline counted every accepted event exactly once.

  --scenario NAME|FILE   steady, spike, duplicates, bad-input, soak (loadtest/scenarios), or a JSON file
  --target URL           the ingest API (default http://127.0.0.1:8080)
  --query-url URL        the query API (default: the target)
  --key KEY              write key (else EVENTFLOW_LOADTEST_KEY, else .eventflow/dev-write-key)
  --read-token TOKEN     read token of the query API (else EVENTFLOW_LOADTEST_READ_TOKEN)
  --rate N               events per second (the base rate of a spike)
  --batch N              events per request
  --duration D           seconds, or 90s, 10m, 1h
  --profile P            constant, ramp or spike
  --ramp-from N --ramp-to N                          ramp: events/s at the start and the end
  --spike-multiplier N --spike-seconds N --spike-at N  spike: N× the rate for S seconds from second A
  --payload-bytes N      bytes of each event's data
  --keys N               distinct subjects
  --types N              distinct event types
  --duplicate-ratio R    share of events re-sending an earlier id (0–1)
  --malformed-ratio R    share of invalid events (0–1)
  --max-in-flight N      requests in flight at most; requests beyond are dropped (default 1024)
  --request-timeout D    per request (default 30s)
  --drain-timeout D      how long the verification waits for the pipeline (default 60s)
  --verify / --no-verify check the pipeline's count
  --pipeline NAME        pipeline counting per type (default events-per-type)
  --field NAME           its count value (default events)
  --p99-ms N --max-error-rate R --min-throughput N   thresholds (override the scenario's)
  --out DIR              report folder (default test-output/loadtest/<scenario>-<time>)
  --seed N               seed of the random choices
  --quiet                no progress lines
  --help

Exit status: 0 passed, 1 a threshold or the verification failed, 2 usage error or the target is unusable.`

/** "90" or 90 → 90; "90s", "10m", "1h", "500ms" → seconds. */
export const parseDuration = (value: number | string, what: string): number => {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return value
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|sec|secs|seconds?|min|minutes?|hours?)?\s*$/.exec(
    String(value)
  )
  if (!match)
    throw new UsageError(`${what} must be a positive number of seconds or like 90s, 10m, 1h; got '${value}'.`)
  const amount = Number(match[1])
  const unit = match[2] ?? "s"
  const seconds =
    unit === "ms"
      ? amount / 1000
      : unit.startsWith("m")
        ? amount * 60
        : unit.startsWith("h")
          ? amount * 3600
          : amount
  if (!(seconds > 0)) throw new UsageError(`${what} must be more than zero; got '${value}'.`)
  return seconds
}

const number = (value: unknown, what: string, check: (n: number) => boolean, rule: string): number => {
  const n =
    typeof value === "number"
      ? value
      : typeof value === "string" && value.trim() !== ""
        ? Number(value)
        : Number.NaN
  if (!Number.isFinite(n) || !check(n))
    throw new UsageError(`${what} must be ${rule}; got '${String(value)}'.`)
  return n
}
const positive = (v: unknown, what: string) => number(v, what, (n) => n > 0, "a number above zero")
const count = (v: unknown, what: string) =>
  number(v, what, (n) => Number.isInteger(n) && n >= 1, "a whole number of at least 1")
const ratio = (v: unknown, what: string) => number(v, what, (n) => n >= 0 && n <= 1, "between 0 and 1")
const nonNegative = (v: unknown, what: string) => number(v, what, (n) => n >= 0, "zero or more")

const url = (value: string, what: string) => {
  try {
    const u = new URL(value)
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error()
    return u.toString().replace(/\/$/, "")
  } catch {
    throw new UsageError(`${what} must be an http:// or https:// URL; got '${value}'.`)
  }
}

export const loadScenario = (name: string): Scenario => {
  const file = name.endsWith(".json") ? name : join(scenariosDir, `${name}.json`)
  if (!existsSync(file)) {
    const known = ["steady", "spike", "duplicates", "bad-input", "soak"].join(", ")
    throw new UsageError(`There is no scenario '${name}': use one of ${known}, or the path of a .json file.`)
  }
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Scenario
  } catch (e) {
    throw new UsageError(`The scenario file ${file} is not valid JSON: ${(e as Error).message}`)
  }
}

const flagSpec = {
  scenario: { type: "string" },
  target: { type: "string" },
  "query-url": { type: "string" },
  key: { type: "string" },
  "read-token": { type: "string" },
  rate: { type: "string" },
  batch: { type: "string" },
  duration: { type: "string" },
  profile: { type: "string" },
  "ramp-from": { type: "string" },
  "ramp-to": { type: "string" },
  "spike-multiplier": { type: "string" },
  "spike-seconds": { type: "string" },
  "spike-at": { type: "string" },
  "payload-bytes": { type: "string" },
  keys: { type: "string" },
  types: { type: "string" },
  "duplicate-ratio": { type: "string" },
  "malformed-ratio": { type: "string" },
  "max-in-flight": { type: "string" },
  "request-timeout": { type: "string" },
  "drain-timeout": { type: "string" },
  verify: { type: "boolean" },
  "no-verify": { type: "boolean" },
  pipeline: { type: "string" },
  field: { type: "string" },
  "p99-ms": { type: "string" },
  "max-error-rate": { type: "string" },
  "min-throughput": { type: "string" },
  out: { type: "string" },
  seed: { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean" }
} as const

export type Flags = ReturnType<typeof parseFlags>

export const parseFlags = (argv: ReadonlyArray<string>) => {
  try {
    return parseArgs({ args: [...argv], options: flagSpec, strict: true, allowPositionals: false }).values
  } catch (e) {
    const first = (e as Error).message.split("\n")[0]!
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(first)
    const message = ambiguous
      ? `${ambiguous[1]} needs a value (a value starting with a dash is written ${ambiguous[1]}=-3)`
      : first
    throw new UsageError(`${message.endsWith(".") ? message : `${message}.`} See --help.`)
  }
}

const timestamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z")

/** Reads the write key from the flag, the environment, or the dev key file of `eventflow dev`. */
const writeKey = (flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string => {
  if (flag) return flag
  if (env.EVENTFLOW_LOADTEST_KEY) return env.EVENTFLOW_LOADTEST_KEY
  const file = join(cwd, env.EVENTFLOW_DATA_DIR ?? ".eventflow", "dev-write-key")
  if (existsSync(file)) return readFileSync(file, "utf8").trim()
  throw new UsageError(
    "No write key: pass --key, set EVENTFLOW_LOADTEST_KEY, or run from the folder where `eventflow dev` " +
      "keeps .eventflow/dev-write-key."
  )
}

export const resolveOptions = (
  argv: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  now: Date = new Date()
): Options => {
  const f = parseFlags(argv)
  const scenarioName = f.scenario ?? "custom"
  const s: Scenario = f.scenario ? loadScenario(f.scenario) : {}
  const pick = <A>(flag: A | undefined, field: A | undefined, fallback: A): A => flag ?? field ?? fallback

  const rate = positive(pick<unknown>(f.rate, s.rate, 1000), "--rate (events per second)")
  const batch = count(pick<unknown>(f.batch, s.batch, 50), "--batch")
  const durationS = parseDuration(pick<number | string>(f.duration, s.duration, 60), "--duration")
  const profileKind = pick<string>(f.profile, s.profile, "constant")
  let profile: Profile
  if (profileKind === "constant") profile = { kind: "constant" }
  else if (profileKind === "ramp") {
    const from = nonNegative(pick<unknown>(f["ramp-from"], s.ramp?.from, 0), "--ramp-from")
    const to = nonNegative(pick<unknown>(f["ramp-to"], s.ramp?.to, rate), "--ramp-to")
    if (from === 0 && to === 0) throw new UsageError("A ramp from 0 to 0 events/s sends nothing.")
    profile = { kind: "ramp", from, to }
  } else if (profileKind === "spike")
    profile = {
      kind: "spike",
      multiplier: positive(
        pick<unknown>(f["spike-multiplier"], s.spike?.multiplier, 5),
        "--spike-multiplier"
      ),
      seconds: positive(pick<unknown>(f["spike-seconds"], s.spike?.seconds, 10), "--spike-seconds"),
      at: nonNegative(pick<unknown>(f["spike-at"], s.spike?.at, durationS / 3), "--spike-at")
    }
  else throw new UsageError(`--profile must be constant, ramp or spike; got '${profileKind}'.`)

  const duplicateRatio = ratio(pick<unknown>(f["duplicate-ratio"], s.duplicateRatio, 0), "--duplicate-ratio")
  const malformedRatio = ratio(pick<unknown>(f["malformed-ratio"], s.malformedRatio, 0), "--malformed-ratio")
  if (duplicateRatio + malformedRatio > 1)
    throw new UsageError("--duplicate-ratio and --malformed-ratio together must not exceed 1.")

  const target = url(f.target ?? env.EVENTFLOW_LOADTEST_TARGET ?? "http://127.0.0.1:8080", "--target")
  // A scenario's throughput floor is for its own rate: scaled when --rate changes the rate.
  const scaled =
    f.rate !== undefined && s.rate !== undefined && s.thresholds?.minThroughput !== undefined
      ? { minThroughput: Math.round((s.thresholds.minThroughput * rate) / s.rate) }
      : {}
  const thresholds: Thresholds = {
    ...s.thresholds,
    ...scaled,
    ...(f["p99-ms"] !== undefined ? { p99Ms: positive(f["p99-ms"], "--p99-ms") } : {}),
    ...(f["max-error-rate"] !== undefined
      ? { maxErrorRate: ratio(f["max-error-rate"], "--max-error-rate") }
      : {}),
    ...(f["min-throughput"] !== undefined
      ? { minThroughput: nonNegative(f["min-throughput"], "--min-throughput") }
      : {})
  }
  const readToken = f["read-token"] ?? env.EVENTFLOW_LOADTEST_READ_TOKEN
  const runId = `${now.getTime().toString(36)}${Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0")}`
  return {
    scenario: scenarioName,
    target,
    queryUrl: f["query-url"]
      ? url(f["query-url"], "--query-url")
      : (env.EVENTFLOW_LOADTEST_QUERY_URL ?? target),
    key: writeKey(f.key, env, cwd),
    readToken: readToken && readToken.length > 0 ? readToken : undefined,
    rate,
    batch,
    durationS,
    profile,
    payloadBytes: number(
      pick<unknown>(f["payload-bytes"], s.payloadBytes, 200),
      "--payload-bytes",
      (n) => Number.isInteger(n) && n >= 0,
      "a whole number of bytes"
    ),
    keys: count(pick<unknown>(f.keys, s.keys, 1000), "--keys"),
    types: count(pick<unknown>(f.types, s.types, 10), "--types"),
    duplicateRatio,
    malformedRatio,
    maxInFlight: count(pick<unknown>(f["max-in-flight"], s.maxInFlight, 1024), "--max-in-flight"),
    requestTimeoutS: parseDuration(f["request-timeout"] ?? 30, "--request-timeout"),
    drainTimeoutS: parseDuration(
      pick<number | string>(f["drain-timeout"], s.drainTimeout, 60),
      "--drain-timeout"
    ),
    verify: f["no-verify"] ? false : (f.verify ?? s.verify ?? true),
    pipeline: f.pipeline ?? s.pipeline ?? "events-per-type",
    field: f.field ?? s.field ?? "events",
    thresholds,
    out:
      f.out ??
      join("test-output", "loadtest", `${scenarioName.replace(/^.*[\\/]|\.json$/g, "")}-${timestamp(now)}`),
    runId,
    seed: f.seed !== undefined ? count(f.seed, "--seed") : Math.floor(Math.random() * 2 ** 31) + 1,
    quiet: f.quiet ?? false
  }
}
