/**
 * `npm run bench:query`: the query service (`eventflow query`, distributed mode) over a read model
 * of 1,000,000 window rows in PostgreSQL.
 *
 *   Seed:     10,000 keys × 100 one-minute windows of a pipeline `bench-query` (count, sum), once;
 *             a later run reuses them.
 *   Results:  open model, R requests/s for D seconds after a warm-up: each asks one random key's
 *             newest 10 windows (`?key=…&order=desc&limit=10`), latency from its scheduled time (so
 *             a slow answer delays no later request's clock: no coordinated omission).
 *   Range:    the same for one random minute's rows (`?from=…&to=…&limit=100`, no key).
 *   Live:     C clients on /v1/live for S seconds; per tick delivered, delay = received − tick time.
 *
 * Flags (or env): --rate (EVENTFLOW_BENCH_RATE, 500), --duration (EVENTFLOW_BENCH_DURATION, 20),
 * --warmup (3), --clients (EVENTFLOW_BENCH_CLIENTS, 200), --live-seconds (15). The service runs with
 * NODE_OPTIONS=--max-semi-space-size=64 (EVENTFLOW_BENCH_SERVER_NODE_OPTIONS to change it).
 * The hot-query cache is on (EVENTFLOW_QUERY_CACHE_TTL, 1 s) as in production; with 10,000 keys few
 * requests hit it. The rows live in a database of their own, `eventflow_bench_query`, on the
 * PostgreSQL of DATABASE_URL (created when missing), so that they weigh on no other test. Needs PostgreSQL, Kafka and Redis
 * (`npm run services:up`). The last line printed is one JSON object with every figure.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { cpus } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { SqlClient } from "@effect/sql"
import { layerPgClient } from "@eventflow/backends"
import { migrateStream } from "@eventflow/stream"
import { freePort } from "@eventflow/testing/net"
import { Effect, Redacted } from "effect"
import { env } from "../../ingest/bench/services.ts"
import { round, Samples, summarize } from "../../ingest/bench/stats.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const bin = join(root, "packages/cli/src/bin.ts")

const { values: flags } = parseArgs({
  options: {
    rate: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    clients: { type: "string" },
    "live-seconds": { type: "string" }
  }
})
const num = (flag: string | undefined, name: string, fallback: number) => {
  const value = Number(flag ?? process.env[name] ?? fallback)
  if (!(value > 0)) throw new Error(`${name} must be a positive number`)
  return value
}
const RATE = num(flags.rate, "EVENTFLOW_BENCH_RATE", 500)
const DURATION = num(flags.duration, "EVENTFLOW_BENCH_DURATION", 20)
const WARMUP = num(flags.warmup, "EVENTFLOW_BENCH_WARMUP", 3)
const CLIENTS = num(flags.clients, "EVENTFLOW_BENCH_CLIENTS", 200)
const LIVE_SECONDS = num(flags["live-seconds"], "EVENTFLOW_BENCH_LIVE_SECONDS", 15)

const BENCH_DATABASE = "eventflow_bench_query"
const BENCH_DATABASE_URL = (() => {
  const url = new URL(env.DATABASE_URL)
  url.pathname = `/${BENCH_DATABASE}`
  return url.toString()
})()
const PIPELINE = "bench-query"
const KEYS = 10_000
const WINDOWS = 100
const BASE = Date.UTC(2026, 0, 1)
const MINUTE = 60_000

const log = (line: string) => console.log(line)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------
// Seed

const seed = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* migrateStream
  const fingerprint = JSON.stringify({
    topics: ["events.bench-query"],
    window: { kind: "tumbling", sizeMs: MINUTE, graceMs: 0 },
    aggregations: [
      ["orders", "count"],
      ["amount", "sum"]
    ]
  })
  const [existing] = yield* sql<{
    n: string
  }>`SELECT count(*) AS n FROM eventflow_results WHERE pipeline = ${PIPELINE}`
  if (Number(existing?.n) === KEYS * WINDOWS) {
    log(`seed: ${KEYS * WINDOWS} rows of ${PIPELINE} already there`)
  } else {
    log(`seed: writing ${KEYS * WINDOWS} rows (${KEYS} keys × ${WINDOWS} windows)…`)
    const started = Date.now()
    yield* sql`DELETE FROM eventflow_results WHERE pipeline = ${PIPELINE}`
    for (let w = 0; w < WINDOWS; w += 10) {
      yield* sql`
        INSERT INTO eventflow_results (pipeline, key, window_start, window_end, closes_at, final, "values")
        SELECT ${PIPELINE}, 'user-' || k, ${BASE}::bigint + w * ${MINUTE}::bigint,
               ${BASE}::bigint + (w + 1) * ${MINUTE}::bigint, ${BASE}::bigint + (w + 1) * ${MINUTE}::bigint, true,
               jsonb_build_object('orders', (k * 7 + w) % 13 + 1, 'amount', (k * 31 + w * 17) % 1000)
        FROM generate_series(0, ${KEYS - 1}::int) AS k, generate_series(${w}::int, ${Math.min(w + 9, WINDOWS - 1)}::int) AS w`
      log(`seed: ${Math.min(w + 10, WINDOWS) * KEYS} rows (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    }
    yield* sql`ANALYZE eventflow_results`
  }
  yield* sql`INSERT INTO eventflow_pipelines (name, fingerprint) VALUES (${PIPELINE}, ${fingerprint})
             ON CONFLICT (name) DO UPDATE SET fingerprint = EXCLUDED.fingerprint`
  const [size] = yield* sql<{
    size: string
  }>`SELECT pg_size_pretty(pg_total_relation_size('eventflow_results')) AS size`
  return size?.size ?? "?"
}).pipe(Effect.provide(layerPgClient({ url: Redacted.make(BENCH_DATABASE_URL), maxConnections: 2 })))

/** The benchmark's million rows live in a database of their own, not in the one tests and other benchmarks use. */
const createDatabase = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [found] = yield* sql<{
    n: number
  }>`SELECT count(*)::int AS n FROM pg_database WHERE datname = ${BENCH_DATABASE}`
  if ((found?.n ?? 0) === 0) yield* sql.unsafe(`CREATE DATABASE ${BENCH_DATABASE}`)
}).pipe(Effect.provide(layerPgClient({ url: Redacted.make(env.DATABASE_URL), maxConnections: 1 })))

