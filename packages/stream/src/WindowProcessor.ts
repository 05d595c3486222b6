/**
 * Runs one pipeline over the records of one partition, in event time: applies its operations,
 * keys, windows and aggregates, keeps the watermark (the latest event time seen), and says which
 * window rows changed, which became final, and which events came too late or could not be
 * processed. Pure: the engine around it reads the log and writes the checkpoints.
 */
import type { CloudEvent } from "@eventflow/core"
import type { Aggregation, Aggregations, Values } from "./Aggregations.ts"
import type { Operation, Pipeline, TableSource } from "./Dsl.ts"
import { closesAt, fixedWindowsFor, type TimeWindow, type WindowSpec } from "./Windows.ts"

export interface WindowRow {
  readonly key: string
  readonly windowStart: number
  readonly windowEnd: number
  readonly final: boolean
  readonly values: Readonly<Record<string, number | null>>
}

export interface InputRecord {
  readonly event: CloudEvent
  /** The log record's timestamp, epoch ms: the event time of an event without `time`. */
  readonly timestamp: number
}

export interface Rejected {
  readonly event: CloudEvent
  readonly reason: "late" | "poison"
  readonly detail: string
}

export interface Output {
  /** Rows of open windows that changed, and rows that became final (each once). */
  readonly rows: ReadonlyArray<WindowRow>
  /** Rows that no longer exist: sessions merged into a new one (delete them from the read model). */
  readonly removed: ReadonlyArray<{ readonly key: string; readonly windowStart: number }>
  readonly rejected: ReadonlyArray<Rejected>
}

/** One window's state, as a checkpoint stores it. */
export interface WindowSnapshot {
  readonly key: string
  readonly start: number
  readonly end: number
  /** When the watermark passing this instant closes the window (its end plus grace, plus the gap for sessions). */
  readonly closesAt: number
  /** Each aggregation's state, encoded as JSON. */
  readonly states: Readonly<Record<string, unknown>>
}

/**
 * What changed since the previous checkpoint: apply the deletes first, then the upserts. Upserts
 * include windows that closed since (their final state); deletes are sessions merged into another.
 */
export interface Checkpoint {
  readonly watermark: number
  readonly upserts: ReadonlyArray<WindowSnapshot>
  readonly deletes: ReadonlyArray<{ readonly key: string; readonly start: number }>
}

interface WindowState {
  window: TimeWindow
  readonly states: Record<string, unknown>
}

/** The states of joined tables: per table, key → latest value. */
export type TableStates = Map<TableSource<unknown>, Map<string, unknown>>

/** Applies entity-state records to a table's states; an undefined value deletes the key. */
export const applyTableRecords = (
  tables: TableStates,
  source: TableSource<unknown>,
  records: ReadonlyArray<InputRecord>
): void => {
  let entries = tables.get(source)
  if (entries === undefined) {
    entries = new Map()
    tables.set(source, entries)
  }
  for (const record of records) {
    const key = source.keyOf(record.event)
    if (typeof key !== "string") continue
    const value = source.valueOf(record.event)
    if (value === undefined) entries.delete(key)
    else entries.set(key, value)
  }
}

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))
/**
 * Keys PostgreSQL cannot keep as they are: a NUL fails the checkpoint (every one after it too), a
 * lone surrogate comes back as U+FFFD. Their records are poison.
 */
const UNSTORABLE = /[\u0000\p{Cs}]/u

const DROPPED: unique symbol = Symbol("dropped")

export class WindowProcessor<T, A extends Aggregations<T>> {
  private watermarkMs = Number.NEGATIVE_INFINITY
  /** key → windows of that key, by start (fixed windows) or in time order (sessions). */
  private readonly windows = new Map<string, WindowState[]>()
  /** The tables the pipeline joins: key → latest value (shared by an engine's processors). */
  private tables: TableStates = new Map()
  private readonly spec: WindowSpec
  private readonly names: ReadonlyArray<string>
  private readonly aggregations: ReadonlyArray<Aggregation<T, unknown>>
  /** No open window closes before this (a lower bound), so advancing below it closes nothing. */
  private earliestClose = Number.POSITIVE_INFINITY
  /** Sessions merged away during the current batch. */
  private removed: Array<{ key: string; windowStart: number }> = []
  /** Windows changed, and windows gone, since the last checkpoint. */
  private dirty = new Map<WindowState, string>()
  private gone: Array<{ key: string; start: number }> = []

