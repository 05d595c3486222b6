/**
 * The query API of a real `eventflow dev` (embedded, read tokens on), fuzzed with fast-check over
 * raw sockets: random paths under /v1/, random query strings for results, top, series, alerts and
 * recent events, random methods and Authorization headers. Never a 5xx; every 4xx is a problem.
 * The live feed outlives the request timeout; the process stays alive with its memory bounded.
 * A failing run prints its seed; FUZZ_SEED=<seed> replays it, FUZZ_RUNS_SCALE=10 runs ten times as many cases.
 */
import { connect } from "node:net"
import { layerEmbeddedSql } from "@eventflow/backends"
import {
  exchange,
  freePort,
  fuzzParameters,
  problemViolations,
  type RawResult,
  serverRss,
  tempDir,
  waitFor
} from "@eventflow/testing"
import { Effect, Layer } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Running, repoRoot, startEventflow, stop } from "../../cli/test/support.ts"
import { layerSqlReadTokens, ReadTokens } from "../src/index.ts"

const KEY = "query-fuzz-dev-key-0123456789"
const REQUEST_TIMEOUT_MS = 2_000

const options = (numRuns: number): fc.Parameters<unknown> => fuzzParameters(numRuns)

let server: Running
let port: number
let token: string
let rssBefore = 0

const rss = () => serverRss(port)

type Header = readonly [string, string]

const get = (
  path: string,
  headers: ReadonlyArray<Header> = [["Authorization", `Bearer ${token}`]],
  method = "GET"
) => exchange(port, { method, path, headers, framing: method === "GET" ? "none" : "auto" })

/** Any answer but a 5xx, a hang or a dropped connection; a 4xx is a problem. Returns the status. */
const check = (result: RawResult, what: string): number => {
  const received = result.received.toString("latin1").slice(0, 300)
  expect(result.timedOut, `${what}: no answer in time; received: ${received}`).toBe(false)
  expect(
    result.response,
    `${what}: closed without an answer (${result.error ?? ""}): ${received}`
  ).toBeDefined()
  const response = result.response!
  const text = response.body.toString("utf8").slice(0, 500)
  expect(response.status, `${what}: ${text}`).toBeLessThan(500)
  if (response.status >= 400) expect(problemViolations(response), `${what}: ${text}`).toEqual([])
  return response.status
}

// --- arbitraries ---------------------------------------------------------------------------------

const PIPELINES = ["order-revenue", "events-per-type", "active-users", "user-sessions", "nope"]

const printable = (maxLength = 20) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength })
const nasty = (maxLength = 6) =>
  fc.string({
    unit: fc
      .oneof(fc.integer({ min: 0, max: 0x9f }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.constant(0xfffe))
      .map((c) => String.fromCharCode(c)),
    maxLength
  })

/** Percent-encodes what encodeURIComponent cannot (lone surrogates) as UTF-8 of U+FFFD. */
const encode = (s: string) => {
  try {
    return encodeURIComponent(s)
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "\ufffd"))
  }
}

/** A path or query component: sensible, random, percent-encoded junk, or raw bytes. */
const component = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...PIPELINES, "results", "top", "series", "pipelines", "events") },
  printable().map(encode),
  nasty().map(encode),
  fc.string({ maxLength: 12 }).map(encode),
  fc.constantFrom(
    "%",
    "%Z",
    "%ZZ",
    "%00",
    "%FF%FE",
    "%C0%80",
    "%ED%A0%80",
    "..",
    ".",
    "%2e%2e",
    "%2F",
    "",
    "~"
  ),
  fc.stringMatching(/^[!$&'()*+,;=:@-]{1,6}$/)
)

const value = fc.oneof(
  fc.constantFrom("", "0", "1", "-1", "10", "10000", "10001", "1.5", "1e3", "NaN", "Infinity", "asc", "desc"),
  fc.constantFrom("orders", "revenue", "events", "amount", "__proto__", "constructor"),
  fc.constantFrom(
    "2026-11-27T10:00:00Z",
    "2026-02-30T00:00:00Z",
    "yesterday",
    "99999999999999999999",
    "-99999999999999999999",
    "8640000000000001",
    "1e400",
    "0x10"
  ),
  fc.integer().map(String),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  component
)

const NAMES = ["key", "from", "to", "limit", "order", "field", "pipeline", "type"]
const query = fc
  .array(fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...NAMES) }, component), value), {
    maxLength: 6
  })
  .map((pairs) => (pairs.length === 0 ? "" : `?${pairs.map(([n, v]) => `${n}=${v}`).join("&")}`))

