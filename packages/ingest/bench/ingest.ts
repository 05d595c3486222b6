/**
 * `npm run bench:ingest`: the ingest service in distributed mode (Kafka, Redis, PostgreSQL) under load.
 *
 *   Phase A (max):  closed loop, C requests of 100 events in flight, for D seconds after a warm-up.
 *   Phase B (half): open model at 50 % of phase A's rate, latency from each request's scheduled time.
 *   Verify:         the end offsets of the run's topics equal the events the service accepted.
 *   Kafka:          ProducerPerformance from the same jars (same record size, acks=all), service stopped.
 *
 * Flags (or env):
 *   --concurrency N      EVENTFLOW_BENCH_CONCURRENCY   requests in flight in phase A (32)
 *   --duration S         EVENTFLOW_BENCH_DURATION      seconds measured per phase (20)
 *   --warmup S           EVENTFLOW_BENCH_WARMUP        seconds of warm-up per phase, not counted (3)
 *   --perf-records N     EVENTFLOW_BENCH_PERF_RECORDS  records for Kafka's test (default: a 300,000-record
 *                                                      calibration run picks N for ~15-20 s; 0 skips it)
 *   --instances N        EVENTFLOW_BENCH_INSTANCES     ingest processes sharing the load (1)
 *   --keep               EVENTFLOW_BENCH_KEEP=1        keep the topics, dedup keys and write key
 *                        EVENTFLOW_BENCH_QUIET_WAIT    seconds to wait for a quiet machine first (120)
 *                        EVENTFLOW_BENCH_CPU_PROF=1    profile the service (node --cpu-prof) into
 *                                                      .bench/<run>/cpuprofile (see profile-summary.ts)
 *   --tracing            EVENTFLOW_BENCH_TRACING=1     trace every request: the service exports its spans
 *                                                      over OTLP/HTTP to a sink in this process, which
 *                                                      counts them (the cost of tracing, sampled at 100 %)
 * Other environment variables reach the service (e.g. EVENTFLOW_DEDUP=off). Progress goes to stdout;
 * the last line printed is one JSON object with every figure.
 */
import { type ChildProcess, fork, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, get } from "node:http"
import type { AddressInfo } from "node:net"
import { cpus, totalmem } from "node:os"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { Redis } from "ioredis"
import { createPerfTopic, type KafkaPerfResult, runProducerPerf } from "./kafkaPerf.ts"
import {
  type Busy,
  type CpuGroup,
  type CpuSnapshot,
  type CpuUsage,
  cpuSnapshot,
  cpuUsage,
  findPids,
  freePort,
  machineCpuSeconds,
  procAvailable,
  processCpuSeconds,
  run,
  sampleBusy,
  sleep,
  stopChild
} from "./procs.ts"
import { type CpuProfile, makeTsxSourceMapper, summarizeProfile, type TimeWindow } from "./profile-summary.ts"
import { checkServices, env, kafkaClient, withTimeout } from "./services.ts"
import { type LoadCommand, type LoadMessage, type PhaseResult, round, type Totals } from "./stats.ts"

const benchDir = dirname(fileURLToPath(import.meta.url))
const root = join(benchDir, "..", "..", "..")
const rel = (path: string) => relative(process.cwd(), path) || "."

// ---------------------------------------------------------------------------------------------
// Options

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: "string", short: "c" },
    duration: { type: "string", short: "d" },
    warmup: { type: "string" },
    "perf-records": { type: "string" },
    keep: { type: "boolean" },
    instances: { type: "string" },
    tracing: { type: "boolean" }
  },
  allowPositionals: false
})

const numberOption = (flag: string | undefined, envName: string, fallback: number, min: number) => {
  const raw = flag ?? process.env[envName]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < min) {
    console.error(`${envName} / flag value '${raw}' is not a number ≥ ${min}.`)
    process.exit(2)
  }
  return value
}

const options = {
  concurrency: Math.floor(numberOption(flags.concurrency, "EVENTFLOW_BENCH_CONCURRENCY", 32, 1)),
  durationS: numberOption(flags.duration, "EVENTFLOW_BENCH_DURATION", 20, 1),
  warmupS: numberOption(flags.warmup, "EVENTFLOW_BENCH_WARMUP", 3, 0),
  /** Undefined: calibrate. */
  perfRecords:
    (flags["perf-records"] ?? process.env.EVENTFLOW_BENCH_PERF_RECORDS ?? "") === ""
      ? undefined
      : Math.floor(numberOption(flags["perf-records"], "EVENTFLOW_BENCH_PERF_RECORDS", 0, 0)),
  keep: flags.keep === true || process.env.EVENTFLOW_BENCH_KEEP === "1",
  quietWaitS: numberOption(undefined, "EVENTFLOW_BENCH_QUIET_WAIT", 120, 0),
  instances: Math.floor(numberOption(flags.instances, "EVENTFLOW_BENCH_INSTANCES", 1, 1)),
  cpuProf: process.env.EVENTFLOW_BENCH_CPU_PROF === "1",
  tracing: flags.tracing === true || process.env.EVENTFLOW_BENCH_TRACING === "1",
  batchSize: 100,
  eventBytes: 300,
  partitions: 3
}

