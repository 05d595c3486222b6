/** The HTTP server: Node's, served by @effect/platform, with a bounded graceful shutdown. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import type { HttpApp, HttpRouter } from "@effect/platform"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { EventLog, Problems, problem } from "@eventflow/core"
import { observeHttp } from "@eventflow/telemetry"
import { Config, Duration, Effect, Layer } from "effect"
import { toApp } from "./Http.ts"
import { IngestSettings } from "./IngestConfig.ts"
import { Routes, TopicSettings, topicSpecs } from "./Routes.ts"

/** What one client may hold of a server: time to send its request, header bytes, connections. */
export interface ServerLimits {
  /** Time to receive a request's headers; a slower client gets a 408 and is disconnected. */
  readonly headersTimeout: Duration.Duration
  /** Time to receive a whole request, body included (not the response: an SSE stream lives on). */
  readonly requestTimeout: Duration.Duration
  /** The most bytes of a request line and headers; more answers 431. */
  readonly maxHeaderBytes: number
  /** Headers beyond this many are ignored. */
  readonly maxHeadersCount: number
  /** Connections beyond this many are closed as they arrive. */
  readonly maxConnections: number
}

export const defaultServerLimits: ServerLimits = {
  headersTimeout: Duration.seconds(10),
  requestTimeout: Duration.seconds(30),
  maxHeaderBytes: 16 * 1024,
  maxHeadersCount: 100,
  maxConnections: 10_000
}

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a whole number above 0`, validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

/**
 * `EVENTFLOW_HEADERS_TIMEOUT`, `EVENTFLOW_REQUEST_TIMEOUT`, `EVENTFLOW_MAX_HEADER_BYTES`,
 * `EVENTFLOW_MAX_HEADERS_COUNT` and `EVENTFLOW_MAX_CONNECTIONS`.
 */
export const ServerLimitsConfig: Config.Config<ServerLimits> = Config.all({
  headersTimeout: Config.duration("EVENTFLOW_HEADERS_TIMEOUT").pipe(
    Config.withDefault(defaultServerLimits.headersTimeout)
  ),
  requestTimeout: Config.duration("EVENTFLOW_REQUEST_TIMEOUT").pipe(
    Config.withDefault(defaultServerLimits.requestTimeout)
  ),
  maxHeaderBytes: positive("EVENTFLOW_MAX_HEADER_BYTES", defaultServerLimits.maxHeaderBytes),
  maxHeadersCount: positive("EVENTFLOW_MAX_HEADERS_COUNT", defaultServerLimits.maxHeadersCount),
  maxConnections: positive("EVENTFLOW_MAX_CONNECTIONS", defaultServerLimits.maxConnections)
}).pipe(
  Config.validate({
    message:
      "EVENTFLOW_HEADERS_TIMEOUT and EVENTFLOW_REQUEST_TIMEOUT must be at least 1 millisecond, and the headers timeout no longer than the request timeout (the headers are part of the request)",
    validation: (l) =>
      Duration.toMillis(l.headersTimeout) >= 1 &&
      Duration.toMillis(l.requestTimeout) >= 1 &&
      Duration.lessThanOrEqualTo(l.headersTimeout, l.requestTimeout)
  })
)

export interface ListenOptions {
  readonly port: number
  readonly host: string
  /** Unset: `defaultServerLimits`. */
  readonly limits?: ServerLimits
}

/** `PORT` (default `defaultPort`), `EVENTFLOW_HOST`, and the server's limits (`ServerLimitsConfig`). */
export const ListenConfig = (defaultHost: string, defaultPort = 8080): Config.Config<ListenOptions> =>
  Config.all({
    port: Config.integer("PORT").pipe(
      Config.validate({
        message: "PORT must be a port number from 0 to 65535 (0: any free port)",
        validation: (port) => port >= 0 && port <= 65_535
      }),
      Config.withDefault(defaultPort)
    ),
    host: Config.string("EVENTFLOW_HOST").pipe(Config.withDefault(defaultHost)),
    limits: ServerLimitsConfig
  })

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large"
}

/** The problem Node's parser or timers found in a request, before the app saw it. */
const clientProblem = (code: string | undefined, limits: ServerLimits) => {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return Problems.headersTooLarge(
        `the request line and headers are larger than the limit of ${limits.maxHeaderBytes} bytes`
      )
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return Problems.requestTimeout(
        `the request was not received in time (headers within ${Duration.format(limits.headersTimeout)}, the whole request within ${Duration.format(limits.requestTimeout)})`
      )
    default:
      return Problems.badRequest(`the request is not valid HTTP/1.1 (${code ?? "unknown error"})`)
  }
}

/**
 * A malformed, too large or too slow request: answered with a problem (when nothing was sent on
 * the connection yet), then the connection is closed. This replaces Node's bare status line.
 */
const onClientError = (limits: ServerLimits) => (error: NodeJS.ErrnoException, socket: Duplex) => {
  // As Node does: no answer once a response in flight has begun (it would corrupt it).
  const inFlight = (socket as Duplex & { readonly _httpMessage?: { readonly headersSent?: boolean } })
    ._httpMessage
  if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy()
    return
  }
  const answer = clientProblem(error.code, limits)
  const body = JSON.stringify(answer)
  socket.end(
    `HTTP/1.1 ${answer.status} ${REASONS[answer.status]}\r\n` +
      "content-type: application/problem+json\r\n" +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      "connection: close\r\n\r\n" +
      body,
    () => socket.destroy()
  )
  // A client that never reads must not keep the socket open.
  setTimeout(() => socket.destroy(), 1000).unref()
}

/** `Expect:` other than `100-continue`: a 417 problem (Node's own answer has no body). */
const onCheckExpectation = (request: IncomingMessage, response: ServerResponse) => {
  const body = JSON.stringify(
    problem(
      417,
      "expectation-failed",
      "The expectation cannot be met",
      `Expect: ${String(request.headers.expect)} is not supported; only 100-continue is`
    )
  )
  response.writeHead(417, { "content-type": "application/problem+json", connection: "close" })
  response.end(body)
}

/** A Node HTTP server with `limits` applied. */
export const makeNodeServer = (limits: ServerLimits = defaultServerLimits): Server => {
  const headersTimeout = Duration.toMillis(limits.headersTimeout)
  const requestTimeout = Duration.toMillis(limits.requestTimeout)
  const server = createServer({
    keepAliveTimeout: 65_000,
    headersTimeout,
    // Node's requestTimeout counts until the request is fully received: a long response (the
    // query API's SSE feed) is not cut by it.
    requestTimeout,
    maxHeaderSize: limits.maxHeaderBytes,
    // Expired requests are looked for this often (Node's default, 30 s, would let a slow client
    // stay far past its timeout).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4)))
  })
  server.maxHeadersCount = limits.maxHeadersCount
  server.maxConnections = limits.maxConnections
  server.on("clientError", onClientError(limits))
  server.on("checkExpectation", onCheckExpectation)
  // A request with `Upgrade:` leaves Node's HTTP handling, and its socket the error listener Node
  // keeps on the others: a client that hung up while an answer streamed (the live feed, say) made
  // the write fail with EPIPE, unhandled, and the process exit. Found by the abuse suite.
  server.prependListener("upgrade", (_request: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => socket.destroy())
  })
  return server
}

/**
 * Serves `app`, with `GET /metrics` and request metrics. On shutdown the server stops accepting, answers the requests in flight (their
 * batches are flushed before the log closes), closes idle keep-alive connections at once and any
 * other connection (an SSE client, say) after `shutdownTimeout`.
 */
export const layerHttpApp = <E, R, AE, AR>(
  app: Effect.Effect<HttpApp.Default<E, R>, AE, AR>,
  listen: ListenOptions,
  shutdownTimeout: Duration.Duration
) => {
  let server: Server | undefined
  const nodeServer = NodeHttpServer.layer(
    () => {
      server = makeNodeServer(listen.limits)
      return server
    },
    { port: listen.port, host: listen.host }
  )
  const drain = Layer.scopedDiscard(
    Effect.addFinalizer(() =>
      Effect.sync(() => {
        const s = server
        if (s === undefined) return
        const idle = setInterval(() => s.closeIdleConnections(), 50)
        const force = setTimeout(() => s.closeAllConnections(), Duration.toMillis(shutdownTimeout))
        idle.unref()
        force.unref()
        s.once("close", () => {
          clearInterval(idle)
          clearTimeout(force)
        })
      })
    )
  )
  // Every service answers GET /metrics and counts its requests by route.
  const serve = Layer.unwrapScoped(Effect.map(app, (a) => HttpServer.serve(observeHttp(a))))
  return Layer.mergeAll(serve, drain).pipe(Layer.provideMerge(nodeServer))
}

/** Serves `router` (unknown paths answer a 404 problem), with the ingest settings' shutdown timeout. */
export const layerHttp = <E, R>(router: HttpRouter.HttpRouter<E, R>, listen: ListenOptions) =>
  Layer.unwrapEffect(
    Effect.map(IngestSettings, (settings) => layerHttpApp(toApp(router), listen, settings.shutdownTimeout))
  )

/** Creates the topics ingestion writes to when they are missing. */
export const layerTopics = Layer.effectDiscard(
  Effect.gen(function* () {
    const routing = yield* Routes
    const topics = yield* TopicSettings
    const log = yield* EventLog
    const specs = topicSpecs(routing, topics)
    yield* log.ensureTopics(specs)
    yield* Effect.logInfo(`topics ready: ${specs.map((s) => s.name).join(", ")}`)
  })
)
