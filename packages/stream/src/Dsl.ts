/**
 * The pipeline DSL. Its types move as the pipeline does, stream → keyed → windowed → table, so an
 * aggregation over a stream that is not keyed and windowed does not compile:
 *
 *   pipeline("order-revenue",
 *     from<OrderEvent>("events.orders")
 *       .filter((order) => order.data.amount > 0)
 *       .selectKey((order) => order.data.region)
 *       .window(Tumbling.ofSizeAndGrace("5 minutes", "30 seconds"))
 *       .aggregate({ orders: count(), revenue: sum((order) => order.data.amount) }))
 */
import type { CloudEvent } from "@eventflow/core"
import type { Aggregation, Aggregations } from "./Aggregations.ts"
import type { WindowSpec } from "./Windows.ts"

export type Operation =
  | { readonly kind: "filter"; readonly predicate: (element: any) => boolean }
  | { readonly kind: "map"; readonly mapper: (element: any) => unknown }
  | {
      readonly kind: "join"
      readonly table: TableSource<any>
      readonly joiner: (element: any, value: any) => unknown
      /** Inner: elements whose key the table lacks are dropped; left: the joiner gets undefined. */
      readonly inner: boolean
    }

/**
 * A table materialized from a topic of entity state (typically compacted): the latest value per
 * key. An event whose value is undefined deletes its key (a tombstone).
 */
export interface TableSource<V> {
  readonly topic: string
  readonly keyOf: (event: CloudEvent) => string | undefined
  readonly valueOf: (event: CloudEvent) => V | undefined
}

/** A table of entity state: by default keyed by the event's `subject`, valued by its `data`. */
export const table = <V = unknown>(
  topic: string,
  options: {
    readonly key?: (event: CloudEvent) => string | undefined
    readonly value?: (event: CloudEvent) => V | undefined
  } = {}
): TableSource<V> => ({
  topic,
  keyOf: options.key ?? ((event) => event.subject),
  valueOf: options.value ?? ((event) => (event.data === null ? undefined : (event.data as V | undefined)))
})

export interface Source {
  /** Topic names; `*` matches any run of characters (`events.*` matches `events.dlq` too: list the topics to leave it out). */
  readonly topics: ReadonlyArray<string>
  /** Event time of a source event, epoch ms: its `time` attribute, else the record's timestamp. */
  readonly eventTime: (event: CloudEvent, recordTimestamp: number) => number
}

const cloudEventTime = (event: CloudEvent, recordTimestamp: number): number => {
  if (typeof event.time === "string") {
    const parsed = Date.parse(event.time)
    if (!Number.isNaN(parsed)) return parsed
  }
  return recordTimestamp
}

export class Stream<T> {
  constructor(
    readonly source: Source,
    readonly operations: ReadonlyArray<Operation>
  ) {}

  filter(predicate: (element: T) => boolean): Stream<T> {
    return new Stream(this.source, [...this.operations, { kind: "filter", predicate }])
  }

  map<U>(mapper: (element: T) => U): Stream<U> {
    return new Stream<U>(this.source, [...this.operations, { kind: "map", mapper }])
  }

  /** Keys the stream: the key decides which window state an element counts in. */
  selectKey(keySelector: (element: T) => string): KeyedStream<T> {
    return new KeyedStream(this.source, this.operations, keySelector, [])
  }

  /** The same as selectKey (Flink's name). */
  keyBy(keySelector: (element: T) => string): KeyedStream<T> {
    return this.selectKey(keySelector)
  }
}

export class KeyedStream<T> {
  constructor(
    readonly source: Source,
    /** Operations before the key is chosen. */
    readonly operations: ReadonlyArray<Operation>,
    readonly keySelector: (element: any) => string,
    /** Operations after the key is chosen (they keep it). */
    readonly keyedOperations: ReadonlyArray<Operation>
  ) {}

  filter(predicate: (element: T) => boolean): KeyedStream<T> {
    return this.append({ kind: "filter", predicate })
  }

  /** Changes the elements, keeping their key. */
  mapValues<U>(mapper: (element: T) => U): KeyedStream<U> {
    return this.append({ kind: "map", mapper })
  }

  /** Enriches each element with the table's value for its key (elements without one are dropped). */
  joinTable<V, U>(source: TableSource<V>, joiner: (element: T, value: V) => U): KeyedStream<U> {
    return this.append({ kind: "join", table: source, joiner, inner: true })
  }

  /** Enriches each element with the table's value for its key, or undefined when it has none. */
  leftJoinTable<V, U>(
    source: TableSource<V>,
    joiner: (element: T, value: V | undefined) => U
  ): KeyedStream<U> {
    return this.append({ kind: "join", table: source, joiner, inner: false })
  }

  /** The tables this stream joins. */
  get tables(): ReadonlyArray<TableSource<unknown>> {
    return this.keyedOperations.flatMap((o) => (o.kind === "join" ? [o.table] : []))
  }

  private append<U>(operation: Operation): KeyedStream<U> {
    return new KeyedStream<U>(this.source, this.operations, this.keySelector, [
      ...this.keyedOperations,
      operation
    ])
  }

  window(spec: WindowSpec): WindowedStream<T> {
    return new WindowedStream(this, spec)
  }
}

export class WindowedStream<T> {
  constructor(
    readonly keyed: KeyedStream<T>,
    readonly window: WindowSpec
  ) {}

  aggregate<const K extends string>(
    aggregations: {
      readonly [P in K]: Aggregation<T, any>
    }
  ): Table<T, { readonly [P in K]: Aggregation<T, any> }> {
    const names = Object.keys(aggregations)
    if (names.length === 0) throw new TypeError("aggregate needs at least one aggregation")
    return new Table(this, aggregations)
  }
}

export class Table<T, A extends Aggregations<T>> {
  constructor(
    readonly windowed: WindowedStream<T>,
    readonly aggregations: A,
    /** The topic final rows are published to, as CloudEvents (besides the read model). */
    readonly sink?: string
  ) {}

  /** Also publishes each row, when final, to a topic (`analytics.aggregated`, say) as a CloudEvent. */
  to(topic: string): Table<T, A> {
    if (typeof topic !== "string" || topic === "" || topic.includes("*")) {
      throw new TypeError("to() needs a topic name")
    }
    return new Table(this.windowed, this.aggregations, topic)
  }
}

/** A stream of the CloudEvents of a topic, of several, or of every topic a pattern matches. */
export const from = <T = CloudEvent>(
  topics: string | ReadonlyArray<string>,
  options: { readonly eventTime?: (event: CloudEvent, recordTimestamp: number) => number } = {}
): Stream<T> => {
  const list = typeof topics === "string" ? [topics] : [...topics]
  if (list.length === 0 || list.some((t) => typeof t !== "string" || t === "")) {
    throw new TypeError("from() needs at least one topic name")
  }
  return new Stream<T>({ topics: list, eventTime: options.eventTime ?? cloudEventTime }, [])
}

export interface Pipeline<T = any, A extends Aggregations<T> = Aggregations<T>> {
  readonly name: string
  readonly table: Table<T, A>
  /** The topic final rows go to, when the table has one (`to(...)`). */
  readonly sink: string | undefined
}

const PIPELINE_NAME = /^[a-z0-9][a-z0-9-]*$/

export const pipeline = <T, A extends Aggregations<T>>(name: string, table: Table<T, A>): Pipeline<T, A> => {
  if (!PIPELINE_NAME.test(name)) {
    throw new TypeError(`pipeline name '${name}' must be lower-case letters, digits and '-'`)
  }
  return { name, table, sink: table.sink }
}