const say = (line = "") => console.log(line)
const listNames = (names: ReadonlyArray<string>) =>
  names.length <= 1 ? (names[0] ?? "") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`
const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : "n/a"
const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : "n/a")
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

// ---------------------------------------------------------------------------------------------
// Children, stopped on every way out

const children = new Set<{ child: ChildProcess; group: boolean }>()
const track = (child: ChildProcess, group = false) => {
  const entry = { child, group }
  children.add(entry)
  child.once("exit", () => children.delete(entry))
  return child
}
const stopAll = () => Promise.all([...children].map(({ child, group }) => stopChild(child, 10_000, group)))

/** What this run left in Kafka, Redis and PostgreSQL, until it is cleaned up. */
let leftovers: { runId: string; keyId: string | undefined } | undefined

const cleanUp = async (): Promise<string> => {
  const what = leftovers
  leftovers = undefined
  if (what === undefined) return "nothing to clean up"
  if (options.keep) {
    return `kept the topics ${what.runId}.*, the dedup keys ${what.runId}:dedup:* and the write key ${what.keyId ?? ""}`
  }
  const outcomes = await Promise.allSettled([
    deleteTopics(what.runId),
    deleteDedupKeys(what.runId),
    what.keyId === undefined ? Promise.resolve("no write key") : revokeKey(what.runId, what.keyId)
  ])
  return outcomes
    .map((o) => (o.status === "fulfilled" ? o.value : `failed (${errorText(o.reason)})`))
    .join("; ")
}

let interrupted = false
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    console.error(`\n${signal}: stopping the child processes and cleaning up…`)
    void stopAll()
      .then(cleanUp)
      .then((done) => console.error(`Cleanup: ${done}`))
      .finally(() => process.exit(130))
  })
}

// ---------------------------------------------------------------------------------------------
// The service

const nodeTs = ["--import", "tsx"]
const cli = join("packages", "cli", "src", "bin.ts")

/** An OTLP/HTTP endpoint that counts what it receives (with --tracing). */
const otlpSink = async () => {
  const received = { exports: 0, spans: 0, bytes: 0 }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks)
      received.exports++
      received.bytes += body.length
      try {
        const payload = JSON.parse(body.toString("utf8")) as {
          resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: unknown[] }> }>
        }
        for (const r of payload.resourceSpans ?? [])
          for (const scope of r.scopeSpans ?? []) received.spans += scope.spans?.length ?? 0
      } catch {
        // Counted as an export; its spans are not.
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, received, close: () => server.close() }
}

let otlpEndpoint: string | undefined

const serviceEnv = (runId: string, port: number): NodeJS.ProcessEnv => ({
  ...process.env,
  ...(otlpEndpoint !== undefined ? { OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint } : {}),
  ...env,
  PORT: String(port),
  EVENTFLOW_HOST: "127.0.0.1",
  EVENTFLOW_TOPIC_PREFIX: `${runId}.`,
  EVENTFLOW_TOPIC_PARTITIONS: String(options.partitions),
  EVENTFLOW_DEDUP_PREFIX: `${runId}:dedup:`
})

const createWriteKey = async (runId: string): Promise<{ id: string; key: string }> => {
  const result = await run(
    process.execPath,
    [...nodeTs, cli, "keys", "create", "--source", "*", "--description", `benchmark ${runId}`, "--json"],
    { cwd: root, env: serviceEnv(runId, 0), timeoutMs: 90_000 }
  )
  const line = result.stdout
    .trim()
    .split("\n")
    .reverse()
    .find((l) => l.startsWith("{"))
  if (result.code !== 0 || line === undefined) {
    throw new Error(`eventflow keys create failed (exit ${result.code}): ${result.stderr.trim().slice(-500)}`)
  }
  const parsed = JSON.parse(line) as { id?: unknown; key?: unknown }
  if (typeof parsed.key !== "string" || typeof parsed.id !== "string") {
    throw new Error("eventflow keys create printed no key")
  }
  return { id: parsed.id, key: parsed.key }
}

const readyz = (port: number): Promise<number> =>
  new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path: "/readyz", timeout: 2_000 }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode ?? 0))
    })
    req.on("timeout", () => req.destroy())
    req.on("error", () => resolve(0))
  })

const tail = (file: string, lines = 15) =>
  existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").slice(-lines).join("\n") : "(no output)"

const startService = async (
  runId: string,
  port: number,
  logFile: string,
  profileDir: string | undefined
): Promise<ChildProcess> => {
  const log = openSync(logFile, "a")
  const profiling = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]
  const child = track(
    spawn(process.execPath, [...profiling, ...nodeTs, cli, "ingest"], {
      cwd: root,
      env: serviceEnv(runId, port),
      stdio: ["ignore", log, log]
    })
  )
  closeSync(log)
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`eventflow ingest exited (${child.exitCode ?? child.signalCode}):\n${tail(logFile)}`)
    }
    if ((await readyz(port)) === 200) return child
    await sleep(250)
  }
  await stopChild(child)
  throw new Error(`eventflow ingest was not ready within 90 s:\n${tail(logFile)}`)
}

// ---------------------------------------------------------------------------------------------
// The load process

interface LoadProcess {
  readonly child: ChildProcess
  readonly eventBytes: number
  readonly bodyBytes: number
  readonly runPhase: (
    command: Exclude<LoadCommand, { cmd: "exit" }>,
    onWindow: (edge: "start" | "end") => void,
    onProgress: (message: Extract<LoadMessage, { type: "progress" }>) => void,
    timeoutMs: number
  ) => Promise<{ result: PhaseResult; totals: Totals }>
}

const startLoad = async (ports: ReadonlyArray<number>, key: string, runId: string): Promise<LoadProcess> => {
  const child = track(
    fork(
      join(benchDir, "load.ts"),
      [
        JSON.stringify({
          ports,
          key,
          runId,
          batchSize: options.batchSize,
          eventBytes: options.eventBytes
        })
      ],
      { cwd: root, execArgv: nodeTs, stdio: ["ignore", "inherit", "inherit", "ipc"] }
    )
  )
  const listeners = new Set<(message: LoadMessage) => void>()
  child.on("message", (message: LoadMessage) => {
    for (const listener of listeners) listener(message)
  })
  const exitedEarly = new Promise<never>((_, reject) =>
    child.once("exit", (code, signal) => reject(new Error(`the load process exited (${code ?? signal})`)))
  )
  exitedEarly.catch(() => undefined)

  const ready = await withTimeout(
    Promise.race([
      new Promise<Extract<LoadMessage, { type: "ready" }>>((resolve) => {
        const listener = (message: LoadMessage) => {
          if (message.type !== "ready") return
          listeners.delete(listener)
          resolve(message)
        }
        listeners.add(listener)
      }),
      exitedEarly
    ]),
    60_000,
    "the load process"
  )

  const runPhase: LoadProcess["runPhase"] = (command, onWindow, onProgress, timeoutMs) => {
    let listener: ((message: LoadMessage) => void) | undefined
    const done = new Promise<{ result: PhaseResult; totals: Totals }>((resolve, reject) => {
      listener = (message: LoadMessage) => {
        if (message.type === "window") onWindow(message.edge)
        else if (message.type === "progress") onProgress(message)
        else if (message.type === "result") resolve(message)
        else if (message.type === "failed") reject(new Error(`the load process failed: ${message.message}`))
      }
      listeners.add(listener)
      child.send(command)
    })
    return withTimeout(Promise.race([done, exitedEarly]), timeoutMs, `the ${command.cmd} phase`).finally(
      () => {
        if (listener !== undefined) listeners.delete(listener)
      }
    )
  }
  return { child, eventBytes: ready.eventBytes, bodyBytes: ready.bodyBytes, runPhase }
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

const cpuGroups = (services: ReadonlyArray<ChildProcess>, load: ChildProcess): CpuGroup[] => {
  const broker = findPids((cmdline) => / kafka\.Kafka /.test(`${cmdline} `))
  const redis = findPids((cmdline, comm) => comm === "redis-server" && cmdline.includes(":6379"))
  return [
    {
      name: services.length === 1 ? "ingest (node)" : `ingest (node ×${services.length})`,
      pids: () => services.flatMap((s) => (s.pid === undefined ? [] : [s.pid]))
    },
    { name: "load (node)", pids: () => (load.pid === undefined ? [] : [load.pid]) },
    { name: "kafka broker (java)", pids: () => broker },
    { name: "redis", pids: () => redis },
    { name: "postgres", pids: () => findPids((_, comm) => comm === "postgres") },
    { name: "harness", pids: () => [process.pid] }
  ]
}

const describeCpu = (usage: CpuUsage | undefined): string[] => {
  if (usage === undefined) return ["  (CPU use not measured: no /proc)"]
  const lines = Object.entries(usage.processes).map(
    ([name, pct]) => `    ${name.padEnd(26)}${pct.toFixed(1).padStart(7)} %`
  )
  if (usage.otherPct !== undefined) {
    const who = usage.topOthers.map((p) => `${p.name} ${p.pct} %`).join(", ")
    lines.push(
      `    ${"everything else".padEnd(26)}${usage.otherPct.toFixed(1).padStart(7)} %${who === "" ? "" : `  (${who})`}`
    )
  }
  if (usage.machinePct !== undefined) {
    lines.push(
      `    ${"machine total".padEnd(26)}${usage.machinePct.toFixed(1).padStart(7)} % of ${usage.capacityPct} % ` +
        `(${Math.round((usage.machinePct / usage.capacityPct) * 100)} % busy)`
    )
  }
  return lines
}

const verifyOffsets = async (
  runId: string,
  accepted: number
): Promise<{ verified: boolean; eventTopics: number; dlq: number; topics: Record<string, number> }> => {
  const admin = kafkaClient("eventflow-bench-verify").admin()
  try {
    await withTimeout(admin.connect(), 15_000, "Kafka admin")
    const all = await withTimeout(admin.listTopics(), 15_000, "listTopics")
    const ours = all.filter((t) => t.startsWith(`${runId}.`) && t !== `${runId}.perf`)
    const topics: Record<string, number> = {}
    for (const topic of ours) {
      const offsets = await withTimeout(admin.fetchTopicOffsets(topic), 15_000, "fetchTopicOffsets")
      topics[topic] = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
    }
    const dlqTopic = `${runId}.events.dlq`
    const dlq = topics[dlqTopic] ?? 0
    const eventTopics = Object.entries(topics)
      .filter(([t]) => t !== dlqTopic)
      .reduce((sum, [, n]) => sum + n, 0)
    return { verified: eventTopics === accepted, eventTopics, dlq, topics }
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

const deleteTopics = async (runId: string): Promise<string> => {
  const admin = kafkaClient("eventflow-bench-cleanup").admin()
  try {
    await withTimeout(admin.connect(), 15_000, "Kafka admin")
    const ours = (await withTimeout(admin.listTopics(), 15_000, "listTopics")).filter((t) =>
      t.startsWith(`${runId}.`)
    )
    if (ours.length > 0)
      await withTimeout(admin.deleteTopics({ topics: ours, timeout: 30_000 }), 40_000, "deleteTopics")
    return `deleted ${ours.length} topics`
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

/** The run's dedup keys (unique prefix), removed with SCAN + UNLINK, bounded in time. */
const deleteDedupKeys = async (runId: string): Promise<string> => {
  const redis = new Redis(env.REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    commandTimeout: 10_000
  })
  redis.on("error", () => undefined)
  try {
    await redis.connect()
    const deadline = Date.now() + 120_000
    let cursor = "0"
    let removed = 0
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${runId}:dedup:*`, "COUNT", 10_000)
      cursor = next
      if (keys.length > 0) removed += await redis.unlink(...keys)
    } while (cursor !== "0" && Date.now() < deadline)
    return cursor === "0"
      ? `removed ${fmt(removed)} dedup keys`
      : `removed ${fmt(removed)} dedup keys (stopped: time)`
  } finally {
    redis.disconnect()
  }
}

