/** The query service: the read model, the log's view and tail, the live ticker, the cache, the probes. */
import { Context, Duration, Effect } from "effect"
import type { HotCache } from "./Cache.ts"
import type { Live } from "./Live.ts"
import type { EventTail, LogView, TopicInfo } from "./LogView.ts"
import type { QueryOptions } from "./QueryConfig.ts"
import type { PipelineSummary, ReadModel } from "./ReadModel.ts"

export interface ProbeResult {
  readonly ok: boolean
  readonly detail?: string
  readonly error?: string
}

export interface Probe {
  readonly name: string
  readonly kind: "backend" | "service"
  readonly check: Effect.Effect<ProbeResult>
}

export interface QueryContext {
  readonly options: QueryOptions
  readonly readModel: ReadModel
  readonly log: LogView
  readonly tail: EventTail
  readonly live: Live
  /** For the aggregate queries every dashboard asks (pipelines, topics, top, series): Redis when there is one. */
  readonly cache: HotCache
  /** For window rows: in process only. An index lookup costs about what a Redis round trip does. */
  readonly localCache: HotCache
  readonly probes: ReadonlyArray<Probe>
  /** The consumer group of a pipeline, as Kafka (or `eventflow pipelines`) names it. */
  readonly groupOf: (pipeline: string) => string
}

export class QueryService extends Context.Tag("query/QueryService")<QueryService, QueryContext>() {}

/** A backend's ping as a probe. */
export const pingProbe = (name: string, ping: Effect.Effect<void, { readonly message: string }>): Probe => ({
  name,
  kind: "backend",
  check: ping.pipe(
    Effect.as({ ok: true } as ProbeResult),
    Effect.catchAll((e) => Effect.succeed({ ok: false, error: e.message } as ProbeResult))
  )
})

/** Math.max for bigints. */
const maxOffset = (a: bigint, b: bigint): bigint => (a >= b ? a : b)

export interface PartitionLag {
  readonly topic: string
  readonly partition: number
  readonly offset: bigint
  readonly lag: number
}

/** Each pipeline's position on each partition of its sources, and how far behind the log end it is. */
export const lagOf = (
  pipelines: ReadonlyArray<Pick<PipelineSummary, "name" | "sources" | "positions">>,
  topics: ReadonlyArray<TopicInfo>
) =>
  pipelines.map((pipeline) => {
    const partitions: PartitionLag[] = []
    for (const source of pipeline.sources) {
      const topic = topics.find((t) => t.name === source)
      for (const p of topic?.partitions ?? []) {
        const position = pipeline.positions.find((x) => x.topic === source && x.partition === p.partition)
        const offset = position?.nextOffset ?? p.startOffset
        const behind = p.endOffset - maxOffset(offset, p.startOffset)
        partitions.push({
          topic: source,
          partition: p.partition,
          offset,
          lag: behind > 0n ? Number(behind) : 0
        })
      }
    }
    return { pipeline: pipeline.name, partitions, lag: partitions.reduce((s, p) => s + p.lag, 0) }
  })

/** Runs every probe at once, each within 2 s, with its latency. */
export const checkAll = (probes: ReadonlyArray<Probe>) =>
  Effect.forEach(
    probes,
    (probe) =>
      Effect.gen(function* () {
        const started = performance.now()
        const result = yield* probe.check.pipe(
          Effect.timeoutTo({
            duration: Duration.seconds(2),
            onTimeout: (): ProbeResult => ({ ok: false, error: "no answer within 2 s" }),
            onSuccess: (r) => r
          })
        )
        return {
          name: probe.name,
          kind: probe.kind,
          ok: result.ok,
          latencyMs: Math.round((performance.now() - started) * 10) / 10,
          ...(result.error !== undefined ? { error: result.error } : {}),
          ...(result.detail !== undefined ? { detail: result.detail } : {})
        }
      }),
    { concurrency: "unbounded" }
  )
