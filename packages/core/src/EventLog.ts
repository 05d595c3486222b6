import { Context, type Effect } from "effect"
import type { BackendUnavailable } from "./Errors.ts"

/** One record as the log stores it (the CloudEvents Kafka binding, structured mode, for events). */
export interface LogRecord {
  readonly topic: string
  readonly key: string | null
  readonly value: Buffer
  readonly headers: Readonly<Record<string, string>>
}

export interface TopicSpec {
  readonly name: string
  readonly partitions: number
  readonly replicationFactor: number
}

/**
 * The event log: Kafka in distributed mode, PGlite tables in embedded mode.
 * `append` resolves once every record is durably stored (acks=all on Kafka, committed on PGlite);
 * concurrent appends are batched together by the layer.
 */
export class EventLog extends Context.Tag("core/EventLog")<
  EventLog,
  {
    readonly ensureTopics: (topics: ReadonlyArray<TopicSpec>) => Effect.Effect<void, BackendUnavailable>
    readonly append: (records: ReadonlyArray<LogRecord>) => Effect.Effect<void, BackendUnavailable>
    readonly ping: Effect.Effect<void, BackendUnavailable>
  }
>() {}
