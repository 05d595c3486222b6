/**
 * The read model's rows from the partial windows of every partition (see decision 005). A key's
 * events may arrive on several partitions, each of which aggregates its own share: fixed windows
 * of one key and start merge into one row; sessions merge when they come within the gap of each
 * other, which gives exactly the sessions of all the key's events taken together.
 */
import type { Aggregations } from "./Aggregations.ts"
import type { Pipeline } from "./Dsl.ts"
import { closesAt, type WindowSpec } from "./Windows.ts"

export interface PartialWindow {
  readonly key: string
  readonly start: number
  readonly end: number
  /** Each aggregation's state, encoded (as WindowSnapshot.states). */
  readonly states: Readonly<Record<string, unknown>>
}

export interface MergedRow {
  readonly key: string
  readonly windowStart: number
  readonly windowEnd: number
  readonly closesAt: number
  readonly values: Readonly<Record<string, number | null>>
}

/** Groups one key's partial windows into the windows of the key. */
export const components = (
  spec: WindowSpec,
  partials: ReadonlyArray<PartialWindow>
): ReadonlyArray<ReadonlyArray<PartialWindow>> => {
  const sorted = [...partials].sort((a, b) => a.start - b.start || a.end - b.end)
  const groups: PartialWindow[][] = []
  let current: PartialWindow[] = []
  let currentEnd = Number.NEGATIVE_INFINITY
  let currentStart = Number.NaN
  for (const partial of sorted) {
    const joins =
      current.length > 0 &&
      (spec.kind === "session" ? partial.start <= currentEnd + spec.gapMs : partial.start === currentStart)
    if (!joins) {
      if (current.length > 0) groups.push(current)
      current = []
      currentStart = partial.start
      currentEnd = Number.NEGATIVE_INFINITY
    }
    current.push(partial)
    if (partial.end > currentEnd) currentEnd = partial.end
  }
  if (current.length > 0) groups.push(current)
  return groups
}

/** The rows of the read model for the partial windows of some keys (of all partitions). */
export const mergeRows = <T, A extends Aggregations<T>>(
  pipeline: Pipeline<T, A>,
  partials: ReadonlyArray<PartialWindow>
): MergedRow[] => {
  const spec = pipeline.table.windowed.window
  const aggregations = pipeline.table.aggregations
  const names = Object.keys(aggregations)
  const byKey = new Map<string, PartialWindow[]>()
  for (const partial of partials) {
    const list = byKey.get(partial.key)
    if (list === undefined) byKey.set(partial.key, [partial])
    else list.push(partial)
  }
  const rows: MergedRow[] = []
  for (const [key, list] of byKey) {
    for (const group of components(spec, list)) {
      const values: Record<string, number | null> = {}
      for (const name of names) {
        const aggregation = aggregations[name]!
        let state = aggregation.decode(group[0]!.states[name])
        for (let i = 1; i < group.length; i++) {
          state = aggregation.merge(state, aggregation.decode(group[i]!.states[name]))
        }
        values[name] = aggregation.result(state)
      }
      const window = {
        start: Math.min(...group.map((p) => p.start)),
        end: Math.max(...group.map((p) => p.end))
      }
      rows.push({
        key,
        windowStart: window.start,
        windowEnd: window.end,
        closesAt: closesAt(spec, window),
        values
      })
    }
  }
  return rows
}