  constructor(readonly pipeline: Pipeline<T, A>) {
    this.spec = pipeline.table.windowed.window
    this.names = Object.keys(pipeline.table.aggregations)
    this.aggregations = this.names.map((name) => pipeline.table.aggregations[name]!)
  }

  get watermark(): number {
    return this.watermarkMs
  }

  /** Processes a batch, in order, then closes the windows the new watermark has passed. */
  process(records: ReadonlyArray<InputRecord>, options: { readonly rows?: boolean } = {}): Output {
    /** The windows this batch changed, with their keys (not kept when the caller wants no rows). */
    const wantRows = options.rows !== false
    const changed = new Map<WindowState, string>()
    const rejected: Rejected[] = []
    this.removed = []
    const table = this.pipeline.table
    const keyed = table.windowed.keyed
    let batchWatermark = this.watermarkMs
    for (const record of records) {
      let element: unknown
      let key: string
      let time: number
      try {
        time = keyed.source.eventTime(record.event, record.timestamp)
        element = record.event
        const before = this.apply(keyed.operations, element, undefined)
        if (before === DROPPED) continue
        key = keyed.keySelector(before)
        if (typeof key !== "string")
          throw new TypeError(`the key selector returned ${typeof key}, not a string`)
        if (UNSTORABLE.test(key))
          throw new TypeError(
            "the key has a NUL character or an unpaired surrogate, which the read model cannot store"
          )
        element = this.apply(keyed.keyedOperations, before, key)
        if (element === DROPPED) continue
      } catch (error) {
        rejected.push({ event: record.event, reason: "poison", detail: describe(error) })
        continue
      }
      try {
        const touched = this.add(key, element as T, time)
        if (touched.length === 0) {
          rejected.push({
            event: record.event,
            reason: "late",
            detail: `event time ${new Date(time).toISOString()} is behind the watermark ${new Date(this.watermarkMs).toISOString()} by more than the grace period`
          })
        }
        for (const state of touched) {
          if (wantRows) changed.set(state, key)
          this.dirty.set(state, key)
        }
      } catch (error) {
        rejected.push({ event: record.event, reason: "poison", detail: describe(error) })
        continue
      }
      if (time > batchWatermark) batchWatermark = time
    }
    const finals = this.advanceTo(batchWatermark)
    // The engine reads rows from its checkpoints, not from here.
    if (!wantRows) return { rows: [], removed: [], rejected }
    const finalStates = new Set(finals.map((f) => f.state))
    const rows: WindowRow[] = []
    for (const [state, key] of changed) {
      if (!finalStates.has(state) && this.isLive(key, state)) {
        rows.push(this.row(key, state, false))
      }
    }
    for (const { key, state } of finals) rows.push(this.row(key, state, true))
    // A session that was emitted and then merged away within the batch is removed; one created and
    // merged within the same batch was never emitted, but removing it is harmless.
    const removed = this.removed.filter(
      (r) => !rows.some((row) => row.key === r.key && row.windowStart === r.windowStart)
    )
    return { rows, removed, rejected }
  }

  /** The changes since the previous checkpoint (or since the start), and the watermark. */
  takeCheckpoint(): Checkpoint {
    const upserts: WindowSnapshot[] = []
    for (const [state, key] of this.dirty) upserts.push(this.snapshot(key, state))
    const checkpoint = { watermark: this.watermarkMs, upserts, deletes: this.gone }
    this.dirty = new Map()
    this.gone = []
    return checkpoint
  }

  /** Every open window, encoded. */
  snapshotAll(): ReadonlyArray<WindowSnapshot> {
    const all: WindowSnapshot[] = []
    for (const [key, states] of this.windows) for (const state of states) all.push(this.snapshot(key, state))
    return all
  }

