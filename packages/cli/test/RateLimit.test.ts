/**
 * Rate limits per write key as a user meets them: `eventflow keys create|limit|list` with limits,
 * a real `eventflow dev` answering 429 (and nothing of a refused request kept), and two
 * `eventflow ingest` instances in distributed mode sharing one limit through Redis.
 */
import {
  describeWithServices,
  freePort,
  serviceUrls,
  tempDir,
  topicEndOffsets,
  uniquePrefix
} from "@eventflow/testing"
import { describe, expect, it, onTestFinished } from "vitest"
import { countRecords, runEventflow, startEventflow, stop } from "./support.ts"

const event = (id: string, source = "/laptop") => ({
  specversion: "1.0",
  id,
  source,
  type: "demo.created",
  data: { n: id }
})
const batch = (prefix: string, n: number, source?: string) =>
  Array.from({ length: n }, (_, i) => event(`${prefix}-${i}`, source))

const send = async (port: number, key: string, body: unknown) => {
  const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body)
  })
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    retryAfter: response.headers.get("retry-after"),
    limit: response.headers.get("ratelimit-limit"),
    remaining: response.headers.get("ratelimit-remaining"),
    body: (await response.json()) as any
  }
}

const jsonLines = (text: string) =>
  text
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line))

describe("rate limits in eventflow dev (embedded)", () => {
  it("answers 429 with Retry-After, keeps nothing of it, passes after the wait; keys limit changes it", async () => {
    const dataDir = tempDir("rate")
    const port = await freePort()
    // A default for keys without their own: 1 event per second, 2 at once.
    const env = {
      EVENTFLOW_DATA_DIR: dataDir,
      EVENTFLOW_KEY_CACHE_TTL: "0 millis",
      EVENTFLOW_RATE_LIMIT: "1",
      EVENTFLOW_RATE_BURST: "2"
    }
    const running = await startEventflow(["dev"], env, port)
    onTestFinished(() => {
      running.child.kill("SIGKILL")
    })
    const created = await runEventflow(
      ["keys", "create", "--source", "/laptop", "--rate-limit", "0.5", "--burst", "3", "--json"],
      env
    )
    expect(created.stderr).toBe("")
    const key = JSON.parse(created.stdout) as {
      id: string
      key: string
      rateLimit: number
      rateBurst: number
    }
    expect([key.rateLimit, key.rateBurst]).toEqual([0.5, 3])

    // 0.5 events per second, 3 at once.
    const first = await send(port, key.key, batch("r", 3))
    expect([first.status, first.body.accepted, first.limit, first.remaining]).toEqual([202, 3, "3", "0"])
    const refused = await send(port, key.key, [event("late")])
    expect([refused.status, refused.contentType, refused.retryAfter]).toEqual([
      429,
      "application/problem+json",
      "2"
    ])
    expect(refused.body).toMatchObject({
      type: "urn:eventflow:problem:rate-limited",
      status: 429,
      retryAfter: 2
    })
    const tooMany = await send(port, key.key, batch("big", 4))
    expect([tooMany.status, tooMany.retryAfter]).toEqual([429, null])
    expect(tooMany.body.detail).toContain("split the batch")

    await new Promise((r) => setTimeout(r, Number(refused.retryAfter) * 1000))
    // The same event again: accepted, not a duplicate (nothing of the refused request was kept).
    const again = await send(port, key.key, [event("late")])
    expect([again.status, again.body.results[0].status]).toEqual([202, "accepted"])
    expect(await countRecords(dataDir)).toBe(4)

    // A rate of 0: no limit for this key, although a default is set.
    const none = await runEventflow(["keys", "limit", key.id, "--rate-limit", "0"], env)
    expect([none.code, none.stdout]).toEqual([0, `Write key ${key.id}: no rate limit.\n`])
    for (const name of ["u", "v"]) expect((await send(port, key.key, batch(name, 10))).status).toBe(202)

    // Back to the default (1 per second, 2 at once).
    const back = await runEventflow(["keys", "limit", key.id, "--default"], env)
    expect(back.stdout).toBe(
      `Write key ${key.id}: the default rate limit (EVENTFLOW_RATE_LIMIT, EVENTFLOW_RATE_BURST).\n`
    )
    const defaulted = await send(port, key.key, batch("w", 3))
    expect([defaulted.status, defaulted.limit]).toEqual([429, "2"])
    expect(await countRecords(dataDir)).toBe(24)

    const set = await runEventflow(["keys", "limit", key.id, "--rate-limit", "100", "--burst", "50"], env)
    expect(set.stdout).toBe(`Write key ${key.id}: at most 100 events per second, bursts of 50.\n`)
    const [json, text, unknown] = await Promise.all([
      runEventflow(["keys", "list", "--json"], env),
      runEventflow(["keys", "list"], env),
      runEventflow(["keys", "limit", "0123456789ab", "--rate-limit", "3"], env)
    ])
    expect([unknown.code, unknown.stderr]).toEqual([
      1,
      "eventflow: there is no write key with id 0123456789ab\n"
    ])
    const listed = jsonLines(json.stdout)
    expect(listed.map((k) => [k.source, k.rateLimit, k.rateBurst])).toEqual([
      ["*", null, null],
      ["/laptop", 100, 50]
    ])
    expect(text.stdout).toMatch(/RATE LIMIT/)
    expect(text.stdout).toMatch(new RegExp(`${key.id} +active +\\S+ +100/s, burst 50 +/laptop`))
    expect(text.stdout).toMatch(/ +active +\S+ +default +\*/)
    expect(await stop(running)).toBe(0)
  }, 300_000)

  it("says in a plain sentence what is wrong with a limit", async () => {
    const env = { EVENTFLOW_DATA_DIR: tempDir("rate-input") }
    const cases: Array<[string[], number, string]> = [
      [
        ["keys", "create", "--source", "/a", "--rate-limit", "-1"],
        1,
        "eventflow: --rate-limit must be a number of events per second, 0 or more (0: no limit)\n"
      ],
      [
        ["keys", "create", "--source", "/a", "--rate-limit", "5", "--burst", "0"],
        1,
        "eventflow: --burst must be a whole number of events, 1 or more\n"
      ],
      [
        ["keys", "create", "--source", "/a", "--burst", "5"],
        1,
        "eventflow: --burst needs --rate-limit (the default rate's burst is EVENTFLOW_RATE_BURST)\n"
      ],
      [
        ["keys", "limit", "0123456789ab"],
        1,
        "eventflow: say the key's limit with --rate-limit <events per second> [--burst <events>], or --default\n"
      ],
      [
        ["keys", "limit", "0123456789ab", "--default", "--rate-limit", "3"],
        1,
        "eventflow: give either --default or --rate-limit (and --burst), not both\n"
      ]
    ]
    // None of these reaches the database; two at a time (the machines have two cores).
    const results: Array<{ code: number; stderr: string }> = []
    for (let i = 0; i < cases.length; i += 2) {
      results.push(...(await Promise.all(cases.slice(i, i + 2).map(([args]) => runEventflow(args, env)))))
    }
    cases.forEach(([args, code, stderr], i) => {
      expect([args.join(" "), results[i]!.code, results[i]!.stderr]).toEqual([args.join(" "), code, stderr])
    })
    const parse = await runEventflow(["keys", "create", "--source", "/a", "--rate-limit", "fast"], env)
    // A value that is not a number: the argument parser's own message, exit 2.
    expect(parse.code).toBe(2)
    expect(parse.stderr).toContain("fast")
    expect(parse.stderr).not.toContain("eventflow:")
  }, 240_000)
})