// ---------------------------------------------------------------------------------------------
// The service

const start = async (port: number, extra: Record<string, string>) => {
  const child = spawn(process.execPath, ["--import", "tsx", bin, ...(extra.ARGS ?? "query").split(" ")], {
    cwd: root,
    env: {
      ...process.env,
      ...env,
      DATABASE_URL: BENCH_DATABASE_URL,
      PORT: String(port),
      EVENTFLOW_QUERY_AUTH: "on",
      // As the README advises for query instances: a larger young generation, fewer and shorter pauses.
      NODE_OPTIONS: process.env.EVENTFLOW_BENCH_SERVER_NODE_OPTIONS ?? "--max-semi-space-size=64",
      ...extra
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (c) => (output += c))
  child.stderr!.on("data", (c) => (output += c))
  return { child, output: () => output }
}

const runCli = (args: string[]) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", bin, ...args], {
      cwd: root,
      env: { ...process.env, ...env, DATABASE_URL: BENCH_DATABASE_URL },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (c) => (out += c))
    child.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`eventflow ${args.join(" ")} exited ${code}`))
    )
  })

const waitReady = async (port: number, child: ChildProcess, output: () => string) => {
  const until = Date.now() + 60_000
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`eventflow query exited:\n${output()}`)
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return
    } catch {
      // not yet
    }
    await sleep(200)
  }
  throw new Error(`eventflow query was not ready within 60 s:\n${output()}`)
}

const rssMb = (pid: number | undefined): number | undefined => {
  if (pid === undefined) return undefined
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
    return Number.isFinite(kb) ? round(kb / 1024, 1) : undefined
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// Open-model load on the results endpoint

const agent = new Agent({ keepAlive: true, maxSockets: 256 })

const getOnce = (port: number, path: string, token: string) =>
  new Promise<number>((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, path, agent, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume()
        res.once("end", () => resolve(res.statusCode ?? 0))
        res.once("error", () => resolve(0))
      }
    )
    req.setTimeout(30_000, () => req.destroy())
    req.once("error", () => resolve(0))
    req.end()
  })