  /**
   * Loads what a checkpoint stored, replacing the current state (on partition assignment). Windows
   * the watermark has closed are left out: they are history, not state.
   */
  restore(watermark: number, windows: ReadonlyArray<Omit<WindowSnapshot, "closesAt">>): void {
    this.windows.clear()
    this.dirty = new Map()
    this.gone = []
    this.watermarkMs = watermark
    this.earliestClose = Number.POSITIVE_INFINITY
    for (const snapshot of windows) {
      const closes = closesAt(this.spec, { start: snapshot.start, end: snapshot.end })
      if (closes <= watermark) continue
      if (closes < this.earliestClose) this.earliestClose = closes
      const states: Record<string, unknown> = {}
      for (const name of this.names) {
        states[name] = this.pipeline.table.aggregations[name]!.decode(snapshot.states[name])
      }
      const list = this.windows.get(snapshot.key) ?? []
      list.push({ window: { start: snapshot.start, end: snapshot.end }, states })
      list.sort((a, b) => a.window.start - b.window.start)
      this.windows.set(snapshot.key, list)
    }
  }

  private snapshot(key: string, state: WindowState): WindowSnapshot {
    const states: Record<string, unknown> = {}
    for (const name of this.names)
      states[name] = this.pipeline.table.aggregations[name]!.encode(state.states[name])
    return {
      key,
      start: state.window.start,
      end: state.window.end,
      closesAt: closesAt(this.spec, state.window),
      states
    }
  }

  /** Applies the latest state of a table's entities (records of its topic, in order). */
  updateTable(source: TableSource<unknown>, records: ReadonlyArray<InputRecord>): void {
    applyTableRecords(this.tables, source, records)
  }

  /** Reads joined tables from these states (the engine keeps one set for all its partitions). */
  useTables(tables: TableStates): void {
    this.tables = tables
  }

  private apply(operations: ReadonlyArray<Operation>, input: unknown, key: string | undefined): unknown {
    let element = input
    for (const operation of operations) {
      if (operation.kind === "filter") {
        if (!operation.predicate(element)) return DROPPED
      } else if (operation.kind === "map") element = operation.mapper(element)
      else {
        const value = key === undefined ? undefined : this.tables.get(operation.table)?.get(key)
        if (value === undefined && operation.inner) return DROPPED
        element = operation.joiner(element, value)
      }
    }
    return element
  }

  /** Moves the watermark (never back) and returns the rows that became final. */
  advance(watermark: number): ReadonlyArray<WindowRow> {
    return this.advanceTo(watermark).map(({ key, state }) => this.row(key, state, true))
  }

  /** The current rows of the windows still open. */
  openRows(): ReadonlyArray<WindowRow> {
    const rows: WindowRow[] = []
    for (const [key, states] of this.windows)
      for (const state of states) rows.push(this.row(key, state, false))
    return rows
  }

  private isLive(key: string, state: WindowState): boolean {
    return this.windows.get(key)?.includes(state) ?? false
  }

  private advanceTo(watermark: number): Array<{ key: string; state: WindowState }> {
    if (watermark > this.watermarkMs) this.watermarkMs = watermark
    const closed: Array<{ key: string; state: WindowState }> = []
    // Nothing closes before the earliest closing time of the open windows: no scan needed.
    if (this.earliestClose > this.watermarkMs) return closed
    let earliest = Number.POSITIVE_INFINITY
    for (const [key, states] of this.windows) {
      const open = states.filter((state) => {
        const closes = closesAt(this.spec, state.window)
        if (closes <= this.watermarkMs) {
          // It stays dirty until the next checkpoint, which stores its final state.
          closed.push({ key, state })
          return false
        }
        if (closes < earliest) earliest = closes
        return true
      })
      if (open.length === 0) this.windows.delete(key)
      else if (open.length !== states.length) this.windows.set(key, open)
    }
    this.earliestClose = earliest
    closed.sort((a, b) => a.state.window.start - b.state.window.start || (a.key < b.key ? -1 : 1))
    return closed
  }

  private fresh(window: TimeWindow): WindowState {
    const states: Record<string, unknown> = {}
    for (const name of this.names) states[name] = this.pipeline.table.aggregations[name]!.init()
    return { window, states }
  }

  /** Each aggregation's value of an element (this is where a bad element throws, before any state changes). */
  private extract(element: T): unknown[] {
    const values = new Array(this.aggregations.length)
    for (let i = 0; i < this.aggregations.length; i++) values[i] = this.aggregations[i]!.extract(element)
    return values
  }

