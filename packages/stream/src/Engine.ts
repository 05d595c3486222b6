/**
 * Runs one pipeline over the partitions assigned to this instance, whatever the log: the sources
 * (Kafka, the embedded log) hand it batches of records; it decodes them, feeds each partition's
 * WindowProcessor, and checkpoints: the changed windows, the read-model rows and the next offsets
 * in one Postgres transaction (Store.checkpoint). Records set aside (late, poison), final rows and
 * alerts are published inside that transaction, before it commits.
 */
import type { SqlClient } from "@effect/sql"
import {
  type BackendUnavailable,
  type CloudEvent,
  dlqRecord,
  eventRecord,
  Headers,
  type LogRecord
} from "@eventflow/core"
import { currentTraceparent, Metrics as M } from "@eventflow/telemetry"
import { Effect, type Tracer } from "effect"
import type { AlertRule } from "./Alerts.ts"
import type { Pipeline, TableSource } from "./Dsl.ts"
import { RecentIds } from "./RecentIds.ts"
import {
  type CheckpointResult,
  checkpoint,
  claimPartitions,
  type Fenced,
  lostPartitions,
  type PartitionCheckpoint,
  partitionId,
  type TopicPartition
} from "./Store.ts"
import { applyTableRecords, type InputRecord, type TableStates, WindowProcessor } from "./WindowProcessor.ts"

export interface SourceRecord {
  /**
   * The record's offset (a safe integer: 2^53 records are far beyond any partition), as a number
   * or as the decimal string kafkajs gives (its messages are passed as they are, no copy).
   */
  readonly offset: number | string
  /** The log's timestamp of the record, epoch ms (the event time of an event without `time`). */
  readonly timestamp: number | string
  /** The record's key, as the log gives it (decoded only when the record is set aside). */
  readonly key: string | Uint8Array | null
  readonly value: Uint8Array | null
}

export interface EngineOptions {
  /** This instance, as positions record it (host and pid, say). */
  readonly owner: string
  /** Checkpoint at least this often while records arrive (ms). */
  readonly checkpointIntervalMs: number
  /** …and after this many records, whichever comes first. */
  readonly checkpointRecords: number
  /**
   * How long (in log time) a partition remembers the ids of its events, so that a second copy of
   * an event in the log is dropped instead of counted (RecentIds). 0 or absent: no such check.
   */
  readonly dedupHorizonMs?: number
  readonly dlqTopic: string
  readonly alertsTopic: string
  /** Where final rows go as CloudEvents, when the pipeline publishes them (`analytics.aggregated`). */
  readonly sinkTopic: string | undefined
  readonly rules: ReadonlyArray<AlertRule>
  /**
   * Appends records to the log from inside the checkpoint transaction. On the embedded log this
   * must run in the caller's fiber (same connection); on Kafka it waits for the acknowledgement.
   */
  readonly publish: (records: ReadonlyArray<LogRecord>) => Effect.Effect<void, BackendUnavailable>
}

export interface EngineCounters {
  processed: number
  late: number
  poison: number
  duplicates: number
  checkpoints: number
  rowsWritten: number
  finalized: number
  alerts: number
  fenced: number
  lastCheckpointMs: number
}

interface Task {
  readonly tp: TopicPartition
  readonly epoch: number
  readonly processor: WindowProcessor<any, any>
  nextOffset: number
  /** The ids of recent events; before `nextOffset`, records from `warmAt` are read for their ids only. */
  readonly recent: RecentIds
  warmAt: number
  /** Since the last checkpoint. */
  processed: number
  late: number
  poison: number
  duplicates: number
  setAside: LogRecord[]
  changed: boolean
}

const decoder = new TextDecoder()

const text = (bytes: Uint8Array): string =>
  Buffer.isBuffer(bytes) ? bytes.toString("utf8") : decoder.decode(bytes)

