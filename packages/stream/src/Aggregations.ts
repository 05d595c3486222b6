/**
 * Aggregations over the events of a window. Each keeps a small state that can be merged (session
 * windows merge when an event bridges two of them).
 */

export interface Aggregation<T, S, V = any> {
  readonly name: string
  readonly init: () => S
  /** Reads what the aggregation needs from an element; throws when it cannot (the element is poison). */
  readonly extract: (element: T) => V
  /** Adds an extracted value; never throws, so an element counts in all its aggregations or in none. */
  readonly add: (state: S, value: V) => S
  readonly merge: (a: S, b: S) => S
  /** The value a row shows; null when no event contributed a value. */
  readonly result: (state: S) => number | null
  /** The state as JSON, for checkpoints, and back. */
  readonly encode: (state: S) => unknown
  readonly decode: (encoded: unknown) => S
}

const asIs = { encode: (state: unknown) => state, decode: (encoded: unknown) => encoded as never }

type Selector<T> = (element: T) => number

const finite = (value: number, name: string): number => {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`the ${name} selector returned ${String(value)}, not a finite number`)
  }
  return value
}

export const count = <T>(): Aggregation<T, number> => ({
  name: "count",
  init: () => 0,
  extract: () => undefined,
  add: (n) => n + 1,
  merge: (a, b) => a + b,
  result: (n) => n,
  ...asIs
})

export const sum = <T>(selector: Selector<T>): Aggregation<T, number> => ({
  name: "sum",
  init: () => 0,
  extract: (element) => finite(selector(element), "sum"),
  add: (total, value: number) => total + value,
  merge: (a, b) => a + b,
  result: (total) => total,
  ...asIs
})

const extreme = <T>(name: "min" | "max", selector: Selector<T>, pick: (a: number, b: number) => number) =>
  ({
    name,
    init: () => null,
    extract: (element: T) => finite(selector(element), name),
    add: (current: number | null, value: number) => (current === null ? value : pick(current, value)),
    merge: (a, b) => (a === null ? b : b === null ? a : pick(a, b)),
    result: (current) => current,
    ...asIs
  }) satisfies Aggregation<T, number | null>

export const min = <T>(selector: Selector<T>): Aggregation<T, number | null> =>
  extreme("min", selector, Math.min)
export const max = <T>(selector: Selector<T>): Aggregation<T, number | null> =>
  extreme("max", selector, Math.max)

export const avg = <T>(
  selector: Selector<T>
): Aggregation<T, { readonly sum: number; readonly n: number }> => ({
  name: "avg",
  init: () => ({ sum: 0, n: 0 }),
  extract: (element) => finite(selector(element), "avg"),
  add: (state, value: number) => ({ sum: state.sum + value, n: state.n + 1 }),
  merge: (a, b) => ({ sum: a.sum + b.sum, n: a.n + b.n }),
  result: (state) => (state.n === 0 ? null : state.sum / state.n),
  ...asIs
})

export type Aggregations<T> = Readonly<Record<string, Aggregation<T, any>>>
export type Values<A> = { readonly [K in keyof A]: number | null }