const isLive = (path: string) => path.split("?", 1)[0] === "/v1/live"

// --- the suite -----------------------------------------------------------------------------------

describe("fuzzing the query API (eventflow dev, embedded, read tokens on)", () => {
  beforeAll(async () => {
    port = await freePort()
    const env = {
      EVENTFLOW_DATA_DIR: tempDir("fuzz-query"),
      EVENTFLOW_DEV_WRITE_KEY: KEY,
      EVENTFLOW_ROUTES: `${repoRoot}/docs/routes.example.yaml`,
      EVENTFLOW_QUERY_AUTH: "on",
      EVENTFLOW_DASHBOARD_DIR: "off",
      EVENTFLOW_HEADERS_TIMEOUT: "1 second",
      EVENTFLOW_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS} millis`,
      EVENTFLOW_LOG_LEVEL: "warn"
    }
    server = await startEventflow(["dev"], env, port)
    // A read token, as `eventflow tokens create` makes one (in this process: no second start-up).
    token = await Effect.runPromise(
      Effect.flatMap(ReadTokens, (tokens) => tokens.create({ description: "fuzz" })).pipe(
        Effect.provide(
          layerSqlReadTokens().pipe(Layer.provide(layerEmbeddedSql(env.EVENTFLOW_DATA_DIR, "attach")))
        ),
        Effect.map((created) => created.token),
        Effect.scoped
      )
    )
    // Rows for the queries to find: orders in three regions, over two windows.
    const orders = Array.from({ length: 30 }, (_, i) => ({
      specversion: "1.0",
      id: `o${i}`,
      source: "/shop",
      type: "com.shop.order.created",
      subject: `u${i % 4}`,
      time: new Date(Date.UTC(2026, 10, 27, 10, i)).toISOString(),
      data: { region: ["eu", "us", "apac"][i % 3], amount: i, currency: "EUR" }
    }))
    const posted = await fetch(`http://127.0.0.1:${port}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
      body: JSON.stringify(orders)
    })
    expect(posted.status).toBe(202)
    await waitFor("the order-revenue pipeline to write rows", async () => {
      const r = await fetch(`http://127.0.0.1:${port}/v1/pipelines/order-revenue/results`, {
        headers: { authorization: `Bearer ${token}` }
      })
      return r.status === 200 && ((await r.json()) as { rows: unknown[] }).rows.length > 0
    })
    rssBefore = await rss()
  }, 150_000)

  afterAll(async () => {
    if (server) await stop(server)
  })

  it("random paths under /v1/ with random query strings and methods: never a 5xx, 4xx are problems", async () => {
    const path = fc
      .tuple(fc.array(component, { minLength: 1, maxLength: 4 }), query)
      .map(([segments, q]) => `/v1/${segments.join("/")}${q}`)
      .filter((p) => !isLive(p))
    const method = fc.oneof(
      { weight: 4, arbitrary: fc.constant("GET") },
      fc.constantFrom("POST", "PUT", "DELETE", "PATCH", "OPTIONS")
    )
    await fc.assert(
      fc.asyncProperty(path, method, async (p, m) => {
        check(await get(p, undefined, m), `${m} ${p}`)
      }),
      options(250)
    )
  })

  it("random query strings for results, top and series: 200, 400 or 404, never a 5xx", async () => {
    const endpoint = fc
      .tuple(fc.constantFrom(...PIPELINES), fc.constantFrom("results", "top", "series"), query)
      .map(([name, what, q]) => `/v1/pipelines/${name}/${what}${q}`)
    await fc.assert(
      fc.asyncProperty(endpoint, async (p) => {
        expect([200, 400, 404]).toContain(check(await get(p), p))
      }),
      options(250)
    )
  })

  it("random query strings for /v1/alerts and /v1/events/recent: 200 or 400", async () => {
    const endpoint = fc
      .tuple(fc.constantFrom("/v1/alerts", "/v1/events/recent", "/v1/pipelines", "/v1/topics"), query)
      .map(([base, q]) => `${base}${q}`)
    await fc.assert(
      fc.asyncProperty(endpoint, async (p) => {
        expect([200, 400]).toContain(check(await get(p), p))
      }),
      options(150)
    )
  })

  it("random read-token headers: 401 problems (200 only with the token), never a 5xx", async () => {
    const authorization = fc.oneof(
      printable(60),
      printable(50).map((s) => `Bearer ${s}`),
      fc.stringMatching(/^[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/).map((s) => `Bearer efr_${s}`),
      fc.uint8Array({ maxLength: 40 }).map((b) => `Basic ${Buffer.from(b).toString("base64")}`),
      fc.constantFrom("Bearer", "Bearer ", "bearer  x", "Basic Og==", `Bearer ${KEY}`, "", " "),
      fc.constant("valid")
    )
    const endpoint = fc.constantFrom(
      "/v1/pipelines",
      "/v1/pipelines/order-revenue/results",
      "/v1/alerts",
      "/v1/events/recent",
      "/v1/topics"
    )
    await fc.assert(
      fc.asyncProperty(fc.option(authorization, { nil: undefined }), endpoint, async (a, p) => {
        const value = a === "valid" ? `Bearer ${token}` : a
        const status = check(await get(p, value === undefined ? [] : [["Authorization", value]]), `${a} ${p}`)
        expect([status, a]).toEqual([a === "valid" ? 200 : 401, a])
      }),
      options(120)
    )
  })

  it("regression: a NUL in a text parameter or a time beyond a Date's range is a 400, not a 503", async () => {
    for (const p of [
      "/v1/pipelines/order-revenue/results?key=%00",
      "/v1/alerts?pipeline=a%00",
      "/v1/pipelines/order-revenue/series?field=orders&from=99999999999999999999",
      "/v1/pipelines/order-revenue/results?to=-8640000000000001",
      "/v1/pipelines/order-revenue/top",
      "/v1/pipelines/order-revenue/results?limit=1&limit=2"
    ]) {
      expect([p, check(await get(p), p)]).toEqual([p, 400])
    }
  })

  it("keeps the live feed (SSE) open past the request timeout: it only bounds receiving the request", async () => {
    const received = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1")
      let data = ""
      socket.on("data", (chunk) => {
        data += chunk.toString("utf8")
      })
      socket.on("error", reject)
      socket.on("close", () => reject(new Error(`the live feed closed: ${data.slice(0, 300)}`)))
      socket.write(`GET /v1/live HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`)
      setTimeout(
        () => {
          socket.removeAllListeners("close")
          socket.destroy()
          resolve(data)
        },
        REQUEST_TIMEOUT_MS * 2 + 500
      )
    })
    expect(received).toMatch(/^HTTP\/1\.1 200/)
    expect(received).toContain("event: hello")
    expect(received.split("event: tick").length - 1).toBeGreaterThanOrEqual(3)
  })

  it("is still alive and its resident memory grew by less than 256 MiB", async () => {
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const rssAfter = await rss()
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1)
    console.info(`query fuzz: RSS ${mib(rssBefore)} MiB before, ${mib(rssAfter)} MiB after`)
    expect(rssAfter - rssBefore).toBeLessThan(256 * 1024 * 1024)
    expect(server.child.exitCode).toBeNull()
  })
})