const decode = (value: Uint8Array | null): CloudEvent => {
  if (value === null) throw new TypeError("the record has no value (a tombstone)")
  let event: unknown
  try {
    event = JSON.parse(text(value))
  } catch (error) {
    throw new TypeError(`the record is not JSON: ${(error as Error).message}`)
  }
  if (
    event === null ||
    typeof event !== "object" ||
    typeof (event as CloudEvent).id !== "string" ||
    typeof (event as CloudEvent).type !== "string"
  ) {
    throw new TypeError("the record is not a CloudEvent in structured mode (no string id and type)")
  }
  return event as CloudEvent
}

export class PipelineEngine {
  private readonly tasks = new Map<string, Task>()
  /** The joined tables, shared by every partition's processor. */
  private readonly tables: TableStates = new Map()
  private pendingRecords = 0
  private lastCheckpointAt = Date.now()
  readonly counters: EngineCounters = {
    processed: 0,
    late: 0,
    poison: 0,
    duplicates: 0,
    checkpoints: 0,
    rowsWritten: 0,
    finalized: 0,
    alerts: 0,
    fenced: 0,
    lastCheckpointMs: 0
  }

  constructor(
    readonly pipeline: Pipeline,
    readonly options: EngineOptions
  ) {
    M.registerPipelineMetrics(pipeline.name)
  }

  /** The partitions this instance has loaded. */
  get assigned(): ReadonlyArray<TopicPartition> {
    return [...this.tasks.values()].map((t) => t.tp)
  }

  has(tp: TopicPartition): boolean {
    return this.tasks.has(partitionId(tp))
  }

  /** The offset the next record of a loaded partition must have. */
  nextOffset(tp: TopicPartition): bigint | undefined {
    const task = this.tasks.get(partitionId(tp))
    return task === undefined ? undefined : BigInt(task.nextOffset)
  }

  /**
   * Where to read a loaded partition from: its next offset, or, while it rebuilds the ids of its
   * recent events after a claim, the next record of that rebuild.
   */
  readOffset(tp: TopicPartition): bigint | undefined {
    const task = this.tasks.get(partitionId(tp))
    if (task === undefined) return undefined
    return BigInt(Math.min(task.warmAt, task.nextOffset))
  }

  /** Loads partitions (fencing their previous owner); returns where each must be read from. */
  claim(partitions: ReadonlyArray<TopicPartition>) {
    return Effect.gen(this, function* () {
      const fresh = partitions.filter((tp) => !this.has(tp))
      if (fresh.length === 0) return
      const claimed = yield* claimPartitions(this.pipeline, fresh, this.options.owner)
      for (const c of claimed) {
        const processor = new WindowProcessor(this.pipeline)
        processor.useTables(this.tables)
        processor.restore(c.watermark, c.windows)
        const tp = { topic: c.topic, partition: c.partition }
        this.tasks.set(partitionId(tp), {
          tp,
          epoch: c.epoch,
          processor,
          nextOffset: Number(c.nextOffset),
          recent: new RecentIds(this.options.dedupHorizonMs ?? 0),
          warmAt: (this.options.dedupHorizonMs ?? 0) > 0 ? Number(c.dedupFrom) : Number(c.nextOffset),
          processed: 0,
          late: 0,
          poison: 0,
          duplicates: 0,
          setAside: [],
          changed: false
        })
      }
    })
  }

  /**
   * Applies records of a joined table's topic, in order: a CloudEvent sets its entity's state (by
   * default its `subject` → its `data`), a tombstone (null value) deletes the record key's entity,
   * and anything else is skipped.
   */
  updateTable(source: TableSource<unknown>, records: ReadonlyArray<SourceRecord>): void {
    let inputs: InputRecord[] = []
    for (const record of records) {
      if (record.value === null) {
        // A tombstone (compaction's delete marker): the entity of the record's key is gone.
        applyTableRecords(this.tables, source, inputs)
        inputs = []
        if (record.key !== null) {
          this.tables.get(source)?.delete(typeof record.key === "string" ? record.key : text(record.key))
        }
        continue
      }
      try {
        inputs.push({ event: decode(record.value), timestamp: Number(record.timestamp) })
      } catch {
        // Not a CloudEvent: a table holds entity state, not a stream; it is skipped.
      }
    }
    applyTableRecords(this.tables, source, inputs)
  }

