/**
 * CORS of `POST /v1/events` (EVENTFLOW_INGEST_CORS_ORIGINS): only listed origins get a preflight's
 * 204 and an `Access-Control-Allow-Origin`; `*` is a configuration error. The closed default is
 * checked against a real server in Fuzz.test.ts; here a real `eventflow dev` with a list.
 */
import { exchange, freePort, problemViolations, type RawResult, tempDir } from "@eventflow/testing"
import { ConfigProvider, Effect, Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Running, runEventflow, startEventflow, stop } from "../../cli/test/support.ts"
import { IngestCorsConfig } from "../src/index.ts"

const KEY = "cors-dev-key-0123456789"
const ALLOWED = "https://app.example.com"
const OTHER = "http://localhost:5173"

const read = (value: string | undefined) =>
  Effect.runSync(
    Effect.either(IngestCorsConfig).pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(new Map(value === undefined ? [] : [["EVENTFLOW_INGEST_CORS_ORIGINS", value]]))
      )
    )
  )

describe("EVENTFLOW_INGEST_CORS_ORIGINS", () => {
  it("is closed by default and lists exact origins", () => {
    expect(read(undefined)).toEqual(Either.right({ origins: [] }))
    expect(read(` ${ALLOWED} , ${OTHER},`)).toEqual(Either.right({ origins: [ALLOWED, OTHER] }))
  })

  it("refuses '*' and what is not an origin, with a sentence that says why", () => {
    for (const value of ["*", `${ALLOWED},*`]) {
      const result = read(value)
      expect(Either.isLeft(result)).toBe(true)
      expect(String(Either.isLeft(result) ? result.left : "")).toContain("may not be '*'")
    }
    for (const value of [`${ALLOWED}/`, "app.example.com", `${ALLOWED}/path`]) {
      expect(String(Either.getLeft(read(value)).pipe((o) => (o._tag === "Some" ? o.value : "")))).toContain(
        "scheme://host[:port]"
      )
    }
  })

  it("stops eventflow dev at start when set to '*'", async () => {
    const result = await runEventflow(["dev"], {
      EVENTFLOW_DATA_DIR: tempDir("cors-star"),
      EVENTFLOW_INGEST_CORS_ORIGINS: "*",
      PORT: "0"
    })
    expect(result.code).not.toBe(0)
    expect(result.stderr + result.stdout).toContain("EVENTFLOW_INGEST_CORS_ORIGINS may not be '*'")
  })
})

describe("CORS of POST /v1/events with a list of origins (eventflow dev)", () => {
  let server: Running
  let port: number

  beforeAll(async () => {
    port = await freePort()
    server = await startEventflow(
      ["dev"],
      {
        EVENTFLOW_DATA_DIR: tempDir("cors"),
        EVENTFLOW_DEV_WRITE_KEY: KEY,
        EVENTFLOW_INGEST_CORS_ORIGINS: `${ALLOWED}, ${OTHER}`,
        EVENTFLOW_PIPELINES: tempDir("cors-no-pipelines"),
        EVENTFLOW_DASHBOARD_DIR: "off",
        EVENTFLOW_LOG_LEVEL: "warn"
      },
      port
    )
  }, 120_000)

  afterAll(async () => {
    if (server) await stop(server)
  })

  const preflight = (origin: string | undefined, method = "POST", headers = "authorization, content-type") =>
    exchange(port, {
      method: "OPTIONS",
      headers: [
        ...(origin === undefined ? [] : [["Origin", origin] as const]),
        ["Access-Control-Request-Method", method],
        ["Access-Control-Request-Headers", headers]
      ]
    })

  const allowHeaders = (result: RawResult) =>
    Object.keys(result.response!.headers).filter((h) => h.startsWith("access-control-"))

  it("answers a preflight from a listed origin with 204 and what the binary mode needs", async () => {
    const result = await preflight(
      ALLOWED,
      "POST",
      "Authorization, Content-Type, ce-specversion, ce-id, ce-myext"
    )
    expect(result.response?.status).toBe(204)
    const headers = result.response!.headers
    expect(headers["access-control-allow-origin"]).toBe(ALLOWED)
    expect(headers.vary).toBe("Origin")
    expect(headers["access-control-allow-methods"]).toBe("POST")
    expect(headers["access-control-max-age"]).toBe("600")
    const allowed = headers["access-control-allow-headers"]!.split(", ")
    for (const name of [
      "authorization",
      "content-type",
      "ce-specversion",
      "ce-id",
      "ce-source",
      "ce-type",
      "ce-myext"
    ]) {
      expect(allowed).toContain(name)
    }
    expect(headers["access-control-allow-origin"]).not.toBe("*")
    expect((await preflight(OTHER)).response?.headers["access-control-allow-origin"]).toBe(OTHER)
  })

  it("refuses a preflight from another origin, or for another method, with a 403 problem and no Access-Control-Allow-*", async () => {
    for (const result of [
      await preflight("https://evil.example"),
      await preflight(`${ALLOWED}.evil.example`),
      await preflight("null"),
      await preflight(ALLOWED, "DELETE")
    ]) {
      expect(result.response?.status).toBe(403)
      expect(problemViolations(result.response!)).toEqual([])
      expect(allowHeaders(result)).toEqual([])
    }
    // Not a CORS request: what the path takes.
    const plain = await preflight(undefined)
    expect(plain.response?.status).toBe(204)
    expect(plain.response?.headers.allow).toBe("POST, OPTIONS")
  })

  const post = (origin: string | undefined, key = KEY) =>
    exchange(port, {
      headers: [
        ["Authorization", `Bearer ${key}`],
        ["Content-Type", "application/json"],
        ...(origin === undefined ? [] : [["Origin", origin] as const])
      ],
      body: JSON.stringify({
        specversion: "1.0",
        id: `cors-${Math.random()}`,
        source: "/web",
        type: "web.click"
      })
    })

  it("gives a listed origin's POST its Access-Control-Allow-Origin, errors included", async () => {
    const accepted = await post(ALLOWED)
    expect(accepted.response?.status).toBe(202)
    expect(accepted.response?.headers["access-control-allow-origin"]).toBe(ALLOWED)
    expect(accepted.response?.headers["access-control-expose-headers"]).toContain("retry-after")
    expect(accepted.response?.headers["access-control-expose-headers"]).toContain("ratelimit-remaining")
    expect(accepted.response?.headers.vary).toBe("Origin")
    const refused = await post(ALLOWED, "wrong-key")
    expect(refused.response?.status).toBe(401)
    expect(refused.response?.headers["access-control-allow-origin"]).toBe(ALLOWED)
  })

  it("processes a foreign origin's POST as any request, but without CORS headers (a browser refuses it)", async () => {
    const foreign = await post("https://evil.example")
    expect(foreign.response?.status).toBe(202)
    expect(allowHeaders(foreign)).toEqual([])
    expect(foreign.response?.headers.vary).toBe("Origin")
    const none = await post(undefined)
    expect(none.response?.status).toBe(202)
    expect(allowHeaders(none)).toEqual([])
  })

  it("leaves the query API's CORS as it is (EVENTFLOW_CORS_ORIGINS, unset here)", async () => {
    const result = await exchange(port, {
      method: "OPTIONS",
      path: "/v1/pipelines",
      headers: [
        ["Origin", ALLOWED],
        ["Access-Control-Request-Method", "GET"]
      ]
    })
    expect(result.response?.headers["access-control-allow-origin"]).toBeUndefined()
  })
})