const openLoad = async (port: number, token: string, pathOf: () => string, label: string) => {
  const interval = 1000 / RATE
  const total = Math.round((WARMUP + DURATION) * RATE)
  const warm = Math.round(WARMUP * RATE)
  const samples = new Samples()
  // How late the generator itself sent requests (its own pauses count in the latency too).
  const sendLag = new Samples()
  const statuses = new Map<number, number>()
  const t0 = performance.now()
  let issued = 0
  // Outstanding requests are counted, not kept: thousands of retained promises would make the
  // generator's own garbage collections longer, and its pauses count in the latency it measures.
  let outstanding = 0
  let drained: (() => void) | undefined
  let lastProgress = t0
  while (issued < total) {
    const due = t0 + issued * interval
    const now = performance.now()
    if (due > now) {
      await sleep(Math.max(0, due - now - 0.5))
      continue
    }
    // Every request that is due is sent now; its latency counts from when it was due.
    const i = issued++
    if (i >= warm) sendLag.push(now - due)
    outstanding++
    void getOnce(port, pathOf(), token).then((status) => {
      if (i >= warm) samples.push(performance.now() - due)
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (--outstanding === 0) drained?.()
    })
    if (now - lastProgress > 5_000) {
      lastProgress = now
      log(`${label}: ${i} requests sent, ${samples.length} measured`)
    }
  }
  if (outstanding > 0) await new Promise<void>((resolve) => (drained = resolve))
  const elapsed = (performance.now() - t0) / 1000
  return {
    summary: summarize(samples),
    sendLagP99Ms: summarize(sendLag).p99Ms,
    achievedRate: round(total / elapsed, 1),
    statuses: Object.fromEntries(statuses)
  }
}

// ---------------------------------------------------------------------------------------------
// SSE fan-out

