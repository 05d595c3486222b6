/**
 * Rate limits per write key through the HTTP API, in process, over small fakes of the ports:
 * the 429 answer and its headers, that nothing of a refused request is kept, the defaults, and
 * what a failing limiter does (503 for limited keys only).
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { layer as withLayer } from "@effect/vitest"
import type { Backends } from "@eventflow/backends"
import { layerMemoryRateLimiter } from "@eventflow/backends"
import {
  BackendUnavailable,
  EventLog,
  type LogRecord,
  RateLimiter,
  type WriteKeyInfo,
  WriteKeys
} from "@eventflow/core"
import { Metrics as M } from "@eventflow/telemetry"
import { tempDir } from "@eventflow/testing"
import { ConfigProvider, Effect, Either, Layer, Metric, Option } from "effect"
import { describe, expect, it } from "vitest"
import { IngestConfig, type IngestOptions } from "../src/index.ts"
import { baseUrl, cloudEvent, layerTestIngest, post } from "./support.ts"

const routesFile = join(tempDir("routes"), "routes.json")
writeFileSync(routesFile, JSON.stringify({ routes: [] }))

const info = (id: string, rateLimit: number | null, rateBurst: number | null): WriteKeyInfo => ({
  id,
  source: "*",
  createdAt: new Date(0),
  revokedAt: null,
  description: null,
  rateLimit,
  rateBurst
})

// The presented key is the id: `slow` has its own limit, `open` none (rate 0), `plain` the default's.
const KEYS: Record<string, WriteKeyInfo> = {
  slow: info("slow", 0.5, 3),
  open: info("open", 0, null),
  plain: info("plain", null, null)
}

const fakeKeys = Layer.succeed(
  WriteKeys,
  WriteKeys.of({
    create: () => Effect.dieMessage("not used"),
    list: Effect.succeed(Object.values(KEYS)),
    revoke: () => Effect.succeed(false),
    setLimit: () => Effect.succeed(false),
    verify: (presented) => Effect.succeed(Option.fromNullable(KEYS[presented])),
    ping: Effect.void
  })
)

const makeBackends = (limiter: Layer.Layer<RateLimiter> | undefined) => {
  const appended: LogRecord[] = []
  const log = Layer.succeed(
    EventLog,
    EventLog.of({
      ensureTopics: () => Effect.void,
      append: (records) => Effect.sync(() => void appended.push(...records)),
      ping: Effect.void
    })
  )
  const layer = Layer.mergeAll(log, fakeKeys, limiter ?? Layer.empty) as Layer.Layer<Backends, unknown>
  return { appended, layer }
}

const server = (backends: Layer.Layer<Backends, unknown>, settings: Partial<IngestOptions> = {}) =>
  layerTestIngest(backends, {
    topicPrefix: "",
    routesFile,
    settings: { dedup: false, ...settings }
  })

const events = (prefix: string, n: number) =>
  JSON.stringify(Array.from({ length: n }, (_, i) => cloudEvent(`${prefix}-${i}`)))

const send = (key: string, body: string) =>
  Effect.flatMap(baseUrl, (url) =>
    post(url, body, { "content-type": "application/json", authorization: `Bearer ${key}` })
  )

const limitHeaders = (headers: Headers) => [
  headers.get("ratelimit-limit"),
  headers.get("ratelimit-remaining"),
  headers.get("ratelimit-reset"),
  headers.get("retry-after")
]

const memory = makeBackends(layerMemoryRateLimiter())

withLayer(server(memory.layer), { timeout: 60_000, excludeTestServices: true })((it) => {
  it.effect("answers 429 with Retry-After, RateLimit headers and a problem, and keeps nothing of it", () =>
    Effect.gen(function* () {
      const refusedBefore = yield* Metric.value(M.ingestRateLimited)
      // 0.5 per second, 3 at once: 2 events leave 1, and the bucket is full again in 4 s.
      const first = yield* send("slow", events("a", 2))
      expect([first.status, first.body.accepted]).toEqual([202, 2])
      expect(limitHeaders(first.headers)).toEqual(["3", "1", "4", null])

      const stored = memory.appended.length
      const refused = yield* send("slow", events("b", 2))
      expect(refused.status).toBe(429)
      expect(refused.contentType).toBe("application/problem+json")
      // One event over: one interval (2 s) to wait.
      expect(limitHeaders(refused.headers)).toEqual(["3", "1", "4", "2"])
      expect(refused.body).toEqual({
        type: "urn:eventflow:problem:rate-limited",
        title: "Too many requests",
        status: 429,
        detail:
          "this write key may send 0.5 events per second, 3 at once; nothing of this request was accepted: send it again in 2 s",
        retryAfter: 2,
        rate: 0.5,
        burst: 3
      })
      expect(memory.appended.length).toBe(stored)

      // More events than the burst: never; split it (no Retry-After), and it takes nothing.
      const tooMany = yield* send("slow", events("c", 4))
      expect(tooMany.status).toBe(429)
      expect(limitHeaders(tooMany.headers)).toEqual(["3", null, null, null])
      expect(tooMany.body.detail).toBe(
        "this request has 4 events and this write key may send at most 3 at once (0.5 per second): split the batch into requests of at most 3 events"
      )
      expect(tooMany.body.retryAfter).toBeUndefined()
      expect(memory.appended.length).toBe(stored)

      // What is left still passes.
      const last = yield* send("slow", events("d", 1))
      expect([last.status, last.headers.get("ratelimit-remaining")]).toEqual([202, "0"])
      expect(memory.appended.map((r) => JSON.parse(r.value.toString()).id)).toEqual(["a-0", "a-1", "d-0"])
      const refusedAfter = yield* Metric.value(M.ingestRateLimited)
      expect(refusedAfter.count - refusedBefore.count).toBe(2)
    })
  )

  it.effect(
    "keys without a limit (rate 0, or no default) send no RateLimit headers and are not limited",
    () =>
      Effect.gen(function* () {
        for (const key of ["open", "plain"]) {
          for (let i = 0; i < 3; i++) {
            const response = yield* send(key, events(`${key}${i}`, 10))
            expect(response.status).toBe(202)
            expect(limitHeaders(response.headers)).toEqual([null, null, null, null])
          }
        }
      })
  )
})

// A default of 1 event per second, bursts of 5: `plain` follows it, `open` (rate 0) does not.
const withDefault = makeBackends(layerMemoryRateLimiter())
withLayer(server(withDefault.layer, { rateLimit: { rate: 1, burst: 5, minBurst: 50 } }), {
  timeout: 60_000,
  excludeTestServices: true
})((it) => {
  it.effect("applies the default to keys without their own limit; a key's rate of 0 is no limit", () =>
    Effect.gen(function* () {
      expect((yield* send("plain", events("p", 5))).status).toBe(202)
      const refused = yield* send("plain", events("q", 1))
      expect([refused.status, refused.headers.get("ratelimit-limit")]).toEqual([429, "5"])
      for (let i = 0; i < 3; i++) expect((yield* send("open", events(`o${i}`, 10))).status).toBe(202)
      // Its own limit wins over the default.
      expect((yield* send("slow", events("s", 4))).status).toBe(429)
    })
  )
})

withLayer(
  server(makeBackends(layerMemoryRateLimiter()).layer, {
    auth: false,
    rateLimit: { rate: 1, burst: 1, minBurst: 50 }
  }),
  { timeout: 60_000, excludeTestServices: true }
)((it) => {
  it.effect("with authentication off there is no key, so no limit", () =>
    Effect.gen(function* () {
      const url = yield* baseUrl
      for (let i = 0; i < 3; i++) {
        const response = yield* post(url, events(`n${i}`, 5), { "content-type": "application/json" })
        expect(response.status).toBe(202)
      }
    })
  )
})

// A limiter that fails (Redis down), counting its calls.
const takes: string[] = []
const failing = Layer.succeed(
  RateLimiter,
  RateLimiter.of({
    take: (keyId) =>
      Effect.suspend(() => {
        takes.push(keyId)
        return Effect.fail(
          new BackendUnavailable({
            backend: "ratelimit",
            message: "Redis is unavailable: connection refused"
          })
        )
      }),
    ping: Effect.void
  })
)
const down = makeBackends(failing)
withLayer(server(down.layer), { timeout: 60_000, excludeTestServices: true })((it) => {
  it.effect("when the limiter fails: 503 with Retry-After for a limited key; others never touch it", () =>
    Effect.gen(function* () {
      const refused = yield* send("slow", events("x", 1))
      expect([refused.status, refused.headers.get("retry-after"), refused.body.type]).toEqual([
        503,
        "3",
        "urn:eventflow:problem:unavailable"
      ])
      expect(down.appended).toEqual([])
      expect((yield* send("open", events("y", 1))).status).toBe(202)
      expect((yield* send("plain", events("z", 1))).status).toBe(202)
      expect(takes).toEqual(["slow"])
    })
  )
})

// No limiter at all (distributed mode without REDIS_URL): a limited key fails closed.
withLayer(server(makeBackends(undefined).layer), { timeout: 60_000, excludeTestServices: true })((it) => {
  it.effect("without a limiter a limited key is answered 503, and the others pass", () =>
    Effect.gen(function* () {
      const refused = yield* send("slow", events("x", 1))
      expect(refused.status).toBe(503)
      expect(refused.body.detail).toContain("set REDIS_URL")
      expect((yield* send("open", events("y", 1))).status).toBe(202)
    })
  )
})

describe("the rate limit settings", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSync(
      Effect.either(
        Effect.withConfigProvider(IngestConfig, ConfigProvider.fromMap(new Map(Object.entries(env))))
      )
    )

  it("default to no limit, and the burst to the larger of the rate and the largest batch", () => {
    const none = read({})
    expect(Either.map(none, (o) => o.rateLimit)).toEqual(
      Either.right({ rate: 0, burst: undefined, minBurst: 1000 })
    )
    const set = read({
      EVENTFLOW_RATE_LIMIT: "2.5",
      EVENTFLOW_RATE_BURST: "40",
      EVENTFLOW_MAX_BATCH_EVENTS: "500"
    })
    expect(Either.map(set, (o) => o.rateLimit)).toEqual(Either.right({ rate: 2.5, burst: 40, minBurst: 500 }))
  })

  it("refuse a bad value with a sentence that names the variable", () => {
    for (const [env, sentence] of [
      [{ EVENTFLOW_RATE_LIMIT: "-1" }, "EVENTFLOW_RATE_LIMIT must be a number of events per second"],
      [{ EVENTFLOW_RATE_LIMIT: "fast" }, "EVENTFLOW_RATE_LIMIT must be a number of events per second"],
      [{ EVENTFLOW_RATE_BURST: "0" }, "EVENTFLOW_RATE_BURST must be a whole number of events, 1 or more"],
      [{ EVENTFLOW_RATE_BURST: "2.5" }, "EVENTFLOW_RATE_BURST must be a whole number of events, 1 or more"]
    ] as const) {
      const result = read(env)
      expect(Either.isLeft(result) && String(result.left)).toContain(sentence)
    }
  })
})