  /** Forgets partitions (revoked, or fenced): whatever they did since their checkpoint is redone by the next owner. */
  drop(partitions: ReadonlyArray<TopicPartition> | "all"): void {
    if (partitions === "all") this.tasks.clear()
    else for (const tp of partitions) this.tasks.delete(partitionId(tp))
  }

  /**
   * After a checkpoint that did not commit: drops the partitions it carried (their changes since
   * the previous checkpoint are no longer tracked), unless they were claimed again meanwhile.
   */
  private dropCheckpointed(parts: ReadonlyArray<PartitionCheckpoint>): void {
    for (const part of parts) {
      const id = partitionId(part)
      if (this.tasks.get(id)?.epoch === part.epoch) this.tasks.delete(id)
    }
  }

  /** Spans of the batches handled since the last checkpoint, for the checkpoint's links. */
  private traced: Tracer.SpanLink[] = []

  /** Notes a batch's span: the next checkpoint links to it (at most 32 per checkpoint). */
  noteSpan(span: Tracer.AnySpan): void {
    if (this.traced.length < 32) this.traced.push({ _tag: "SpanLink", span, attributes: {} })
  }

  private takeTraceLinks(): Tracer.SpanLink[] {
    const links = this.traced
    this.traced = []
    return links
  }

  /**
   * Processes records of a loaded partition, in offset order. Records before its next offset
   * (delivered again) are skipped, but for those after a claim whose ids rebuild the partition's
   * recent ids; a record whose event (source and id) was seen within the horizon is dropped as a
   * second copy. The caller makes sure no record is missing before the first.
   */
  handle(tp: TopicPartition, records: ReadonlyArray<SourceRecord>): void {
    const task = this.tasks.get(partitionId(tp))
    if (task === undefined) throw new Error(`partition ${partitionId(tp)} is not loaded`)
    const inputs: InputRecord[] = []
    const origins: SourceRecord[] = []
    const recent = task.recent
    let last = -1
    for (const record of records) {
      const offset = Number(record.offset)
      if (offset < task.nextOffset) {
        if (offset >= task.warmAt) {
          task.warmAt = offset + 1
          try {
            const event = decode(record.value)
            recent.remember(RecentIds.identity(event.source, event.id), offset, Number(record.timestamp))
          } catch {
            // Poison was set aside when it was processed; it has no id to remember.
          }
        }
        continue
      }
      last = offset
      let event: CloudEvent
      try {
        event = decode(record.value)
      } catch (error) {
        task.poison++
        task.setAside.push(this.setAside(tp, record, "poison", (error as Error).message))
        continue
      }
      const timestamp = Number(record.timestamp)
      if (
        recent.horizonMs > 0 &&
        !recent.remember(RecentIds.identity(event.source, event.id), offset, timestamp)
      ) {
        task.duplicates++
        continue
      }
      inputs.push({ event, timestamp })
      origins.push(record)
    }
    recent.evict()
    if (last < 0) return
    const output = task.processor.process(inputs, { rows: false })
    if (output.rejected.length > 0) {
      const byEvent = new Map<CloudEvent, SourceRecord>()
      for (let i = 0; i < inputs.length; i++) byEvent.set(inputs[i]!.event, origins[i]!)
      for (const rejected of output.rejected) {
        if (rejected.reason === "late") task.late++
        else task.poison++
        const origin = byEvent.get(rejected.event)!
        task.setAside.push(this.setAside(tp, origin, rejected.reason, rejected.detail))
      }
    }
    const count = last - task.nextOffset + 1
    task.processed += count
    task.nextOffset = last + 1
    // Past the rebuild of the recent ids: read on from the next offset.
    task.warmAt = task.nextOffset
    task.changed = true
    this.pendingRecords += count
  }

