/** The HTTP server: Node's, served by @effect/platform, with a bounded graceful shutdown. */
import { createServer, type Server } from "node:http"
import type { HttpApp, HttpRouter } from "@effect/platform"
import { HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { EventLog } from "@eventflow/core"
import { observeHttp } from "@eventflow/telemetry"
import { Config, Duration, Effect, Layer } from "effect"
import { toApp } from "./Http.ts"
import { IngestSettings } from "./IngestConfig.ts"
import { Routes, TopicSettings, topicSpecs } from "./Routes.ts"

export interface ListenOptions {
  readonly port: number
  readonly host: string
}

/** `PORT` (default `defaultPort`) and `EVENTFLOW_HOST`. */
export const ListenConfig = (defaultHost: string, defaultPort = 8080): Config.Config<ListenOptions> =>
  Config.all({
    port: Config.integer("PORT").pipe(
      Config.validate({
        message: "PORT must be a port number from 0 to 65535 (0: any free port)",
        validation: (port) => port >= 0 && port <= 65_535
      }),
      Config.withDefault(defaultPort)
    ),
    host: Config.string("EVENTFLOW_HOST").pipe(Config.withDefault(defaultHost))
  })

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
  const nodeServer = NodeHttpServer.layer(() => {
    server = createServer({ keepAliveTimeout: 65_000 })
    return server
  }, listen)
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
