/**
 * `npm run bench:stream`: the stream engine on the real Kafka and PostgreSQL.
 *
 * 1. Throughput: one `eventflow process` instance on a pre-filled topic (BENCH_EVENTS, default
 *    1,000,000 CloudEvents over BENCH_KEYS = 10,000 keys, ten minutes of event time), tumbling
 *    1-minute count + sum per key, exactly once into Postgres. Events/s from its first checkpoint
 *    to the checkpoint that covers the last event (what is committed, not merely read).
 * 2. Freshness: `eventflow ingest` in front of the same processor, a steady load
 *    (BENCH_FRESHNESS_RATE events/s for BENCH_FRESHNESS_SECONDS) with a probe event of a key of its
 *    own every 100 ms: from the probe's 202 to its window row visible in the read model.
 * 3. Reference: the same aggregation in Kafka Streams (packages/stream/bench/kafka-streams, built
 *    with Maven), on the same topic, exactly_once_v2 and at_least_once; the ratio.
 * BENCH_SKIP_KAFKA_STREAMS=1 leaves step 3 out; BENCH_PROFILE_DIR=dir writes a CPU profile of the processor.
 * The last line is one JSON object with every figure.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { cpus, totalmem } from "node:os"
import { fileURLToPath } from "node:url"
import { pgConnection } from "@eventflow/backends"
import { Effect, Redacted } from "effect"
import pg from "pg"
import { freePort, sleep, stopChild } from "../../ingest/bench/procs.ts"
import { checkServices, env, kafkaClient } from "../../ingest/bench/services.ts"
import { round, Samples, summarize } from "../../ingest/bench/stats.ts"
import { type KafkaStreamsReferenceResult, runKafkaStreamsReference } from "./kafkaStreams.ts"

const numberFrom = (name: string, fallback: number) => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`bench:stream: ${name} must be a positive number, not '${raw}'`)
    process.exit(2)
  }
  return value
}

const EVENTS = numberFrom("BENCH_EVENTS", 1_000_000)
const KEYS = numberFrom("BENCH_KEYS", 10_000)
const FRESHNESS_SECONDS = numberFrom("BENCH_FRESHNESS_SECONDS", 30)
const FRESHNESS_RATE = numberFrom("BENCH_FRESHNESS_RATE", 2_000)
const SKIP_KAFKA_STREAMS = process.env.BENCH_SKIP_KAFKA_STREAMS === "1"
const PARTITIONS = 3
const BASE = Date.UTC(2026, 10, 27, 9)
const SPAN_MS = 10 * 60_000

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const bin = fileURLToPath(new URL("../../cli/src/bin.ts", import.meta.url))
const pipelinesFolder = fileURLToPath(new URL("./pipelines/", import.meta.url))

const stamp = Date.now().toString(36)
const prefix = `bench-stream-${stamp}.`
const topic = `${prefix}events.default`
const pipelineName = `bench-totals-${stamp}`

const say = (line: string) => console.log(line)

/** A sale as the pre-fill writes it: ten minutes of event time, slightly out of order. */
const sale = (i: number) => {
  const key = `k${i % KEYS}`
  return {
    key,
    value: JSON.stringify({
      specversion: "1.0",
      id: `b-${i}`,
      source: "/bench",
      type: "bench.sale",
      subject: key,
      time: new Date(BASE + Math.floor((i * SPAN_MS) / EVENTS) - (i % 5) * 400).toISOString(),
      datacontenttype: "application/json",
      data: { key, amount: (i * 7) % 100 }
    })
  }
}

const prefill = async () => {
  const kafka = kafkaClient("eventflow-bench-stream")
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true })
  await admin.disconnect()
  const producer = kafka.producer()
  await producer.connect()
  const started = performance.now()
  let next = 100_000
  // One batch at a time: concurrent batches may land out of order beyond the grace period.
  for (let s = 0; s < EVENTS; s += 5_000) {
    const messages = []
    for (let i = s; i < Math.min(s + 5_000, EVENTS); i++) messages.push(sale(i))
    await producer.send({ topic, messages })
    if (s + 5_000 >= next) {
      say(`  pre-filled ${Math.min(s + 5_000, EVENTS).toLocaleString("en-US")} events`)
      next += 100_000
    }
  }
  await producer.disconnect()
  return (performance.now() - started) / 1000
}

interface Child {
  readonly child: ChildProcess
  readonly output: () => string
}