  private setAside(
    tp: TopicPartition,
    record: SourceRecord,
    reason: "late" | "poison",
    detail: string
  ): LogRecord {
    const base = dlqRecord(
      this.options.dlqTopic,
      record.key === null || typeof record.key === "string" ? record.key : text(record.key),
      Buffer.from(record.value ?? new Uint8Array()),
      reason,
      `pipeline '${this.pipeline.name}': ${detail}`,
      new Date().toISOString()
    )
    return {
      ...base,
      headers: {
        ...base.headers,
        [Headers.pipeline]: this.pipeline.name,
        [Headers.origin]: `${tp.topic}/${tp.partition}/${record.offset}`
      }
    }
  }

  /**
   * Drops the partitions this instance no longer owns in Postgres (another instance claimed them,
   * or a replay reset the pipeline), so that they are claimed again and read from their stored
   * offsets. Checkpoints find out too, but an idle partition has none; call this now and then.
   */
  verifyOwnership() {
    return Effect.gen(this, function* () {
      const held = [...this.tasks.values()].map((t) => ({ ...t.tp, epoch: t.epoch }))
      const lost = yield* lostPartitions(this.pipeline, held)
      if (lost.length > 0) {
        this.drop(lost)
        yield* Effect.logInfo(
          `pipeline '${this.pipeline.name}': ${lost.map(partitionId).join(", ")} no longer ours; reloading`
        )
      }
      return lost
    })
  }

  /** True when records wait and the interval or the record count says it is time. */
  checkpointDue(now = Date.now()): boolean {
    if (this.pendingRecords === 0) return false
    return (
      this.pendingRecords >= this.options.checkpointRecords ||
      now - this.lastCheckpointAt >= this.options.checkpointIntervalMs
    )
  }

  /** Records processed since the last checkpoint started. */
  get pendingCount(): number {
    return this.pendingRecords
  }

