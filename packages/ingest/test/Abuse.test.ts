/**
 * A real `eventflow dev` against clients that break HTTP/1.1 on purpose, over raw sockets: headers
 * past the limit, header floods, duplicate and conflicting Content-Length, broken chunks, garbage
 * request lines, bodies that stop short; slow clients (slowloris) that trickle headers or a body;
 * more connections than allowed. Each answer is a 4xx problem or a closed connection, never a crash:
 * /healthz answers after each, normal requests are served while slow clients hang on, and those
 * are cut off after the headers or request timeout.
 * A failing run prints its seed; FUZZ_SEED=<seed> replays it, FUZZ_RUNS_SCALE=10 runs ten times as many cases.
 */
import { connect, type Socket } from "node:net"
import {
  encodeRequest,
  exchange,
  freePort,
  fuzzParameters,
  parseResponse,
  problemViolations,
  type RawResult,
  serverRss,
  tempDir
} from "@eventflow/testing"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Running, startEventflow, stop } from "../../cli/test/support.ts"

const KEY = "abuse-dev-key-0123456789"
const HEADERS_TIMEOUT_MS = 2_000
const REQUEST_TIMEOUT_MS = 4_000
const MAX_HEADER_BYTES = 16 * 1024
const MAX_CONNECTIONS = 300

const options = (numRuns: number): fc.Parameters<unknown> => fuzzParameters(numRuns)

let server: Running
let port: number
let rssBefore = 0

const rss = () => serverRss(port)

const healthy = async () => {
  const started = performance.now()
  const answer = await exchange(
    port,
    { method: "GET", path: "/healthz", framing: "none" },
    { timeoutMs: 5_000 }
  )
  expect(answer.response?.status, `healthz: ${answer.received.toString("latin1").slice(0, 200)}`).toBe(200)
  return performance.now() - started
}

const event = (id: string) => JSON.stringify({ specversion: "1.0", id, source: "/abuse", type: "abuse.test" })
const auth = ["Authorization", `Bearer ${KEY}`] as const
const json = ["Content-Type", "application/json"] as const

/** A 4xx problem among `statuses`, or a connection the server closed; never a hang. */
const refusedOrClosed = (result: RawResult, statuses: ReadonlyArray<number>) => {
  const received = result.received.toString("latin1").slice(0, 300)
  expect(result.timedOut, `no answer and no close; received: ${received}`).toBe(false)
  if (result.response === undefined) {
    expect(result.closed, received).toBe(true)
    return undefined
  }
  expect(statuses, received).toContain(result.response.status)
  if (result.response.status >= 400) expect(problemViolations(result.response), received).toEqual([])
  return result.response.status
}

const printableToken = fc.stringMatching(/^[A-Za-z0-9!#$&'*+.^_`|~/-]{1,16}$/)

interface Slow {
  readonly socket: Socket
  received: string
  closedAt?: number
}

/** Opens a socket that sends `first` at once, then `rest` one byte every `everyMs`. */
const slowClient = (first: Buffer, rest: Buffer, everyMs: number): Slow => {
  const socket = connect(port, "127.0.0.1")
  const slow: Slow = { socket, received: "" }
  let at = 0
  const timer = setInterval(() => {
    if (socket.destroyed || at >= rest.length) return clearInterval(timer)
    socket.write(rest.subarray(at, at + 1))
    at++
  }, everyMs)
  socket.on("connect", () => socket.write(first))
  socket.on("data", (chunk) => {
    slow.received += chunk.toString("latin1")
  })
  socket.on("error", () => {})
  socket.on("close", () => {
    slow.closedAt = performance.now()
    clearInterval(timer)
  })
  return slow
}

/** Waits until every client is closed, or the deadline; destroys and counts those still open. */
const closedBy = async (clients: ReadonlyArray<Slow>, deadline: number) => {
  while (clients.some((c) => c.closedAt === undefined) && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100))
  }
  const open = clients.filter((c) => c.closedAt === undefined)
  for (const c of open) c.socket.destroy()
  return open.length
}

/** What a cut-off client received: nothing, or a problem with one of `statuses`. */
const cutOff = (client: Slow, statuses: ReadonlyArray<number>) => {
  if (client.received === "") return
  const response = parseResponse(Buffer.from(client.received, "latin1"), true)
  expect(statuses, client.received.slice(0, 300)).toContain(response?.status)
  expect(problemViolations(response!)).toEqual([])
}

