/** An in-process ingest server on a free port, over whatever backends a suite provides. */
import { HttpServer } from "@effect/platform"
import type { Backends } from "@eventflow/backends"
import { Duration, Effect, Layer } from "effect"
import {
  type IngestOptions,
  ingestRouter,
  layerHttp,
  layerIngest,
  layerIngestSettings,
  layerReadiness,
  layerRoutes,
  layerTopics
} from "../src/index.ts"

export const testSettings = (overrides: Partial<IngestOptions> = {}): IngestOptions => ({
  limits: { maxBodyBytes: 64 * 1024, maxBatchEvents: 50, maxEventBytes: 4096, maxJsonDepth: 8 },
  dedup: true,
  auth: true,
  rateLimit: { rate: 0, burst: undefined, minBurst: 50 },
  retryAfter: Duration.seconds(3),
  shutdownTimeout: Duration.seconds(5),
  ...overrides
})

export const routesDocument = {
  routes: [
    {
      name: "orders",
      types: ["com.shop.order.*"],
      schema: { type: "object", required: ["amount"], properties: { amount: { type: "number", minimum: 0 } } }
    },
    { name: "clicks", types: ["web.click"], partitionKey: "source" }
  ]
}

export const layerTestIngest = (
  backends: Layer.Layer<Backends, unknown>,
  options: {
    readonly topicPrefix: string
    readonly settings?: Partial<IngestOptions>
    readonly routesFile: string
  }
) => {
  const services = Layer.mergeAll(layerIngest, layerReadiness, layerTopics).pipe(
    Layer.provideMerge(
      Layer.merge(
        layerRoutes(options.routesFile, {
          topicPrefix: options.topicPrefix,
          partitions: 3,
          replicationFactor: 1
        }),
        layerIngestSettings(testSettings(options.settings))
      )
    ),
    Layer.provideMerge(backends)
  )
  return layerHttp(ingestRouter, { port: 0, host: "127.0.0.1" }).pipe(Layer.provideMerge(services))
}

export const baseUrl = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address
  return address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
})

export const post = (url: string, body: string | Uint8Array, headers: Record<string, string>) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/v1/events`, { method: "POST", body, headers })
    const text = await response.text()
    return {
      status: response.status,
      headers: response.headers,
      contentType: response.headers.get("content-type"),
      body: text === "" ? undefined : (JSON.parse(text) as any)
    }
  })

export const cloudEvent = (id: string, extra: Record<string, unknown> = {}): Record<string, any> => ({
  specversion: "1.0",
  id,
  source: "/shop",
  type: "com.shop.order.created",
  subject: "customer-7",
  data: { amount: 12.5 },
  ...extra
})
