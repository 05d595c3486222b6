/**
 * `eventflow process` on the real Kafka and PostgreSQL, exactly once: while a known set of events
 * flows, the processor is killed (SIGKILL) at random moments and restarted, or a second instance
 * joins and the first leaves; the read model ends equal to the ground truth, and every record is
 * counted once.
 */
import { join } from "node:path"
import { describeWithServices, serviceUrls, testKafka, uniquePrefix, waitFor } from "@eventflow/testing"
import pg from "pg"
import { expect, it, onTestFinished } from "vitest"
import { type Running, repoRoot, spawnEventflow } from "./support.ts"

const BASE = Date.UTC(2026, 10, 27, 9)
const KEYS = 300

const sale = (i: number) => ({
  specversion: "1.0",
  id: `s${i}`,
  source: "/shop",
  type: "sale",
  // Five minutes of sales, a little out of order (less than the 10-second grace).
  time: new Date(BASE + Math.floor((i * 300_000) / 60_000) - (i % 7) * 300).toISOString(),
  data: { key: `k${i % KEYS}`, amount: (i * 7) % 100 }
})

/** The rows the pipeline must end with: count and sum per key and minute. */
const groundTruth = (n: number) => {
  const rows = new Map<string, { sales: number; amount: number }>()
  for (let i = 0; i < n; i++) {
    const event = sale(i)
    const start = Math.floor(Date.parse(event.time) / 60_000) * 60_000
    const id = `${event.data.key} ${start}`
    const row = rows.get(id) ?? { sales: 0, amount: 0 }
    row.sales++
    row.amount += event.data.amount
    rows.set(id, row)
  }
  return rows
}

/** Produces sales [from, to) in batches, keyed by id so that a key's sales land on every partition. */
const produce = async (topic: string, from: number, to: number, pauseMs: number, batch = 1000) => {
  const producer = testKafka().producer()
  await producer.connect()
  try {
    for (let s = from; s < to; s += batch) {
      const messages = []
      for (let i = s; i < Math.min(s + batch, to); i++) {
        messages.push({ key: `s${i}`, value: JSON.stringify(sale(i)) })
      }
      await producer.send({ topic, messages })
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
  } finally {
    await producer.disconnect()
  }
}

const startProcessor = async (env: Record<string, string>, pipelines = 1): Promise<Running> => {
  const running = spawnEventflow(["process"], env)
  onTestFinished(() => {
    running.child.kill("SIGKILL")
  })
  await waitFor("eventflow process to start its pipelines", async () => {
    if (running.child.exitCode !== null) throw new Error(`eventflow process exited:\n${running.output()}`)
    return running.output().includes(`Running ${pipelines} pipeline(s)`)
  })
  return running
}

const database = async () => {
  const client = new pg.Client({ connectionString: serviceUrls.postgres })
  await client.connect()
  onTestFinished(() => client.end())
  return client
}

const setup = async (label: string) => {
  const prefix = uniquePrefix(label)
  const name = `${label}-${Math.random().toString(36).slice(2, 8)}`
  const topic = `${prefix}events.sales`
  const admin = testKafka().admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true })
  await admin.disconnect()
  const env = {
    KAFKA_BROKERS: serviceUrls.kafka,
    DATABASE_URL: serviceUrls.postgres,
    EVENTFLOW_PIPELINES: join(repoRoot, "packages/stream/test/pipelines"),
    EVENTFLOW_TOPIC_PREFIX: prefix,
    TEST_PIPELINE_NAME: name,
    EVENTFLOW_CHECKPOINT_INTERVAL_MS: "200",
    EVENTFLOW_KAFKA_SESSION_TIMEOUT_MS: "6000",
    EVENTFLOW_KAFKA_REBALANCE_TIMEOUT_MS: "8000"
  }
  return { name, topic, env }
}

/** Waits until the pipeline's checkpoints cover every record, then checks the read model against the truth. */
const expectExact = async (client: pg.Client, name: string, n: number) => {
  await waitFor(
    `pipeline ${name} to checkpoint all ${n} records`,
    async () => {
      const { rows } = await client.query(
        "SELECT coalesce(sum(next_offset), 0) AS done FROM eventflow_stream_positions WHERE pipeline = $1",
        [name]
      )
      return Number(rows[0].done) === n
    },
    120_000
  )
  const positions = await client.query(
    "SELECT sum(processed) AS processed, sum(late) AS late, sum(poison) AS poison FROM eventflow_stream_positions WHERE pipeline = $1",
    [name]
  )
  expect(positions.rows[0]).toEqual({ processed: String(n), late: "0", poison: "0" })
  const { rows } = await client.query(
    `SELECT key, window_start, "values" FROM eventflow_results WHERE pipeline = $1`,
    [name]
  )
  const actual = new Map(
    rows.map((r: { key: string; window_start: string; values: { sales: number; amount: number } }) => [
      `${r.key} ${r.window_start}`,
      { sales: r.values.sales, amount: r.values.amount }
    ])
  )
  const expected = groundTruth(n)
  expect(actual.size).toBe(expected.size)
  expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected))
}