const liveFanout = async (port: number, token: string) => {
  const delays = new Samples()
  const perClient: number[] = []
  const controllers: AbortController[] = []
  const clients = Array.from({ length: CLIENTS }, async () => {
    const controller = new AbortController()
    controllers.push(controller)
    let ticks = 0
    try {
      const response = await fetch(`http://127.0.0.1:${port}/v1/live`, {
        headers: { authorization: `Bearer ${token}` },
        signal: controller.signal
      })
      const reader = response.body!.getReader()
      const decoder = new TextDecoder()
      let buffer = ""
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        const received = Date.now()
        buffer += decoder.decode(value, { stream: true })
        let end = buffer.indexOf("\n\n")
        while (end >= 0) {
          const frame = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          if (frame.startsWith("event: tick")) {
            const data = frame.slice(frame.indexOf("data: ") + 6)
            const tick = JSON.parse(data) as { time: string }
            delays.push(received - Date.parse(tick.time))
            ticks++
          }
          end = buffer.indexOf("\n\n")
        }
      }
    } catch {
      // aborted at the end
    }
    perClient.push(ticks)
  })
  await sleep(LIVE_SECONDS * 1000)
  for (const c of controllers) c.abort()
  await Promise.all(clients)
  perClient.sort((a, b) => a - b)
  return {
    summary: summarize(delays),
    ticksPerClientMin: perClient[0] ?? 0,
    ticksPerClientMax: perClient[perClient.length - 1] ?? 0
  }
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  log(`bench:query on ${cpus().length} × ${cpus()[0]?.model.trim()} (Node ${process.version})`)
  await Effect.runPromise(createDatabase)
  const tableSize = await Effect.runPromise(seed)
  log(`read model: eventflow_results is ${tableSize} with the seed`)
  const created = await runCli(["tokens", "create", "--description", "bench:query", "--json"])
  const token = JSON.parse(created.trim().split("\n").pop()!).token as string
  const port = await freePort()
  const { child, output } = await start(port, {})
  try {
    await waitReady(port, child, output)
    log(`eventflow query ready on port ${port} (pid ${child.pid}); RSS ${rssMb(child.pid)} MB`)
    let n = 0
    const random = () => {
      n = (n * 1103515245 + 12345 + Date.now()) % 2 ** 31
      return n / 2 ** 31
    }
    // A service in production is warm: JIT-compiled, its connection pool open. Warm it first with a
    // closed loop of both request kinds (not measured).
    const warmUntil = Date.now() + WARMUP * 1000
    await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        while (Date.now() < warmUntil) {
          const w = Math.floor(random() * WINDOWS)
          await getOnce(
            port,
            i % 2 === 0
              ? `/v1/pipelines/${PIPELINE}/results?key=user-${Math.floor(random() * KEYS)}&order=desc&limit=10`
              : `/v1/pipelines/${PIPELINE}/results?from=${BASE + w * MINUTE}&to=${BASE + w * MINUTE + 1}&limit=100`,
            token
          )
        }
      })
    )
    log(`results by key: ${RATE} requests/s for ${DURATION} s (after ${WARMUP} s of warm-up)…`)
    const byKey = await openLoad(
      port,
      token,
      () => `/v1/pipelines/${PIPELINE}/results?key=user-${Math.floor(random() * KEYS)}&order=desc&limit=10`,
      "by key"
    )
    log(
      `  p50 ${byKey.summary.p50Ms} ms, p99 ${byKey.summary.p99Ms} ms, max ${byKey.summary.maxMs} ms, generator send lag p99 ${byKey.sendLagP99Ms} ms, ${byKey.achievedRate} req/s, statuses ${JSON.stringify(byKey.statuses)}`
    )
    log(`results by time range: ${RATE} requests/s for ${DURATION} s…`)
    const byRange = await openLoad(
      port,
      token,
      () => {
        const w = Math.floor(random() * WINDOWS)
        return `/v1/pipelines/${PIPELINE}/results?from=${BASE + w * MINUTE}&to=${BASE + w * MINUTE + 1}&limit=100`
      },
      "by range"
    )
    log(
      `  p50 ${byRange.summary.p50Ms} ms, p99 ${byRange.summary.p99Ms} ms, max ${byRange.summary.maxMs} ms, generator send lag p99 ${byRange.sendLagP99Ms} ms, ${byRange.achievedRate} req/s, statuses ${JSON.stringify(byRange.statuses)}`
    )
    const rssAfterLoad = rssMb(child.pid)
    log(`live: ${CLIENTS} SSE clients for ${LIVE_SECONDS} s…`)
    const live = await liveFanout(port, token)
    log(
      `  delivery delay p50 ${live.summary.p50Ms} ms, p99 ${live.summary.p99Ms} ms, max ${live.summary.maxMs} ms; ticks per client ${live.ticksPerClientMin}–${live.ticksPerClientMax}`
    )
    const rssAfterLive = rssMb(child.pid)
    const result = {
      bench: "query",
      machine: { cpus: cpus().length, model: cpus()[0]?.model.trim(), node: process.version },
      rows: KEYS * WINDOWS,
      tableSize,
      rate: RATE,
      durationSeconds: DURATION,
      resultsByKey: {
        ...byKey.summary,
        sendLagP99Ms: byKey.sendLagP99Ms,
        achievedRate: byKey.achievedRate,
        statuses: byKey.statuses
      },
      resultsByRange: {
        ...byRange.summary,
        sendLagP99Ms: byRange.sendLagP99Ms,
        achievedRate: byRange.achievedRate,
        statuses: byRange.statuses
      },
      live: {
        clients: CLIENTS,
        seconds: LIVE_SECONDS,
        ...live.summary,
        ticksPerClientMin: live.ticksPerClientMin,
        ticksPerClientMax: live.ticksPerClientMax
      },
      rssMb: { afterLoad: rssAfterLoad, afterLive: rssAfterLive },
      targetResultsP99Ms: 20,
      met: byKey.summary.p99Ms <= 20
    }
    log(
      `results p99 ${byKey.summary.p99Ms} ms by key, ${byRange.summary.p99Ms} ms by range (target ≤ 20 ms): ${result.met ? "met" : "NOT met"}`
    )
    console.log(JSON.stringify(result))
  } finally {
    child.kill("SIGTERM")
    agent.destroy()
  }
}

main().catch((error: Error & { cause?: unknown }) => {
  console.error(
    `bench:query: ${error.message}${error.cause ? ` (${String((error.cause as Error).message ?? error.cause)})` : ""}`
  )
  process.exit(1)
})