const start = (args: string[], extra: Record<string, string>): Child => {
  // BENCH_PROFILE_DIR: a CPU profile of the processor, written there when it stops.
  const profile =
    args[0] === "process" && process.env.BENCH_PROFILE_DIR
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
      : []
  const child = spawn(process.execPath, [...profile, "--import", "tsx", bin, ...args], {
    cwd: repoRoot,
    env: {
      ...process.env,
      ...env,
      EVENTFLOW_PIPELINES: pipelinesFolder,
      EVENTFLOW_TOPIC_PREFIX: prefix,
      BENCH_PIPELINE_NAME: pipelineName,
      ...extra
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (c) => {
    output += c
  })
  child.stderr!.on("data", (c) => {
    output += c
  })
  return { child, output: () => output }
}

// The same TLS settings as the services (EVENTFLOW_PG_SSL, EVENTFLOW_PG_SSL_CA_FILE, the URL's sslmode).
const connection = await Effect.runPromise(pgConnection(Redacted.make(env.DATABASE_URL)))
const db = new pg.Client({
  connectionString: connection.url,
  ...(connection.ssl === undefined ? {} : { ssl: connection.ssl })
})

const processed = async () => {
  const { rows } = await db.query(
    "SELECT coalesce(sum(processed), 0) AS n FROM eventflow_stream_positions WHERE pipeline = $1",
    [pipelineName]
  )
  return Number(rows[0].n)
}

const throughput = async (processor: Child) => {
  const spawned = performance.now()
  let first: { at: number; count: number } | undefined
  let lastPrint = 0
  for (;;) {
    if (processor.child.exitCode !== null) throw new Error(`eventflow process exited:\n${processor.output()}`)
    const count = await processed()
    const now = performance.now()
    if (count > 0 && first === undefined) first = { at: now, count }
    if (now - lastPrint > 2_000) {
      say(`  processed and checkpointed ${count.toLocaleString("en-US")} / ${EVENTS.toLocaleString("en-US")}`)
      lastPrint = now
    }
    if (count >= EVENTS) {
      const seconds = (now - first!.at) / 1000
      return {
        eventsPerSecond: Math.round((EVENTS - first!.count) / seconds),
        seconds: round(seconds),
        startupSeconds: round((first!.at - spawned) / 1000)
      }
    }
    if (now - spawned > 15 * 60_000) throw new Error("eventflow process did not finish within 15 minutes")
    await sleep(50)
  }
}

const freshness = async () => {
  const port = await freePort()
  const key = `bench-key-${stamp}`
  const ingest = start(["ingest"], {
    PORT: String(port),
    EVENTFLOW_DEV_WRITE_KEY: key,
    EVENTFLOW_AUTH: "off",
    EVENTFLOW_DEDUP_PREFIX: `eventflow-bench:${prefix}`
  })
  try {
    for (let i = 0; ; i++) {
      if (ingest.child.exitCode !== null) throw new Error(`eventflow ingest exited:\n${ingest.output()}`)
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false
      )
      if (ready) break
      if (i > 600) throw new Error("eventflow ingest was not ready within 60 s")
      await sleep(100)
    }
    const probes = new Map<string, number>()
    const samples = new Samples()
    let sent = 0
    let failed = 0
    let seq = 0
    const perTick = Math.max(1, Math.round(FRESHNESS_RATE / 10))
    const post = async (events: unknown[]) => {
      const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/cloudevents-batch+json" },
        body: JSON.stringify(events)
      })
      await response.arrayBuffer()
      if (response.status !== 202) failed++
      return response.status === 202
    }
    const event = (id: string, subject: string, amount: number) => ({
      specversion: "1.0",
      id,
      source: "/bench",
      type: "bench.sale",
      subject,
      time: new Date().toISOString(),
      data: { key: subject, amount }
    })
    let polling = true
    let measuring = false
    const poller = (async () => {
      while (polling) {
        if (probes.size > 0) {
          const { rows } = await db.query(
            "SELECT key FROM eventflow_results WHERE pipeline = $1 AND key = ANY($2::text[])",
            [pipelineName, [...probes.keys()]]
          )
          const now = performance.now()
          for (const row of rows as Array<{ key: string }>) {
            const acceptedAt = probes.get(row.key)
            if (acceptedAt === undefined) continue
            probes.delete(row.key)
            if (measuring) samples.push(now - acceptedAt)
          }
        }
        await sleep(20)
      }
    })()
    const warmupMs = 5_000
    const began = performance.now()
    const endAt = began + warmupMs + FRESHNESS_SECONDS * 1000
    say(
      `  steady load: ${FRESHNESS_RATE} events/s for ${FRESHNESS_SECONDS} s (after ${warmupMs / 1000} s of warm-up)`
    )
    const pending: Promise<unknown>[] = []
    for (let tick = 0; performance.now() < endAt; tick++) {
      const due = began + tick * 100
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      measuring = performance.now() - began > warmupMs
      const batch = Array.from({ length: perTick }, (_, i) =>
        event(`f-${stamp}-${tick}-${i}`, `k${(tick * perTick + i) % KEYS}`, i % 100)
      )
      pending.push(post(batch).then(() => (sent += batch.length)))
      const probe = `probe-${++seq}`
      pending.push(
        post([event(`p-${stamp}-${seq}`, probe, 1)]).then((ok) => {
          if (ok) probes.set(probe, performance.now())
        })
      )
      if (pending.length > 200) await Promise.all(pending.splice(0, 100))
    }
    await Promise.all(pending)
    // Give the last probes time to show (they count as they come, up to 10 s).
    const drainUntil = performance.now() + 10_000
    while (probes.size > 0 && performance.now() < drainUntil) await sleep(50)
    polling = false
    await poller
    const summary = summarize(samples)
    return { ...summary, missing: probes.size, sent, failedRequests: failed }
  } finally {
    await stopChild(ingest.child)
  }
}

