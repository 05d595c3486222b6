/**
 * Fault injection (`npm run test:chaos`): EventFlow in distributed mode, as deployed, on a private
 * Kafka broker, Redis server and PostgreSQL cluster of its own (so that they can be killed and
 * restarted without touching the shared ones), under a steady load from clients that resend a
 * batch with the same ids until every event is acknowledged. Each scenario injects its fault while
 * the load runs, lets it recover, drains the clients, and then checks the promise: every
 * acknowledged event is in the log and is counted exactly once in the read model.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  type KafkaBroker,
  type PostgresCluster,
  requireServices,
  startKafkaBroker,
  startPostgresCluster,
  startRedis,
  waitFor
} from "@eventflow/testing"
import { freePort } from "@eventflow/testing/net"
import { Kafka, logLevel } from "kafkajs"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Running, repoRoot, runEventflow, startEventflow, stop } from "../support.ts"
import { expectedCounts, Workload, type WorkloadStats } from "./workload.ts"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const uid = () => Math.random().toString(36).slice(2, 8)

interface Stack {
  kafka: KafkaBroker
  redis: Awaited<ReturnType<typeof startRedis>>
  postgres: PostgresCluster
}

let stack: Stack | undefined
let unavailable: string | undefined

beforeAll(async () => {
  try {
    const [kafka, redis, postgres] = await Promise.all([
      startKafkaBroker(),
      startRedis(),
      startPostgresCluster({ database: "test", settings: { fsync: "off", max_connections: "200" } })
    ])
    stack = { kafka, redis, postgres }
  } catch (error) {
    unavailable = (error as Error).message
    if (requireServices) throw error
    console.warn(`\n!!! SKIPPING the fault-injection suite: ${unavailable} !!!\n`)
  }
}, 240_000)

afterAll(async () => {
  if (stack === undefined) return
  await Promise.all([stack.kafka.destroy(), stack.redis.stop(), stack.postgres.cleanup()])
}, 120_000)

interface Roles {
  readonly ingest: Running[]
  readonly ingestPorts: number[]
  readonly processors: Running[]
  readonly env: Record<string, string>
}

/** What a scenario saw of its fault (added to its report). */
type FaultNotes = Record<string, number | string>

interface Scenario {
  readonly name: string
  readonly ingestInstances: number
  readonly processorInstances: number
  /** Runs while the load runs; starts and stops what it needs through `roles` and `stack`. */
  readonly fault: (roles: Roles, stack: Stack, workload: Workload) => Promise<FaultNotes>
  readonly check?: (stats: WorkloadStats, notes: FaultNotes) => void
}

const startIngest = (roles: Roles, i: number) =>
  startEventflow(["ingest"], roles.env, roles.ingestPorts[i]!).then((running) => {
    roles.ingest[i] = running
  })

const startProcessor = async (roles: Roles, i: number) => {
  roles.processors[i] = await startEventflow(["process"], roles.env, await freePort())
}

