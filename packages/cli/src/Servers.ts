/** `eventflow dev` and `eventflow ingest`: compose the layers of a server role and launch them. */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { HttpServer } from "@effect/platform"
import { type Backends, layerBackends, type Mode, readMode } from "@eventflow/backends"
import { WriteKeys } from "@eventflow/core"
import {
  IngestConfig,
  ingestRouter,
  ListenConfig,
  layerHttp,
  layerIngest,
  layerIngestSettings,
  layerReadiness,
  layerRoutesConfig,
  layerTopics
} from "@eventflow/ingest"
import { Config, Console, Effect, Layer, Option, Redacted } from "effect"
import { layerPipelines } from "./Stream.ts"

/** The dev key: EVENTFLOW_DEV_WRITE_KEY, else the one kept in the data directory, else a new one. */
const devKeyLayer = (dataDir: string) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const keys = yield* WriteKeys
      const fromEnv = yield* Config.option(Config.redacted("EVENTFLOW_DEV_WRITE_KEY"))
      const file = join(dataDir, "dev-write-key")
      let key: string | undefined = Option.isSome(fromEnv) ? Redacted.value(fromEnv.value) : undefined
      if (key === undefined && existsSync(file)) key = readFileSync(file, "utf8").trim()
      const created = yield* keys.create({
        source: "*",
        description: "embedded dev key",
        ...(key ? { key } : {})
      })
      if (key === undefined) writeFileSync(file, `${created.key}\n`, { mode: 0o600 })
      yield* Console.log(`Dev write key (any source): ${created.key}`)
      yield* Console.log(`  also in ${file}; set EVENTFLOW_DEV_WRITE_KEY to choose your own.`)
    })
  )

const describeMode = (mode: Mode) =>
  mode._tag === "embedded"
    ? `embedded mode, data in ${mode.dataDir}`
    : `distributed mode, Kafka ${mode.kafka.brokers.join(",")}`

export const runServer = (role: "dev" | "ingest") =>
  Effect.gen(function* () {
    const mode = yield* readMode
    const settings = yield* IngestConfig
    const listen = yield* ListenConfig(role === "dev" ? "127.0.0.1" : "0.0.0.0")
    const backends = layerBackends(mode, { dedup: settings.dedup, embedded: "own", eventLog: true })
    const services = Layer.mergeAll(layerIngest, layerReadiness, layerTopics).pipe(
      Layer.provideMerge(Layer.merge(layerRoutesConfig, layerIngestSettings(settings))),
      Layer.provideMerge(backends)
    )
    const devKey =
      role === "dev" && mode._tag === "embedded" && settings.auth ? devKeyLayer(mode.dataDir) : Layer.empty
    const banner = Layer.effectDiscard(
      HttpServer.addressFormattedWith((address) =>
        Console.log(
          `EventFlow ${role} listening on ${address.replace("127.0.0.1", "localhost")} (${describeMode(mode)})`
        )
      )
    )
    const app = layerHttp(ingestRouter, listen).pipe(Layer.provideMerge(services))
    // `eventflow dev` runs the pipelines too (the embedded log, or Kafka in distributed mode).
    const pipelines =
      role === "dev" ? (layerPipelines(mode) as Layer.Layer<never, unknown, Backends>) : Layer.empty
    const withBanner = Layer.mergeAll(banner, devKey, pipelines).pipe(Layer.provideMerge(app))
    // Spans stay in the code for an OTLP exporter; with none configured, tracing would only cost time.
    return yield* Layer.launch(withBanner).pipe(Effect.withTracerEnabled(false))
  })