const revokeKey = async (runId: string, id: string): Promise<string> => {
  const result = await run(process.execPath, [...nodeTs, cli, "keys", "revoke", id], {
    cwd: root,
    env: serviceEnv(runId, 0),
    timeoutMs: 90_000
  })
  return result.code === 0 ? `revoked write key ${id}` : `could not revoke write key ${id}`
}

const mainThreadProfile = (dir: string): string | undefined => {
  if (!existsSync(dir)) return undefined
  // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread (1 is tsx's loader).
  const files = readdirSync(dir)
    .filter((f) => /\.0\.\d+\.cpuprofile$/.test(f))
    .sort()
  const last = files[files.length - 1]
  return last === undefined ? undefined : join(dir, last)
}

/**
 * Other work on the machine (a test suite, a build) takes CPU from the service and the broker. Waits,
 * bounded, for the machine to be quiet; runs anyway after that, and reports how busy it was.
 */
const waitForQuiet = async (): Promise<Busy | undefined> => {
  const deadline = Date.now() + options.quietWaitS * 1000
  const isBusy = (b: Busy) => b.machinePct > b.capacityPct * 0.2
  // Quiet means two samples in a row under 20 % (test suites come in bursts).
  const sample = async () => {
    const first = await sampleBusy(2_000)
    if (first === undefined || isBusy(first)) return first
    const second = await sampleBusy(2_000)
    return second === undefined || second.machinePct < first.machinePct ? first : second
  }
  let busy = await sample()
  let warned = false
  while (busy !== undefined && isBusy(busy) && Date.now() < deadline) {
    if (!warned) {
      const who = busy.top.map((p) => `${p.name} (pid ${p.pid}) ${p.pct} %`).join(", ")
      say(
        `The machine is busy before the start: ${busy.machinePct} % of ${busy.capacityPct} % (${who}). ` +
          `Waiting up to ${options.quietWaitS} s for it to calm down…`
      )
      warned = true
    }
    busy = await sample()
  }
  if (warned && busy !== undefined) {
    say(
      isBusy(busy)
        ? `  Still busy (${busy.machinePct} %): running anyway, the figures will be lower than on a quiet machine.`
        : `  Quiet now (${busy.machinePct} %).`
    )
  }
  return busy
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const started = Date.now()
  const missing = await checkServices()
  if (missing.length > 0) {
    for (const m of missing) {
      console.error(`${m.name} does not answer on ${m.address} (${m.reason}).`)
    }
    console.error(
      `The benchmark needs Kafka, Redis and PostgreSQL; ${listNames(missing.map((m) => m.name))} ` +
        `${missing.length === 1 ? "is" : "are"} missing. Run npm run services:up first.`
    )
    process.exit(1)
  }

  const quiet = await waitForQuiet()

  const runId = `bench${Date.now().toString(36)}${randomBytes(2).toString("hex")}`
  const sink = options.tracing ? await otlpSink() : undefined
  otlpEndpoint = sink?.url
  const runDir = join(root, ".bench", runId)
  mkdirSync(runDir, { recursive: true })
  const profileDir = options.cpuProf ? join(runDir, "cpuprofile") : undefined
  const logFile = join(runDir, "ingest.log")
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    memGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version
  }

  say(`EventFlow ingest benchmark ${runId}`)
  say(
    `  machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memGiB} GiB, node ${machine.node}; ` +
      `Kafka, Redis and PostgreSQL answer`
  )
  say(
    `  load: batches of ${options.batchSize} events, ${options.concurrency} requests in flight, ` +
      `${options.warmupS} s warm-up + ${options.durationS} s per phase${options.cpuProf ? "; CPU profile on" : ""}`
  )
  say(`  service log: ${rel(logFile)}`)

  leftovers = { runId, keyId: undefined }
  const writeKey = await createWriteKey(runId)
  leftovers.keyId = writeKey.id
  // The first instance creates the topics; the others start once they exist.
  const first = await freePort()
  const services = [await startService(runId, first, logFile, profileDir)]
  const ports = [first]
  const more = await Promise.all(
    Array.from({ length: options.instances - 1 }, async (_, i) => {
      const port = await freePort()
      const log = logFile.replace(/\.log$/, `-${i + 2}.log`)
      return { port, child: await startService(runId, port, log, profileDir) }
    })
  )
  for (const m of more) {
    services.push(m.child)
    ports.push(m.port)
  }
  say(`  eventflow ingest ready on 127.0.0.1, port ${ports.join(", ")}; topics ${runId}.events.*`)
  const load = await startLoad(ports, writeKey.key, runId)
  say(`  event size ${load.eventBytes} bytes in the JSON format, request body ${fmt(load.bodyBytes)} bytes`)

  const groups = cpuGroups(services, load.child)
  // The measured windows, on the monotonic clock of CPU profiles (µs), for profile-summary.ts.
  const phases: Record<string, TimeWindow> = {}
  const nowUs = () => Number(process.hrtime.bigint() / 1000n)
  const measureCpu = (phase: string) => {
    let from: CpuSnapshot | undefined
    let usage: CpuUsage | undefined
    let fromUs = 0
    return {
      onWindow: (edge: "start" | "end") => {
        if (edge === "start") fromUs = nowUs()
        else phases[phase] = { fromUs, toUs: nowUs() }
        if (!procAvailable) return
        if (edge === "start") from = cpuSnapshot(groups)
        else if (from !== undefined) usage = cpuUsage(from, cpuSnapshot(groups))
      },
      usage: () => usage
    }
  }
  // A line per progress message: the rate, and the CPU of the service and the machine since the last one.
  const servicesCpu = () => {
    let sum = 0
    for (const s of services) {
      const seconds = processCpuSeconds(s.pid ?? 0)
      if (seconds === undefined) return undefined
      sum += seconds
    }
    return sum
  }
  let lastCpu = { at: performance.now(), service: servicesCpu(), machine: machineCpuSeconds() }
  const onProgress = (message: Extract<LoadMessage, { type: "progress" }>) => {
    const now = { at: performance.now(), service: servicesCpu(), machine: machineCpuSeconds() }
    const wallS = (now.at - lastCpu.at) / 1000
    let cpu = ""
    if (now.service !== undefined && lastCpu.service !== undefined && now.machine && lastCpu.machine) {
      const servicePct = ((now.service - lastCpu.service) / wallS) * 100
      const machinePct = ((now.machine.busy - lastCpu.machine.busy) / wallS) * 100
      cpu = `; CPU: ingest ${servicePct.toFixed(0)} %, machine ${machinePct.toFixed(0)} % of ${machine.cpus * 100} %`
    }
    lastCpu = now
    const state = message.measuring ? "measuring" : "warm-up  "
    say(
      `  [${message.phase.padEnd(4)} ${message.elapsedS.toFixed(0).padStart(3)} s ${state}] ` +
        `${fmt(message.eventsPerSec).padStart(9)} events/s accepted, ${message.inFlight} in flight` +
        (message.errors > 0 ? `, ${message.errors} requests not 202` : "") +
        cpu
    )
  }
  const phaseTimeout = (options.warmupS + options.durationS) * 1000 + 90_000

  // Phase A
  say()
  say(`Phase A: max rate, closed loop with ${options.concurrency} requests in flight`)
  const cpuA = measureCpu("max")
  const a = await load.runPhase(
    { cmd: "max", concurrency: options.concurrency, warmupS: options.warmupS, durationS: options.durationS },
    cpuA.onWindow,
    onProgress,
    phaseTimeout
  )
  const printPhase = (r: PhaseResult) => {
    say(
      `  ${fmt(r.eventsPerSec)} events/s accepted over ${r.measuredS.toFixed(1)} s (${fmt(r.requests)} requests); ` +
        `latency p50 ${ms(r.latency.p50Ms)}, p90 ${ms(r.latency.p90Ms)}, p99 ${ms(r.latency.p99Ms)}, ` +
        `p99.9 ${ms(r.latency.p999Ms)}, max ${ms(r.latency.maxMs)}`
    )
    say(`  statuses ${JSON.stringify(r.statuses)}, events ${JSON.stringify(r.events)}`)
  }
  printPhase(a.result)
  say("  CPU during the measured window (% of one core):")
  for (const line of describeCpu(cpuA.usage())) say(line)

  // Phase B
  const target = Math.max(options.batchSize, Math.round(a.result.eventsPerSec / 2))
  say()
  say(
    `Phase B: half rate, open model at ${fmt(target)} events/s (${fmt(target / options.batchSize, 1)} requests/s)`
  )
  const cpuB = measureCpu("half")
  const b = await load.runPhase(
    {
      cmd: "open",
      targetEventsPerSec: target,
      warmupS: options.warmupS,
      durationS: options.durationS,
      maxSockets: Math.max(256, options.concurrency * 4)
    },
    cpuB.onWindow,
    onProgress,
    phaseTimeout
  )
  printPhase(b.result)
  say(
    `  latency measured from the scheduled send time; worst send lag ${ms(b.result.maxSendLagMs ?? Number.NaN)}`
  )
  say("  CPU during the measured window (% of one core):")
  for (const line of describeCpu(cpuB.usage())) say(line)

  writeFileSync(join(runDir, "phases.json"), `${JSON.stringify(phases, null, 2)}\n`)

  // Stop the load and the service before Kafka's own test, so they do not compete.
  load.child.send({ cmd: "exit" } satisfies LoadCommand)
  await stopChild(load.child, 10_000)
  const stopped = (await Promise.all(services.map((s) => stopChild(s, 10_000)))).join(", ")
  say()
  say(`Service ${stopped}.`)
  const totals = b.totals
  if (totals.problems.length > 0) {
    say(`  problems seen (first ${totals.problems.length}):`)
    for (const p of totals.problems) say(`    ${p}`)
  }

  // Verify
  const verification = await verifyOffsets(runId, totals.events.accepted)
  say(
    `Verify: ${fmt(totals.events.accepted)} events accepted in ${fmt(totals.requests)} requests (warm-ups included); ` +
      `end offsets of the event topics sum to ${fmt(verification.eventTopics)}, DLQ ${fmt(verification.dlq)} → ` +
      (verification.verified ? "VERIFIED" : "MISMATCH")
  )
  if (totals.unknownOutcomeEvents > 0) {
    say(`  ${fmt(totals.unknownOutcomeEvents)} events were in requests without an answer (outcome unknown)`)
  }

  // Kafka's own producer benchmark
  let kafkaPerf: KafkaPerfResult | undefined
  let cpuPerf: CpuUsage | undefined
  if (options.perfRecords !== 0) {
    say()
    say(
      `Kafka ProducerPerformance: records of ${load.eventBytes} bytes, acks=all, ` +
        `topic ${runId}.perf (${options.partitions} partitions)`
    )
    try {
      await createPerfTopic(root, `${runId}.perf`, options.partitions)
      let records = options.perfRecords
      if (records === undefined) {
        // How many records take ~17 s here: a short run first (it also warms the broker up).
        const calibration = await runProducerPerf(root, {
          topic: `${runId}.perf`,
          records: 300_000,
          recordSize: load.eventBytes,
          timeoutMs: 120_000,
          extraProps: [],
          onProgress: () => undefined
        })
        records = Math.min(
          5_000_000,
          // Cold JVMs: the warm rate is ~1.5-1.8 × the calibration's (seen on a 2-core machine).
          Math.max(300_000, Math.round((calibration.recordsPerSec * 27) / 1e5) * 1e5)
        )
        say(
          `  calibration (cold JVMs): 300,000 records at ${fmt(calibration.recordsPerSec)} records/s → ` +
            `${fmt(records)} records, ~15-20 s once warm`
        )
      }
      const perfGroups: CpuGroup[] = [
        ...groups.filter((g) => g.name.startsWith("kafka")),
        {
          name: "ProducerPerformance (java)",
          pids: () => findPids((cmdline) => cmdline.includes("org.apache.kafka.tools.ProducerPerformance"))
        }
      ]
      let from: CpuSnapshot | undefined
      let last: CpuSnapshot | undefined
      kafkaPerf = await runProducerPerf(root, {
        topic: `${runId}.perf`,
        records,
        recordSize: load.eventBytes,
        timeoutMs: 240_000,
        extraProps: [],
        onProgress: (line) => {
          if (line.trim() === "") return
          say(`  ${line.trim()}`)
          // From the first progress line (the JVMs are warm) to the summary line, printed just before
          // the producer's JVM exits.
          if (!procAvailable) return
          if (from === undefined) from = cpuSnapshot(perfGroups)
          else last = cpuSnapshot(perfGroups)
        }
      })
      if (from !== undefined && last !== undefined) cpuPerf = cpuUsage(from, last)
      say(
        `  ${fmt(kafkaPerf.recordsPerSec)} records/s; latency avg ${ms(kafkaPerf.avgMs)}, p50 ${ms(kafkaPerf.p50Ms)}, ` +
          `p99 ${ms(kafkaPerf.p99Ms)}, max ${ms(kafkaPerf.maxMs)} (${kafkaPerf.elapsedS.toFixed(1)} s)`
      )
      say("  CPU from the first progress line to the summary (% of one core):")
      for (const line of describeCpu(cpuPerf)) say(line)
    } catch (error) {
      say(`  Kafka's producer benchmark failed: ${errorText(error)}`)
    }
  }

  // Profile
  let profileFile: string | undefined
  if (profileDir !== undefined) {
    profileFile = mainThreadProfile(profileDir)
    say()
    if (profileFile === undefined) say(`No CPU profile was written in ${rel(profileDir)}.`)
    else {
      say(`CPU profile of the service: ${rel(profileFile)}`)
      if (services.length > 1) say(`  (one of ${services.length} instances; all are in ${rel(profileDir)})`)
      say(`  (full report: npx tsx ${rel(join(benchDir, "profile-summary.ts"))} ${rel(profileFile)})`)
      const mapper = await makeTsxSourceMapper()
      const window = phases.max
      say("  phase A window only:")
      const summary = summarizeProfile(JSON.parse(readFileSync(profileFile, "utf8")) as CpuProfile, {
        root,
        ...(mapper !== undefined ? { mapper } : {}),
        ...(window !== undefined ? { window } : {})
      })
      for (const line of summary.lines(15, 0, 10)) say(`  ${line}`)
    }
  }

  say()
  say(`Cleanup: ${await cleanUp()}`)

  const ratio = kafkaPerf === undefined ? Number.NaN : a.result.eventsPerSec / kafkaPerf.recordsPerSec
  say()
  say("Summary")
  say(
    `  max rate   ${fmt(a.result.eventsPerSec).padStart(9)} events/s   p50 ${ms(a.result.latency.p50Ms)}  ` +
      `p99 ${ms(a.result.latency.p99Ms)}  max ${ms(a.result.latency.maxMs)}`
  )
  say(
    `  half rate  ${fmt(b.result.eventsPerSec).padStart(9)} events/s   p50 ${ms(b.result.latency.p50Ms)}  ` +
      `p99 ${ms(b.result.latency.p99Ms)}  max ${ms(b.result.latency.maxMs)}  (target ${fmt(target)})`
  )
  if (kafkaPerf !== undefined) {
    say(
      `  kafka perf ${fmt(kafkaPerf.recordsPerSec).padStart(9)} records/s  p99 ${ms(kafkaPerf.p99Ms)}; ` +
        `ratio ${ratio.toFixed(2)}`
    )
  }
  say(`  verified   ${verification.verified}`)
  if (sink !== undefined) {
    say(
      `  tracing    ${fmt(sink.received.spans)} spans in ${fmt(sink.received.exports)} OTLP exports ` +
        `(${fmt(Math.round(sink.received.bytes / 1024))} KiB), every request traced`
    )
    sink.close()
  }
  const notAccepted = totals.events.duplicate + totals.events.rejected + totals.events.retry
  const not202 = totals.requests - (totals.statuses["202"] ?? 0)
  if (notAccepted > 0 || not202 > 0) {
    say(`  PROBLEMS   ${fmt(not202)} requests not answered 202, ${fmt(notAccepted)} events not accepted`)
  }
  say(`  took ${Math.round((Date.now() - started) / 1000)} s`)

  const phaseJson = (r: PhaseResult) => ({
    eventsPerSec: Math.round(r.eventsPerSec),
    p50Ms: r.latency.p50Ms,
    p99Ms: r.latency.p99Ms,
    maxMs: r.latency.maxMs
  })
  const report = {
    benchmark: "ingest",
    machine,
    batchSize: options.batchSize,
    eventBytes: load.eventBytes,
    concurrency: options.concurrency,
    durationS: options.durationS,
    max: phaseJson(a.result),
    half: { targetEventsPerSec: target, ...phaseJson(b.result) },
    kafkaPerf:
      kafkaPerf === undefined
        ? null
        : {
            recordsPerSec: round(kafkaPerf.recordsPerSec, 1),
            p99Ms: kafkaPerf.p99Ms,
            avgMs: kafkaPerf.avgMs,
            p50Ms: kafkaPerf.p50Ms,
            maxMs: kafkaPerf.maxMs,
            records: kafkaPerf.records
          },
    ratioToKafka: Number.isFinite(ratio) ? round(ratio, 3) : null,
    verified: verification.verified,
    runId,
    warmupS: options.warmupS,
    instances: options.instances,
    latencyDetail: {
      max: a.result.latency,
      half: {
        ...b.result.latency,
        measuredS: round(b.result.measuredS, 2),
        maxSendLagMs: round(b.result.maxSendLagMs ?? 0)
      }
    },
    requests: { max: a.result.statuses, half: b.result.statuses, total: totals.statuses },
    events: { max: a.result.events, half: b.result.events, total: totals.events },
    verification: {
      accepted: totals.events.accepted,
      eventTopicOffsets: verification.eventTopics,
      dlqOffsets: verification.dlq,
      unknownOutcomeEvents: totals.unknownOutcomeEvents
    },
    cpuPct: { max: cpuA.usage() ?? null, half: cpuB.usage() ?? null, kafkaPerf: cpuPerf ?? null },
    cpuProfile: profileFile === undefined ? null : relative(root, profileFile),
    machineBusyBeforePct: quiet?.machinePct ?? null,
    tracing: sink === undefined ? null : { sampled: 1, ...sink.received }
  }
  console.log(JSON.stringify(report))
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    // Interrupted: the signal handler stops and cleans up, then exits.
    if (interrupted) return
    console.error(`The benchmark failed: ${errorText(error)}`)
    await stopAll()
    if (leftovers !== undefined) console.error(`Cleanup: ${await cleanUp()}`)
    process.exit(1)
  }
)