  /**
   * Writes one checkpoint for every loaded partition that changed. When it does not commit
   * (fenced: another owner took a partition over; or a failure), the partitions it carried are
   * dropped, since their changes are no longer tracked: they are claimed again and their records
   * read again from the stored offsets. One checkpoint at a time; records may be handled meanwhile.
   */
  checkpoint(): Effect.Effect<CheckpointResult | undefined, BackendUnavailable, SqlClient.SqlClient> {
    return Effect.gen(this, function* () {
      const name = this.pipeline.name
      const tasks = [...this.tasks.values()].filter((t) => t.changed)
      this.pendingRecords = 0
      this.lastCheckpointAt = Date.now()
      if (tasks.length === 0) return undefined
      const started = performance.now()
      const parts: PartitionCheckpoint[] = tasks.map((task) => {
        const taken = task.processor.takeCheckpoint()
        const part = {
          topic: task.tp.topic,
          partition: task.tp.partition,
          epoch: task.epoch,
          nextOffset: BigInt(task.nextOffset),
          dedupFrom: BigInt(task.recent.oldestOffset(task.nextOffset)),
          watermark: taken.watermark,
          processed: task.processed,
          late: task.late,
          poison: task.poison,
          duplicates: task.duplicates,
          upserts: taken.upserts,
          deletes: taken.deletes
        }
        return part
      })
      const setAside = tasks.flatMap((t) => t.setAside)
      for (const task of tasks) {
        task.processed = 0
        task.late = 0
        task.poison = 0
        task.duplicates = 0
        task.setAside = []
        task.changed = false
      }
      const result = yield* checkpoint(this.pipeline, parts, {
        rules: this.options.rules,
        // Final rows and alerts carry the checkpoint's trace context, for whoever consumes them.
        publish: (result) =>
          Effect.flatMap(currentTraceparent, (traceparent) =>
            this.options.publish([...setAside, ...this.outputs(result, traceparent)])
          )
      }).pipe(
        Effect.catchTag("Fenced", (fenced: Fenced) =>
          Effect.gen(this, function* () {
            M.streamCheckpoints(name, "fenced").unsafeUpdate(1, [])
            this.counters.fenced += fenced.partitions.length
            yield* Effect.logWarning(fenced.message)
            return undefined
          })
        ),
        Effect.tapError(() =>
          Effect.sync(() => {
            M.streamCheckpoints(name, "failed").unsafeUpdate(1, [])
            this.dropCheckpointed(parts)
          })
        ),
        Effect.withSpan("eventflow.checkpoint", {
          captureStackTrace: false,
          attributes: { pipeline: name, partitions: parts.length },
          links: this.takeTraceLinks()
        })
      )
      if (result === undefined) {
        // Fenced: the partitions that were not were rolled back with the others; reload them all.
        this.dropCheckpointed(parts)
        return undefined
      }
      let processed = 0
      let late = 0
      let poison = 0
      let duplicates = 0
      for (const part of parts) {
        processed += part.processed
        late += part.late
        poison += part.poison
        duplicates += part.duplicates
      }
      this.counters.processed += processed
      this.counters.late += late
      this.counters.poison += poison
      this.counters.duplicates += duplicates
      this.counters.checkpoints++
      this.counters.rowsWritten += result.rowsWritten
      this.counters.finalized += result.finalized.length
      this.counters.alerts += result.alerts.length
      this.counters.lastCheckpointMs = performance.now() - started
      M.streamCheckpoints(name, "committed").unsafeUpdate(1, [])
      M.streamCheckpointDuration(name).unsafeUpdate(this.counters.lastCheckpointMs / 1000, [])
      M.streamCheckpointRows(name).unsafeUpdate(result.rowsWritten, [])
      if (processed > 0) M.streamRecords(name).unsafeUpdate(processed, [])
      if (late > 0) {
        M.streamLateEvents(name).unsafeUpdate(late, [])
        M.streamDlq(name, "late").unsafeUpdate(late, [])
      }
      if (poison > 0) M.streamDlq(name, "poison").unsafeUpdate(poison, [])
      if (duplicates > 0) M.streamDuplicates(name).unsafeUpdate(duplicates, [])
      if (result.finalized.length > 0) M.streamWindowsEmitted(name).unsafeUpdate(result.finalized.length, [])
      if (result.alerts.length > 0) M.streamAlerts(name).unsafeUpdate(result.alerts.length, [])

      // A partition that has not seen an event yet (only those can be behind) takes the finalized
      // time as its watermark, so that an old first event is late rather than a change to a final row.
      if (Number.isFinite(result.finalizedThrough)) {
        for (const task of this.tasks.values()) {
          if (task.processor.watermark < result.finalizedThrough)
            task.processor.advance(result.finalizedThrough)
        }
      }
      return result
    })
  }

  /** Final rows (to the sink topic) and alerts (to the alerts topic), as CloudEvents with deterministic ids. */
  private outputs(result: CheckpointResult, traceparent: string | undefined): LogRecord[] {
    const records: LogRecord[] = []
    const sink = this.options.sinkTopic
    if (sink !== undefined) {
      for (const row of result.finalized) {
        const id = `${this.pipeline.name}/${row.key}/${row.windowStart}`
        const event: CloudEvent = {
          specversion: "1.0",
          id,
          source: `/eventflow/pipelines/${this.pipeline.name}`,
          type: "eventflow.window.final",
          subject: row.key,
          time: new Date(row.windowEnd).toISOString(),
          datacontenttype: "application/json",
          data: {
            pipeline: this.pipeline.name,
            key: row.key,
            windowStart: new Date(row.windowStart).toISOString(),
            windowEnd: new Date(row.windowEnd).toISOString(),
            final: true,
            values: row.values
          }
        }
        records.push(eventRecord(sink, id, event, Buffer.from(JSON.stringify(event)), traceparent))
      }
    }
    for (const alert of result.alerts) {
      records.push(
        eventRecord(
          this.options.alertsTopic,
          alert.subject ?? alert.id,
          alert,
          Buffer.from(JSON.stringify(alert)),
          traceparent
        )
      )
    }
    return records
  }
}