const cleanup = async () => {
  for (const table of ["eventflow_results", "eventflow_stream_partials", "eventflow_stream_positions"]) {
    await db.query(`DELETE FROM ${table} WHERE pipeline = $1`, [pipelineName]).catch(() => undefined)
  }
  await db.query("DELETE FROM eventflow_pipelines WHERE name = $1", [pipelineName]).catch(() => undefined)
  const admin = kafkaClient("eventflow-bench-stream").admin()
  await admin.connect()
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined)
  await admin.disconnect()
}

const main = async () => {
  const missing = await checkServices()
  if (missing.length > 0) {
    for (const m of missing)
      console.error(`bench:stream: ${m.name} at ${m.address} does not answer: ${m.reason}`)
    console.error("bench:stream: start the services with npm run services:up")
    process.exit(1)
  }
  await db.connect()
  const cpu = cpus()
  say(
    `bench:stream on ${cpu.length} × ${cpu[0]?.model.trim() ?? "CPU"}, ${Math.round(totalmem() / 2 ** 30)} GB; Kafka, PostgreSQL and the processes share these cores`
  )
  say(
    `1. pre-filling ${topic} (${PARTITIONS} partitions) with ${EVENTS.toLocaleString("en-US")} events over ${KEYS.toLocaleString("en-US")} keys`
  )
  const prefillSeconds = await prefill()
  say(`  pre-filled in ${round(prefillSeconds, 1)} s`)

  say("2. eventflow process: tumbling 1-minute count + sum per key, exactly once into PostgreSQL")
  const processor = start(["process"], {})
  let eventflow: Awaited<ReturnType<typeof throughput>>
  let fresh: Awaited<ReturnType<typeof freshness>>
  try {
    eventflow = await throughput(processor)
    say(
      `  ${eventflow.eventsPerSecond.toLocaleString("en-US")} events/s (${EVENTS.toLocaleString("en-US")} events in ${eventflow.seconds} s after ${eventflow.startupSeconds} s of start-up)`
    )
    say("3. freshness: eventflow ingest → Kafka → eventflow process → read model")
    fresh = await freshness()
    say(
      `  event accepted → its window row visible: p50 ${fresh.p50Ms} ms, p99 ${fresh.p99Ms} ms, max ${fresh.maxMs} ms over ${fresh.count} probes (${fresh.missing} not seen)`
    )
  } finally {
    await stopChild(processor.child)
  }

  let eos: KafkaStreamsReferenceResult | undefined
  let alo: KafkaStreamsReferenceResult | undefined
  if (!SKIP_KAFKA_STREAMS) {
    say("4. Kafka Streams reference (same topic, same aggregation; built with Maven on first use)")
    eos = await runKafkaStreamsReference({ brokers: env.KAFKA_BROKERS, topic, expected: EVENTS })
    say(`  exactly_once_v2: ${Math.round(eos.eventsPerSecond).toLocaleString("en-US")} events/s`)
    alo = await runKafkaStreamsReference({
      brokers: env.KAFKA_BROKERS,
      topic,
      expected: EVENTS,
      guarantee: "at_least_once"
    })
    say(`  at_least_once: ${Math.round(alo.eventsPerSecond).toLocaleString("en-US")} events/s`)
  }
  await cleanup()
  await db.end()

  const ratio = eos === undefined ? null : round(eventflow.eventsPerSecond / eos.eventsPerSecond)
  if (ratio !== null) say(`  ratio EventFlow / Kafka Streams (both exactly once): ${ratio}`)
  say(
    JSON.stringify({
      bench: "stream",
      machine: { cpus: cpu.length, model: cpu[0]?.model.trim() ?? null },
      events: EVENTS,
      keys: KEYS,
      partitions: PARTITIONS,
      eventflow: { ...eventflow, guarantee: "exactly-once (Postgres checkpoints)" },
      freshness: fresh,
      kafkaStreams:
        eos === undefined
          ? null
          : {
              exactlyOnceV2: {
                eventsPerSecond: Math.round(eos.eventsPerSecond),
                seconds: round(eos.seconds)
              },
              atLeastOnce:
                alo === undefined
                  ? null
                  : { eventsPerSecond: Math.round(alo.eventsPerSecond), seconds: round(alo.seconds) }
            },
      ratio,
      ratioAtLeastOnce: alo === undefined ? null : round(eventflow.eventsPerSecond / alo.eventsPerSecond),
      targets: { eventsPerSecond: 100_000, ratio: 1, freshnessP99Ms: 2_000 }
    })
  )
}

main().catch(async (error: unknown) => {
  console.error(`bench:stream: ${error instanceof Error ? error.message : String(error)}`)
  await cleanup().catch(() => undefined)
  process.exit(1)
})