  private fold(state: WindowState, values: ReadonlyArray<unknown>) {
    for (let i = 0; i < this.aggregations.length; i++) {
      const name = this.names[i]!
      state.states[name] = this.aggregations[i]!.add(state.states[name], values[i])
    }
  }

  /** Adds an element to its open windows; returns them (none: it came too late for all). */
  private add(key: string, element: T, time: number): WindowState[] {
    if (this.spec.kind === "session") return this.addToSession(key, element, time)
    if (this.spec.kind === "tumbling") return this.addToTumbling(key, element, time)
    const windows = fixedWindowsFor(this.spec, time)
    let open = 0
    for (const window of windows) if (closesAt(this.spec, window) > this.watermarkMs) open++
    if (open === 0) return []
    const values = this.extract(element)
    let states = this.windows.get(key)
    const touched: WindowState[] = []
    let created = false
    for (const window of windows) {
      const closes = closesAt(this.spec, window)
      if (closes <= this.watermarkMs) continue
      let state = states?.find((s) => s.window.start === window.start)
      if (state === undefined) {
        state = this.fresh(window)
        if (states === undefined) {
          states = [state]
          this.windows.set(key, states)
        } else {
          states.push(state)
          created = true
        }
        if (closes < this.earliestClose) this.earliestClose = closes
      }
      this.fold(state, values)
      touched.push(state)
    }
    if (created) states!.sort((a, b) => a.window.start - b.window.start)
    return touched
  }

  /** The common case, without the allocations of the general one: exactly one window per event. */
  private addToTumbling(key: string, element: T, time: number): WindowState[] {
    if (this.spec.kind !== "tumbling") return []
    const start = Math.floor(time / this.spec.sizeMs) * this.spec.sizeMs
    const closes = start + this.spec.sizeMs + this.spec.graceMs
    if (closes <= this.watermarkMs) return []
    const values = this.extract(element)
    let states = this.windows.get(key)
    let state: WindowState | undefined
    if (states !== undefined) {
      for (let i = 0; i < states.length; i++) {
        if (states[i]!.window.start === start) {
          state = states[i]
          break
        }
      }
    }
    if (state === undefined) {
      state = this.fresh({ start, end: start + this.spec.sizeMs })
      if (states === undefined) {
        states = [state]
        this.windows.set(key, states)
      } else {
        states.push(state)
        states.sort((a, b) => a.window.start - b.window.start)
      }
      if (closes < this.earliestClose) this.earliestClose = closes
    }
    this.fold(state, values)
    return [state]
  }

  private addToSession(key: string, element: T, time: number): WindowState[] {
    if (this.spec.kind !== "session") return []
    const { gapMs } = this.spec
    const single: TimeWindow = { start: time, end: time }
    if (closesAt(this.spec, single) <= this.watermarkMs) return []
    const values = this.extract(element)
    const sessions = this.windows.get(key) ?? []
    // Sessions within the gap of this event merge with it into one.
    const near = sessions.filter((s) => time >= s.window.start - gapMs && time <= s.window.end + gapMs)
    const merged = this.fresh({
      start: Math.min(time, ...near.map((s) => s.window.start)),
      end: Math.max(time, ...near.map((s) => s.window.end))
    })
    for (const name of this.names) {
      const aggregation = this.pipeline.table.aggregations[name]!
      merged.states[name] = near.reduce(
        (acc, s) => aggregation.merge(acc, s.states[name]),
        merged.states[name]
      )
    }
    this.fold(merged, values)
    const closes = closesAt(this.spec, merged.window)
    if (closes < this.earliestClose) this.earliestClose = closes
    for (const old of near) {
      this.removed.push({ key, windowStart: old.window.start })
      this.gone.push({ key, start: old.window.start })
      this.dirty.delete(old)
    }
    const rest = sessions.filter((s) => !near.includes(s))
    rest.push(merged)
    rest.sort((a, b) => a.window.start - b.window.start)
    this.windows.set(key, rest)
    return [merged]
  }

  private row(key: string, state: WindowState, final: boolean): WindowRow {
    const values: Record<string, number | null> = {}
    for (const name of this.names) {
      values[name] = this.pipeline.table.aggregations[name]!.result(state.states[name])
    }
    return {
      key,
      windowStart: state.window.start,
      windowEnd: state.window.end,
      final,
      values: values as Values<A>
    }
  }
}