await describeWithServices(["kafka", "postgres"], "eventflow process on Kafka, exactly once", () => {
  it("killed with SIGKILL at random moments while events flow, and restarted: exact aggregates", async () => {
    const { name, topic, env: base } = await setup("crash")
    const env = { ...base, EVENTFLOW_CHECKPOINT_INTERVAL_MS: "1000" }
    const client = await database()
    const n = 60_000
    // A steady flow (about 2,000 events/s) and a checkpoint a second: a kill nearly always lands
    // on records processed but not yet checkpointed, which the next instance must redo exactly.
    const producing = produce(topic, 0, n, 250, 500)
    const processed = async () => {
      const { rows } = await client.query(
        "SELECT coalesce(sum(processed), 0) AS n FROM eventflow_stream_positions WHERE pipeline = $1",
        [name]
      )
      return Number(rows[0].n)
    }
    const kills: string[] = []
    for (let k = 0; k < 4; k++) {
      const before = await processed()
      const processor = await startProcessor(env)
      // Kill it while it works: once it has checkpointed something, at a random moment after.
      await waitFor("the processor to checkpoint progress", async () => (await processed()) > before, 60_000)
      const after = Math.floor(Math.random() * 1_500)
      await new Promise((resolve) => setTimeout(resolve, after))
      processor.child.kill("SIGKILL")
      await processor.exited
      kills.push(`${after} ms after progress (at ${await processed()} records)`)
    }
    expect(await processed(), "the kills came before the end").toBeLessThan(n)
    const last = await startProcessor(env)
    await producing
    await expectExact(client, name, n)
    // Each restart took the partitions over: their epochs moved on every claim.
    const epochs = await client.query(
      "SELECT min(epoch) AS e FROM eventflow_stream_positions WHERE pipeline = $1",
      [name]
    )
    expect(Number(epochs.rows[0].e), `killed ${kills.join("; ")}`).toBeGreaterThanOrEqual(2)
    last.child.kill("SIGTERM")
    expect(await last.exited).toBe(0)
  }, 300_000)

  it("two instances, one joining and the other leaving while events flow: exact aggregates", async () => {
    const { name, topic, env } = await setup("rebalance")
    const client = await database()
    const n = 39_000
    const first = await startProcessor(env)
    await produce(topic, 0, n / 3, 100)
    const second = await startProcessor(env)
    const middle = produce(topic, n / 3, (2 * n) / 3, 100)
    // Both instances hold partitions for a while (the group rebalanced to include the second)…
    await waitFor(
      "both instances to own partitions",
      async () => {
        const { rows } = await client.query(
          "SELECT count(DISTINCT owner) AS owners FROM eventflow_stream_positions WHERE pipeline = $1",
          [name]
        )
        return Number(rows[0].owners) === 2
      },
      60_000
    )
    await middle
    // …then the first leaves cleanly, and the second takes its partitions over for the last third.
    first.child.kill("SIGTERM")
    expect(await first.exited).toBe(0)
    await produce(topic, (2 * n) / 3, n, 100)
    await expectExact(client, name, n)
    const owners = await client.query(
      "SELECT DISTINCT owner FROM eventflow_stream_positions WHERE pipeline = $1",
      [name]
    )
    expect(owners.rows.map((r: { owner: string }) => r.owner)).toEqual([
      expect.stringContaining(`/${second.child.pid}`)
    ])
    second.child.kill("SIGTERM")
    expect(await second.exited).toBe(0)
  }, 300_000)

  it("joins a table of entity state read whole from its topic (a tombstone deletes an entity)", async () => {
    const { name, env: base } = await setup("join")
    const prefix = base.EVENTFLOW_TOPIC_PREFIX
    const env = { ...base, EVENTFLOW_PIPELINES: join(repoRoot, "packages/stream/test/pipelines-join") }
    const client = await database()
    const admin = testKafka().admin()
    await admin.connect()
    await admin.createTopics({
      topics: [
        {
          topic: `${prefix}entities.customers`,
          numPartitions: 2,
          configEntries: [{ name: "cleanup.policy", value: "compact" }]
        },
        { topic: `${prefix}events.orders`, numPartitions: 3 }
      ],
      waitForLeaders: true
    })
    await admin.disconnect()
    const producer = testKafka().producer()
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const customer = (id: string, tier: string) => ({
      key: id,
      value: JSON.stringify({
        specversion: "1.0",
        id: `c-${id}-${tier}`,
        source: "/crm",
        type: "customer",
        subject: id,
        data: { tier }
      })
    })
    // The table exists before the processor starts: it reads it whole first.
    await producer.send({
      topic: `${prefix}entities.customers`,
      messages: [
        customer("ann", "gold"),
        customer("bob", "gold"),
        { key: "bob", value: null },
        customer("cat", "basic")
      ]
    })
    const processor = await startProcessor(env)
    const order = (i: number, who: string, amount: number) => ({
      key: who,
      value: JSON.stringify({
        specversion: "1.0",
        id: `o-${i}`,
        source: "/shop",
        type: "order",
        subject: who,
        time: new Date(BASE + i * 1000).toISOString(),
        data: { amount }
      })
    })
    await producer.send({
      topic: `${prefix}events.orders`,
      messages: [order(1, "ann", 10), order(2, "bob", 10), order(3, "cat", 10), order(4, "ann", 5)]
    })
    await waitFor("the joined rows", async () => {
      const { rows } = await client.query(
        "SELECT coalesce(sum(processed), 0) AS n FROM eventflow_stream_positions WHERE pipeline = $1",
        [name]
      )
      return Number(rows[0].n) === 4
    })
    const { rows } = await client.query(
      `SELECT key, "values" FROM eventflow_results WHERE pipeline = $1 ORDER BY key`,
      [name]
    )
    // ann is gold (×2); bob's entity was deleted by the tombstone (×1); cat is basic (×1).
    expect(rows.map((r: { key: string; values: unknown }) => [r.key, r.values])).toEqual([
      ["ann", { orders: 2, weighted: 30 }],
      ["bob", { orders: 1, weighted: 10 }],
      ["cat", { orders: 1, weighted: 10 }]
    ])
    processor.child.kill("SIGTERM")
    expect(await processor.exited).toBe(0)
  }, 120_000)
})