await describeWithServices(
  ["kafka", "redis", "postgres"],
  "rate limits in eventflow ingest (distributed)",
  () => {
    it("two instances share one key's limit through Redis", async () => {
      const prefix = uniquePrefix("rate")
      const env = {
        KAFKA_BROKERS: serviceUrls.kafka,
        REDIS_URL: serviceUrls.redis,
        DATABASE_URL: serviceUrls.postgres,
        EVENTFLOW_TOPIC_PREFIX: prefix,
        EVENTFLOW_DEDUP_PREFIX: `eventflow-test:${prefix}dedup:`,
        EVENTFLOW_RATE_LIMIT_PREFIX: `eventflow-test:${prefix}`,
        EVENTFLOW_HOST: "127.0.0.1"
      }
      const rate = 20
      const burst = 100
      const size = 10
      const limited = await runEventflow(
        [
          "keys",
          "create",
          "--source",
          "/fleet",
          "--rate-limit",
          String(rate),
          "--burst",
          String(burst),
          "--json"
        ],
        env
      )
      expect(limited.stderr).toBe("")
      const key = (JSON.parse(limited.stdout) as { key: string }).key
      const warm = await runEventflow(
        ["keys", "create", "--source", "/fleet", "--rate-limit", "0", "--json"],
        env
      )
      const warmKey = (JSON.parse(warm.stdout) as { key: string }).key

      const ports = [await freePort(), await freePort()] as const
      const instances = await Promise.all(ports.map((port) => startEventflow(["ingest"], env, port)))
      onTestFinished(() => {
        for (const instance of instances) instance.child.kill("SIGKILL")
      })
      // Each instance's producer is connected before the measured part (with a key without a limit).
      for (const port of ports) {
        expect((await send(port, warmKey, [event(`warm-${port}`, "/fleet")])).status).toBe(202)
      }

      // 20 rounds, each a batch of 10 to both instances at once: 400 events offered quickly.
      const accepted = [0, 0]
      const refusals = [0, 0]
      const started = performance.now()
      for (let round = 0; round < 20; round++) {
        const answers = await Promise.all(
          ports.map((port, i) => send(port, key, batch(`r${round}-${i}`, size, "/fleet")))
        )
        answers.forEach((answer, i) => {
          if (answer.status === 202) accepted[i]! += answer.body.accepted
          else {
            expect([answer.status, answer.body.type]).toEqual([429, "urn:eventflow:problem:rate-limited"])
            expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1)
            refusals[i]!++
          }
        })
      }
      const elapsed = (performance.now() - started) / 1000
      const total = accepted[0]! + accepted[1]!
      const bound = burst + rate * elapsed + size
      // Each instance accepted some and refused some; together they obey one bucket: the whole
      // burst at first, then the rate; two buckets would have let at least 2 × burst through.
      expect(accepted[0]).toBeGreaterThan(0)
      expect(accepted[1]).toBeGreaterThan(0)
      expect(refusals[0]! + refusals[1]!).toBeGreaterThan(0)
      expect(total).toBeGreaterThanOrEqual(burst)
      expect(total, `${total} accepted in ${elapsed.toFixed(2)} s`).toBeLessThanOrEqual(bound)
      expect(bound, "the test ran too slowly to tell one bucket from two").toBeLessThan(2 * burst)
      // Nothing of a refused request reached Kafka.
      expect(await topicEndOffsets(`${prefix}events.default`)).toBe(total + 2)
    }, 180_000)
  }
)
