/** The HTTP servers' limits: read from the environment, checked, and applied to Node's server. */
import { ConfigProvider, Duration, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { defaultServerLimits, ListenConfig, makeNodeServer, ServerLimitsConfig } from "../src/index.ts"

const read = (env: Record<string, string>) =>
  Effect.runSync(
    Effect.either(ServerLimitsConfig).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  )

describe("server limits", () => {
  it("default to 10 s for the headers, 30 s for the request, 16 KiB, 100 headers, 10,000 connections", () => {
    expect(read({})).toEqual(Either.right(defaultServerLimits))
    expect(defaultServerLimits).toEqual({
      headersTimeout: Duration.seconds(10),
      requestTimeout: Duration.seconds(30),
      maxHeaderBytes: 16_384,
      maxHeadersCount: 100,
      maxConnections: 10_000
    })
  })

  it("are read from the environment, and come with the listen options", () => {
    const env = {
      EVENTFLOW_HEADERS_TIMEOUT: "2 seconds",
      EVENTFLOW_REQUEST_TIMEOUT: "5 seconds",
      EVENTFLOW_MAX_HEADER_BYTES: "8192",
      EVENTFLOW_MAX_HEADERS_COUNT: "50",
      EVENTFLOW_MAX_CONNECTIONS: "500"
    }
    const limits = {
      headersTimeout: Duration.seconds(2),
      requestTimeout: Duration.seconds(5),
      maxHeaderBytes: 8192,
      maxHeadersCount: 50,
      maxConnections: 500
    }
    expect(read(env)).toEqual(Either.right(limits))
    const listen = Effect.runSync(
      ListenConfig("127.0.0.1").pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
      )
    )
    expect(listen).toEqual({ port: 8080, host: "127.0.0.1", limits })
  })

  it("refuse a headers timeout longer than the request timeout, and counts below 1, with a sentence", () => {
    const slow = read({ EVENTFLOW_HEADERS_TIMEOUT: "40 seconds" })
    expect(String(Either.isLeft(slow) ? slow.left : "")).toContain("no longer than the request timeout")
    const none = read({ EVENTFLOW_MAX_CONNECTIONS: "0" })
    expect(String(Either.isLeft(none) ? none.left : "")).toContain(
      "EVENTFLOW_MAX_CONNECTIONS must be a whole number above 0"
    )
  })

  it("are applied to the Node server", () => {
    const server = makeNodeServer({
      headersTimeout: Duration.seconds(2),
      requestTimeout: Duration.seconds(5),
      maxHeaderBytes: 8192,
      maxHeadersCount: 50,
      maxConnections: 500
    })
    expect({
      headersTimeout: server.headersTimeout,
      requestTimeout: server.requestTimeout,
      maxHeadersCount: server.maxHeadersCount,
      maxConnections: server.maxConnections,
      maxHeaderSize: (server as unknown as { maxHeaderSize: number }).maxHeaderSize
    }).toEqual({
      headersTimeout: 2000,
      requestTimeout: 5000,
      maxHeadersCount: 50,
      maxConnections: 500,
      maxHeaderSize: 8192
    })
    expect(server.listenerCount("clientError")).toBe(1)
    expect(server.listenerCount("upgrade")).toBe(1)
  })
})
