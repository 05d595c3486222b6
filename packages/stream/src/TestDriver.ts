/**
 * Runs a pipeline without Kafka, like Kafka Streams' TopologyTestDriver: send events with chosen
 * times, advance time, read the rows out.
 */
import type { CloudEvent } from "@eventflow/core"
import type { Aggregations } from "./Aggregations.ts"
import type { Pipeline } from "./Dsl.ts"
import {
  type WindowProcessor as Processor,
  type Rejected,
  WindowProcessor,
  type WindowRow
} from "./WindowProcessor.ts"

const toMillis = (time: string | number | Date) =>
  typeof time === "number" ? time : typeof time === "string" ? Date.parse(time) : time.getTime()

export class TestDriver<T, A extends Aggregations<T>> {
  private readonly processor: Processor<T, A>
  private readonly latest = new Map<string, WindowRow>()
  private readonly finals: WindowRow[] = []
  readonly rejected: Rejected[] = []
  private sequence = 0

  constructor(readonly pipeline: Pipeline<T, A>) {
    this.processor = new WindowProcessor(pipeline)
  }

  /** Sends events as one batch; `timestamp` stands for the log record's time (default: now of the driver). */
  send(
    events: ReadonlyArray<Partial<CloudEvent>> | Partial<CloudEvent>,
    timestamp: string | number | Date = 0
  ) {
    const batch = (Array.isArray(events) ? events : [events]).map((event) => ({
      event: {
        specversion: "1.0",
        id: `test-${++this.sequence}`,
        source: "/test",
        type: "test.event",
        ...event
      } as CloudEvent,
      timestamp: toMillis(timestamp)
    }))
    const output = this.processor.process(batch)
    for (const gone of output.removed) this.latest.delete(`${gone.key}\u0000${gone.windowStart}`)
    this.collect(output.rows)
    this.rejected.push(...output.rejected)
    return this
  }

  /** Sends entity-state events to the tables of `topic` that the pipeline joins. */
  sendTable(topic: string, events: ReadonlyArray<Partial<CloudEvent>>) {
    const records = events.map((event) => ({
      event: {
        specversion: "1.0",
        id: `table-${++this.sequence}`,
        source: "/test",
        type: "test.state",
        ...event
      } as CloudEvent,
      timestamp: 0
    }))
    const tables = this.pipeline.table.windowed.keyed.tables.filter((t) => t.topic === topic)
    if (tables.length === 0) throw new Error(`the pipeline joins no table of topic ${topic}`)
    for (const source of tables) this.processor.updateTable(source, records)
    return this
  }

  /** Moves event time forward (as a later event would), closing the windows it passes. */
  advanceTime(to: string | number | Date) {
    this.collect(this.processor.advance(toMillis(to)))
    return this
  }

  /** Every window row, open or final, as it stands now, ordered by window then key. */
  rows(): WindowRow[] {
    return [...this.latest.values()].sort((a, b) => a.windowStart - b.windowStart || (a.key < b.key ? -1 : 1))
  }

  /** Final rows in the order they became final. */
  finalRows(): WindowRow[] {
    return [...this.finals]
  }

  get watermark(): number {
    return this.processor.watermark
  }

  private collect(rows: ReadonlyArray<WindowRow>) {
    for (const row of rows) {
      this.latest.set(`${row.key}\u0000${row.windowStart}`, row)
      if (row.final) this.finals.push(row)
    }
  }
}

export const testDriver = <T, A extends Aggregations<T>>(pipeline: Pipeline<T, A>) => new TestDriver(pipeline)