/** Every record of the topic: the number of copies of each event id. */
const idsInLog = async (brokers: string, topic: string): Promise<Map<string, number>> => {
  const kafka = new Kafka({ clientId: "chaos-check", brokers: [brokers], logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const ends = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  const remaining = new Map(ends.map((p) => [p.partition, Number(p.high)]))
  const copies = new Map<string, number>()
  const consumer = kafka.consumer({ groupId: `chaos-check-${uid()}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await new Promise<void>((resolve, reject) => {
    const done = () => [...remaining.values()].every((left) => left <= 0)
    if (done()) return resolve()
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          for (const message of batch.messages) {
            const event = JSON.parse(message.value!.toString("utf8")) as { id: string }
            copies.set(event.id, (copies.get(event.id) ?? 0) + 1)
          }
          const high = Number(batch.highWatermark)
          const last = Number(batch.messages.at(-1)?.offset ?? -1)
          remaining.set(batch.partition, high - last - 1)
          if (done()) resolve()
        }
      })
      .catch(reject)
  })
  await consumer.disconnect()
  return copies
}

/** The read model's count per subject (summed over windows). */
const countedPerSubject = async (client: pg.Client, pipeline: string) => {
  const { rows } = await client.query<{ key: string; n: string }>(
    `SELECT key, sum(("values"->>'events')::bigint) AS n FROM eventflow_results WHERE pipeline = $1 GROUP BY key`,
    [pipeline]
  )
  return new Map(rows.map((r) => [r.key, Number(r.n)]))
}

const compare = (expected: Map<string, number>, counted: Map<string, number>) => {
  let lost = 0
  let doubled = 0
  for (const key of new Set([...expected.keys(), ...counted.keys()])) {
    const difference = (counted.get(key) ?? 0) - (expected.get(key) ?? 0)
    if (difference < 0) lost -= difference
    else doubled += difference
  }
  return { lost, doubled }
}

const run = async (scenario: Scenario) => {
  if (stack === undefined) {
    if (requireServices) throw new Error(`the private services did not start: ${unavailable}`)
    return
  }
  const s = stack
  const id = uid()
  const prefix = `chaos-${scenario.name}-${id}.`
  const pipeline = `chaos-${scenario.name}-${id}`
  const env = {
    KAFKA_BROKERS: s.kafka.brokers,
    REDIS_URL: s.redis.url,
    DATABASE_URL: s.postgres.url,
    EVENTFLOW_TOPIC_PREFIX: prefix,
    EVENTFLOW_DEDUP_PREFIX: `eventflow-chaos:${id}:`,
    EVENTFLOW_PIPELINES: join(repoRoot, "packages/cli/test/chaos/pipelines"),
    CHAOS_PIPELINE: pipeline,
    EVENTFLOW_CHECKPOINT_INTERVAL_MS: "200",
    EVENTFLOW_KAFKA_SESSION_TIMEOUT_MS: "6000",
    EVENTFLOW_KAFKA_REBALANCE_TIMEOUT_MS: "8000",
    EVENTFLOW_HOST: "127.0.0.1"
  }
  const created = await runEventflow(["keys", "create", "--source", "/chaos", "--json"], env)
  expect(created.stderr).toBe("")
  const key = (JSON.parse(created.stdout) as { key: string }).key
  const roles: Roles = {
    ingest: [],
    ingestPorts: await Promise.all(Array.from({ length: scenario.ingestInstances }, () => freePort())),
    processors: [],
    env
  }
  const client = new pg.Client({ connectionString: s.postgres.url })
  try {
    await Promise.all(Array.from({ length: scenario.ingestInstances }, (_, i) => startIngest(roles, i)))
    await Promise.all(Array.from({ length: scenario.processorInstances }, (_, i) => startProcessor(roles, i)))
    const workload = new Workload({
      endpoints: roles.ingestPorts.map((port) => `http://127.0.0.1:${port}`),
      key,
      runId: id,
      workers: 6,
      batchSize: 20,
      pauseMs: 25,
      subjects: 200
    })
    const started = Date.now()
    workload.start()
    await sleep(4_000)
    const notes = await scenario.fault(roles, s, workload)
    await sleep(4_000)
    const loadSeconds = (Date.now() - started) / 1000
    await workload.drain(240_000)
    const stats = workload.stats
    // No server stopped but those the fault killed (and those were started again).
    for (const running of [...roles.ingest, ...roles.processors])
      expect(running.child.exitCode, running.output().slice(-4_000)).toBe(null)

    // Every acknowledged event is in the log (once or more: a copy is what the engine must drop)…
    const copies = await idsInLog(s.kafka.brokers, `${prefix}events.default`)
    const missingFromLog = [...stats.acknowledgedIds.keys()].filter((id) => !copies.has(id)).length
    const copiesInLog = [...copies.values()].reduce((n, c) => n + c - 1, 0)
    // …and counted exactly once: the read model converges to the acknowledged events per subject.
    await client.connect()
    const expected = expectedCounts(stats)
    let outcome = { lost: -1, doubled: -1 }
    await waitFor(
      `pipeline ${pipeline} to count the ${stats.acknowledged} acknowledged events`,
      async () => {
        outcome = compare(expected, await countedPerSubject(client, pipeline))
        return outcome.lost === 0 && outcome.doubled === 0
      },
      180_000
    ).catch(() => undefined)
    // Still so a little later (a late second count would show now).
    await sleep(1_500)
    outcome = compare(expected, await countedPerSubject(client, pipeline))
    const { rows } = await client.query<{ duplicates: string }>(
      "SELECT coalesce(sum(duplicates), 0) AS duplicates FROM eventflow_stream_positions WHERE pipeline = $1",
      [pipeline]
    )
    const report = {
      scenario: scenario.name,
      loadSeconds: Math.round(loadSeconds),
      events: stats.events,
      acknowledged: stats.acknowledged,
      lost: outcome.lost + missingFromLog,
      doubleCounted: outcome.doubled,
      copiesInLog,
      copiesDropped: Number(rows[0]!.duplicates),
      answeredDuplicate: stats.duplicates,
      resent: stats.resent,
      unexpected: stats.unexpected,
      ...notes
    }
    mkdirSync(join(repoRoot, "test-output/chaos"), { recursive: true })
    writeFileSync(
      join(repoRoot, `test-output/chaos/${scenario.name}.json`),
      `${JSON.stringify(report, null, 2)}\n`
    )
    console.log(`chaos ${JSON.stringify(report)}`)

    expect(stats.rejected).toBe(0)
    expect(stats.events).toBe(stats.acknowledged)
    expect(stats.events).toBeGreaterThan(1_000)
    expect(missingFromLog).toBe(0)
    expect(outcome).toEqual({ lost: 0, doubled: 0 })
    // The engine dropped exactly the copies the log holds.
    expect(report.copiesDropped).toBe(copiesInLog)
    // No answer was a server error other than 503 (with its Retry-After).
    expect(Object.keys(stats.unexpected).filter((status) => status.startsWith("5"))).toEqual([])
    scenario.check?.(stats, notes)
  } finally {
    await client.end().catch(() => undefined)
    await Promise.all([...roles.ingest, ...roles.processors].map((r) => stop(r, "SIGKILL")))
  }
}

describe("fault injection: every acknowledged event is counted exactly once", () => {
  it(
    "ingest killed (SIGKILL) under load, then restarted",
    () =>
      run({
        name: "ingest-sigkill",
        ingestInstances: 2,
        processorInstances: 1,
        fault: async (roles) => {
          let kills = 0
          for (const i of [0, 1, 0]) {
            roles.ingest[i]!.child.kill("SIGKILL")
            await roles.ingest[i]!.exited
            kills++
            await sleep(1_000)
            await startIngest(roles, i)
            await sleep(2_000)
          }
          return { kills }
        },
        check: (stats) => expect(stats.resent.network).toBeGreaterThan(0)
      }),
    600_000
  )

  it(
    "the processor killed (SIGKILL) repeatedly under load",
    () =>
      run({
        name: "processor-sigkill",
        ingestInstances: 1,
        processorInstances: 2,
        fault: async (roles) => {
          let kills = 0
          for (let round = 0; round < 4; round++) {
            const i = round % 2
            roles.processors[i]!.child.kill("SIGKILL")
            await roles.processors[i]!.exited
            kills++
            await startProcessor(roles, i)
            await sleep(2_500)
          }
          return { kills }
        }
      }),
    600_000
  )

  it(
    "the Kafka broker killed and restarted under load",
    () =>
      run({
        name: "kafka-restart",
        ingestInstances: 1,
        processorInstances: 1,
        fault: async (_roles, s) => {
          const down = Date.now()
          await s.kafka.stop("SIGKILL")
          await sleep(5_000)
          await s.kafka.start()
          return { brokerDownSeconds: Math.round((Date.now() - down) / 100) / 10 }
        }
      }),
    600_000
  )

  it(
    "Redis stopped for 10 s, then restarted: 503 with Retry-After meanwhile, then recovery",
    () =>
      run({
        name: "redis-outage",
        ingestInstances: 1,
        processorInstances: 1,
        fault: async (_roles, s, workload) => {
          const before = workload.stats.resent.status503
          await s.redis.stop()
          await sleep(10_000)
          await s.redis.restart()
          return { redisDownSeconds: 10, answered503: workload.stats.resent.status503 - before }
        },
        check: (stats, notes) => {
          expect(notes.answered503).toBeGreaterThan(0)
          expect(stats.withoutRetryAfter).toBe(0)
        }
      }),
    600_000
  )

  it(
    "PostgreSQL stopped for 10 s, then restarted: the processor pauses, retries, resumes",
    () =>
      run({
        name: "postgres-outage",
        ingestInstances: 1,
        processorInstances: 1,
        fault: async (roles, s) => {
          await s.postgres.stop("immediate")
          await sleep(10_000)
          await s.postgres.start()
          // The processor waited it out: it did not exit.
          const processor = roles.processors[0]!
          expect(processor.child.exitCode, processor.output()).toBe(null)
          // …and paused and retried meanwhile (each retry logs a warning).
          const retries = processor
            .output()
            .split("\n")
            .filter((line) => line.includes(" in a row)")).length
          return { postgresDownSeconds: 10, processorRetries: retries }
        },
        check: (_stats, notes) => expect(notes.processorRetries).toBeGreaterThan(0)
      }),
    600_000
  )
})
