/** `eventflow ingest` as deployed: distributed mode on the real Kafka, Redis and PostgreSQL. */
import {
  describeWithServices,
  freePort,
  serviceUrls,
  topicEndOffsets,
  uniquePrefix
} from "@eventflow/testing"
import { expect, it, onTestFinished } from "vitest"
import { postEvents, runEventflow, startEventflow, terminateUnderLoad } from "./support.ts"

const event = (id: string) => ({
  specversion: "1.0",
  id,
  source: "/fleet",
  type: "truck.moved",
  data: { km: 1 }
})

await describeWithServices(["kafka", "redis", "postgres"], "eventflow ingest (distributed)", () => {
  it("serves the API, and on SIGTERM answers the requests in flight, flushes to Kafka and exits 0", async () => {
    const prefix = uniquePrefix("cli")
    const env = {
      KAFKA_BROKERS: serviceUrls.kafka,
      REDIS_URL: serviceUrls.redis,
      DATABASE_URL: serviceUrls.postgres,
      EVENTFLOW_TOPIC_PREFIX: prefix,
      EVENTFLOW_DEDUP_PREFIX: `eventflow-test:${prefix}`,
      EVENTFLOW_HOST: "127.0.0.1"
    }
    const created = await runEventflow(["keys", "create", "--source", "/fleet", "--json"], env)
    expect(created.stderr).toBe("")
    const key = (JSON.parse(created.stdout) as { key: string }).key
    const port = await freePort()
    const running = await startEventflow(["ingest"], env, port)
    onTestFinished(() => {
      running.child.kill("SIGKILL")
    })
    expect(running.output()).toContain(
      `EventFlow ingest listening on http://localhost:${port} (distributed mode`
    )
    const first = await postEvents(port, key, [event("warm-up")])
    expect(first.body.accepted).toBe(1)

    const batches = Array.from({ length: 30 }, (_, b) =>
      Array.from({ length: 100 }, (_, i) => event(`${b}-${i}`))
    )
    const accepted = 1 + (await terminateUnderLoad(running, port, key, batches, 20))
    expect(await topicEndOffsets(`${prefix}events.default`)).toBe(accepted)
  })

  it("says in a plain sentence what distributed mode is missing", async () => {
    // With readable logs: the sentence alone.
    const text = await runEventflow(["ingest"], {
      KAFKA_BROKERS: serviceUrls.kafka,
      EVENTFLOW_LOG_FORMAT: "text"
    })
    expect([text.code, text.stderr]).toEqual([
      1,
      "eventflow: KAFKA_BROKERS is set, so DATABASE_URL is required (distributed mode)\n"
    ])
    // With JSON logs (the services' default): the same sentence in one JSON line.
    const json = await runEventflow(["ingest"], { KAFKA_BROKERS: serviceUrls.kafka })
    expect(json.code).toBe(1)
    expect(json.stderr.endsWith("\n")).toBe(true)
    expect(JSON.parse(json.stderr)).toMatchObject({
      level: "error",
      service: "ingest",
      message:
        "eventflow ingest stopped: KAFKA_BROKERS is set, so DATABASE_URL is required (distributed mode)"
    })
  })
})