describe("abusive and slow HTTP clients (eventflow dev, embedded)", () => {
  beforeAll(async () => {
    port = await freePort()
    server = await startEventflow(
      ["dev"],
      {
        EVENTFLOW_DATA_DIR: tempDir("abuse"),
        EVENTFLOW_DEV_WRITE_KEY: KEY,
        EVENTFLOW_MAX_BODY_BYTES: String(64 * 1024),
        EVENTFLOW_HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS} millis`,
        EVENTFLOW_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_MS} millis`,
        EVENTFLOW_MAX_HEADER_BYTES: String(MAX_HEADER_BYTES),
        EVENTFLOW_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        // No pipelines: this suite is about the HTTP server.
        EVENTFLOW_PIPELINES: tempDir("abuse-no-pipelines"),
        EVENTFLOW_DASHBOARD_DIR: "off",
        EVENTFLOW_LOG_LEVEL: "warn"
      },
      port
    )
    rssBefore = await rss()
  }, 120_000)

  afterAll(async () => {
    if (server) await stop(server)
  })

  it("headers larger than EVENTFLOW_MAX_HEADER_BYTES: a 431 problem or a close, then /healthz answers", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MAX_HEADER_BYTES + 1, max: 4 * MAX_HEADER_BYTES }),
        fc.integer({ min: 1, max: 20 }),
        async (size, count) => {
          const each = Math.ceil(size / count)
          const headers = Array.from({ length: count }, (_, i) => [`X-Big-${i}`, "a".repeat(each)] as const)
          const status = refusedOrClosed(
            await exchange(port, { headers: [auth, json, ...headers], body: event("big") }),
            [431]
          )
          expect([undefined, 431]).toContain(status)
          await healthy()
        }
      ),
      options(20)
    )
  })

  it("thousands of headers: refused with a 431 when they pass the byte limit, else answered (beyond 100 they are ignored)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 101, max: 8_000 }), fc.boolean(), async (count, authFirst) => {
        const flood = Array.from({ length: count }, (_, i) => [`x${i % 10}`, "v"] as const)
        const headers = authFirst ? [auth, json, ...flood] : [...flood, auth, json]
        const result = await exchange(port, { headers, body: event(`flood-${count}-${Math.random()}`) })
        const status = refusedOrClosed(result, [202, 401, 415, 431])
        // Node counts the target and the names and values of the headers, not the separators.
        const counted = encodeRequest({ headers, body: "" })
          .toString("latin1")
          .split("\r\n")
          .slice(1)
          .reduce((n, line) => n + Math.max(0, line.length - 2), "/v1/events".length)
        if (Math.abs(counted - MAX_HEADER_BYTES) < 64) return
        if (counted > MAX_HEADER_BYTES) expect([undefined, 431]).toContain(status)
        else expect(status).toBe(authFirst ? 202 : 401)
      }),
      options(25)
    )
    await healthy()
  })

  it("duplicate or conflicting Content-Length, and Content-Length with chunked: 400 or a close", async () => {
    const body = event("dup")
    const cases: Array<ReadonlyArray<readonly [string, string]>> = [
      [
        ["Content-Length", String(body.length)],
        ["Content-Length", String(body.length + 1)]
      ],
      [["Content-Length", `${body.length}, ${body.length + 5}`]],
      [["Content-Length", "-1"]],
      [["Content-Length", "1e3"]],
      [["Content-Length", " 12abc"]],
      [["Content-Length", "99999999999999999999999"]],
      [
        ["Content-Length", String(body.length)],
        ["Transfer-Encoding", "chunked"]
      ],
      [["Transfer-Encoding", "gzip, chunked, identity"]],
      [["Transfer-Encoding", "chunked, chunked"]]
    ]
    for (const framing of cases) {
      const result = await exchange(port, { headers: [auth, json, ...framing], body, framing: "none" })
      const status = refusedOrClosed(result, [400, 413, 501])
      expect([JSON.stringify(framing), status]).not.toEqual([JSON.stringify(framing), 202])
      await healthy()
    }
    // The same Content-Length twice is tolerated or refused, never more.
    const twice = await exchange(port, {
      headers: [auth, json, ["Content-Length", String(body.length)], ["Content-Length", String(body.length)]],
      body,
      framing: "none"
    })
    refusedOrClosed(twice, [202, 400])
  })

  it("chunked bodies with broken chunks: a 4xx problem or a close, then /healthz answers", async () => {
    const head = encodeRequest({ headers: [auth, json], framing: "chunked" })
    const prefix = head.subarray(0, head.length - 5) // without the last chunk "0\r\n\r\n"
    const broken = fc.oneof(
      fc.constantFrom(
        "zz\r\n{}\r\n0\r\n\r\n",
        "5\r\n{}\r\n0\r\n\r\n",
        "2\r\n{}XX0\r\n\r\n",
        "-2\r\n{}\r\n0\r\n\r\n",
        `2;${"e".repeat(20_000)}\r\n{}\r\n0\r\n\r\n`,
        "ffffffffffffffffff\r\n{}\r\n",
        "2\r\n{}\r\n0\r\nX-Trailer: x\r\n\r\n",
        "2\n{}\n0\n\n"
      ),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString("latin1"))
    )
    await fc.assert(
      fc.asyncProperty(broken, async (chunks) => {
        const bytes = Buffer.concat([prefix, Buffer.from(chunks, "latin1")])
        // Truncated chunk streams wait for more: the request timeout ends them.
        const result = await exchange(port, bytes, { timeoutMs: REQUEST_TIMEOUT_MS + 4_000 })
        refusedOrClosed(result, [202, 400, 408, 413, 415])
      }),
      options(25)
    )
    await healthy()
  }, 120_000)

  it("a request line of garbage: a 400 problem or a close, never a crash", async () => {
    const garbage = fc.oneof(
      fc
        .uint8Array({ minLength: 1, maxLength: 200 })
        .map((b) => Buffer.concat([Buffer.from(b), Buffer.from("\r\n\r\n")])),
      fc
        .string({ maxLength: 100 })
        .map((s) => Buffer.from(`${s} /v1/events HTTP/1.1\r\nHost: x\r\n\r\n`, "utf8")),
      fc
        .constantFrom(
          "GET\r\n\r\n",
          "GET / HTTP/9.9\r\n\r\n",
          "GET / HTTP/1.1\r\nHost x\r\n\r\n",
          "GET / HTTP/1.1\r\n : empty name\r\n\r\n",
          "POST /v1/events HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n",
          "\r\n\r\n\r\n",
          "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        )
        .map((s) => Buffer.from(s, "latin1"))
    )
    await fc.assert(
      fc.asyncProperty(garbage, async (bytes) => {
        const result = await exchange(port, bytes, { timeoutMs: HEADERS_TIMEOUT_MS + 4_000 })
        refusedOrClosed(result, [200, 400, 404, 405, 408, 505])
      }),
      options(40)
    )
    await healthy()
  }, 120_000)

  it("Upgrade requests (websocket, h2c, junk) to any path, then a hang-up: the process lives on", async () => {
    const upgrade = fc.oneof(fc.constantFrom("websocket", "h2c", "HTTP/2.0", "TLS/1.2"), printableToken)
    const target = fc.constantFrom(
      ["GET", "/v1/live"],
      ["POST", "/v1/events"],
      ["GET", "/healthz"],
      ["GET", "/metrics"],
      ["GET", "/v1/pipelines"],
      ["GET", "/nope"]
    )
    await fc.assert(
      fc.asyncProperty(
        upgrade,
        target,
        fc.integer({ min: 0, max: 300 }),
        async (protocol, [method, path], waitMs) => {
          const socket = connect(port, "127.0.0.1")
          socket.on("error", () => {})
          await new Promise<void>((resolve) => socket.on("connect", () => resolve()))
          const got = new Promise<void>((resolve) => socket.once("data", () => resolve()))
          socket.write(
            encodeRequest({
              method,
              path,
              headers: [
                auth,
                json,
                ["Connection", "Upgrade"],
                ["Upgrade", protocol],
                ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
                ["Sec-WebSocket-Version", "13"]
              ],
              body: method === "POST" ? event(`upgrade-${Math.random()}`) : "",
              close: false
            })
          )
          await Promise.race([got, new Promise((r) => setTimeout(r, waitMs))])
          socket.destroy()
        }
      ),
      options(30)
    )
    // The live feed writes a tick a second: long enough for a write to a closed socket to fail.
    await new Promise((r) => setTimeout(r, 2_500))
    await healthy()
    expect(server.child.exitCode).toBeNull()
  }, 60_000)

  it("an Expect other than 100-continue: a 417 problem", async () => {
    const result = await exchange(port, {
      headers: [auth, json, ["Expect", "teapot"]],
      body: event("expect")
    })
    expect(refusedOrClosed(result, [417])).toBe(417)
  })

  it("a body shorter than its Content-Length, then a hang-up: nothing breaks", async () => {
    for (let i = 0; i < 20; i++) {
      const socket = connect(port, "127.0.0.1")
      await new Promise<void>((resolve) => socket.on("connect", () => resolve()))
      socket.on("error", () => {})
      socket.write(
        encodeRequest({
          headers: [auth, json, ["Content-Length", "1000"]],
          body: event(`short-${i}`).slice(0, 20),
          framing: "none",
          close: false
        })
      )
      await new Promise((r) => setTimeout(r, 20))
      socket.destroy()
    }
    await healthy()
  })

  it("slowloris: 200 clients trickling headers are cut off after the headers timeout; others are served meanwhile", async () => {
    const request = encodeRequest({ headers: [auth, json], body: event("slow") })
    const opened = performance.now()
    const slow = Array.from({ length: 200 }, (_, i) =>
      // Some send nothing at all after connecting.
      i % 20 === 0
        ? slowClient(Buffer.alloc(0), Buffer.alloc(0), 1_000)
        : slowClient(request.subarray(0, 1), request.subarray(1), 1_000)
    )
    // While they hang on, normal requests are answered promptly.
    await new Promise((r) => setTimeout(r, 500))
    for (let i = 0; i < 5; i++) {
      expect(await healthy()).toBeLessThan(5_000)
      const started = performance.now()
      const posted = await exchange(port, {
        headers: [auth, json],
        body: event(`meanwhile-${i}-${Math.random()}`)
      })
      expect(posted.response?.status).toBe(202)
      expect(performance.now() - started).toBeLessThan(5_000)
    }
    expect(await closedBy(slow, opened + HEADERS_TIMEOUT_MS + 5_000), "slow clients left open").toBe(0)
    for (const s of slow) {
      expect(s.closedAt! - opened).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100)
      cutOff(s, [408])
    }
    expect(slow.filter((s) => s.received.startsWith("HTTP/1.1 408")).length).toBeGreaterThan(0)
    await healthy()
  }, 30_000)

  it("a slow body: cut off after the request timeout with a 408 problem or a close", async () => {
    const body = Buffer.from(event("slow-body").padEnd(200, " "))
    const head = encodeRequest({
      headers: [auth, json, ["Content-Length", String(body.length)]],
      framing: "none"
    })
    const started = performance.now()
    // The headers at once, then the body one byte a second.
    const slow = Array.from({ length: 20 }, () => slowClient(head, body, 1_000))
    expect(await closedBy(slow, started + REQUEST_TIMEOUT_MS + 5_000), "slow bodies left open").toBe(0)
    for (const s of slow) {
      expect(s.closedAt! - started).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100)
      cutOff(s, [408])
    }
    await healthy()
  }, 30_000)

  it("connections beyond EVENTFLOW_MAX_CONNECTIONS are closed at once; the server serves again when they go", async () => {
    const sockets: Slow[] = Array.from({ length: MAX_CONNECTIONS + 30 }, () => {
      const socket = connect(port, "127.0.0.1")
      const s: Slow = { socket, received: "" }
      socket.on("error", () => {})
      socket.on("close", () => {
        s.closedAt = performance.now()
      })
      return s
    })
    await new Promise((r) => setTimeout(r, 1_000))
    const closed = sockets.filter((s) => s.closedAt !== undefined).length
    for (const s of sockets) s.socket.destroy()
    expect(closed).toBeGreaterThanOrEqual(30)
    await new Promise((r) => setTimeout(r, 200))
    await healthy()
  })

  it("is still alive and its resident memory grew by less than 256 MiB", async () => {
    await healthy()
    const rssAfter = await rss()
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1)
    console.info(`abuse: RSS ${mib(rssBefore)} MiB before, ${mib(rssAfter)} MiB after`)
    expect(rssAfter - rssBefore).toBeLessThan(256 * 1024 * 1024)
    expect(server.child.exitCode).toBeNull()
  })
})
