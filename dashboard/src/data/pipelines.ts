// Per-pipeline detail: the series of its first numeric aggregate and its top keys, refetched when
// the ticks say the pipeline has new rows, at most once per `minIntervalMs`.
import { createStore, reconcile } from "solid-js/store"
import type { Api } from "./api.ts"
import { describeError } from "./polled.ts"
import type { Aggregate, Pipeline, SeriesPoint, TopRow } from "./types.ts"

export interface PipelineDetail {
  /** The aggregate charted and ranked; null when the pipeline has none that is numeric. */
  field: string | null
  points: SeriesPoint[]
  top: TopRow[]
  error: string | null
}

const NUMERIC_KINDS = /^(count|sum|min|max|avg|mean|distinct|percentile|p\d+|rate|stddev|variance)\b/i

/** The aggregate to chart: the first one of a numeric kind, else the first one. */
export const chartField = (aggregates: ReadonlyArray<Aggregate>): string | null =>
  (aggregates.find((a) => NUMERIC_KINDS.test(a.kind)) ?? aggregates[0])?.name ?? null

/** Windows shown in a pipeline's chart. */
export const SERIES_WINDOWS = 60

/** The window step of a pipeline, to ask for its last SERIES_WINDOWS windows. */
const stepMs = (pipeline: Pipeline) =>
  pipeline.window.advanceMs ?? pipeline.window.sizeMs ?? pipeline.window.gapMs ?? 60_000

export const seriesFrom = (pipeline: Pipeline): string | undefined => {
  if (!pipeline.latestWindowStart) return undefined
  const latest = Date.parse(pipeline.latestWindowStart)
  if (!Number.isFinite(latest)) return undefined
  return new Date(latest - stepMs(pipeline) * (SERIES_WINDOWS - 1)).toISOString()
}

export const createPipelineDetails = (options: {
  readonly api: Pick<Api, "series" | "top">
  readonly pipeline: (name: string) => Pipeline | undefined
  readonly minIntervalMs?: number
  readonly topLimit?: number
  readonly now?: () => number
}) => {
  const minIntervalMs = options.minIntervalMs ?? 5_000
  const now = options.now ?? Date.now
  const [details, setDetails] = createStore<Record<string, PipelineDetail>>({})
  const lastFetch = new Map<string, number>()
  const pending = new Map<string, ReturnType<typeof setTimeout>>()
  let stopped = false

  const load = async (name: string) => {
    const pipeline = options.pipeline(name)
    if (!pipeline || stopped) return
    lastFetch.set(name, now())
    const field = chartField(pipeline.aggregates)
    if (field === null) {
      setDetails(name, { field: null, points: [], top: [], error: null })
      return
    }
    try {
      const from = seriesFrom(pipeline)
      const [series, top] = await Promise.all([
        options.api.series(name, field, SERIES_WINDOWS * 2, from),
        options.api.top(name, field, options.topLimit ?? 5)
      ])
      if (stopped) return
      setDetails(
        name,
        reconcile(
          { field, points: series.points.slice(-SERIES_WINDOWS), top: [...top.rows], error: null },
          { key: "key" }
        )
      )
    } catch (error) {
      if (stopped) return
      setDetails(name, "error", describeError(error))
    }
  }

  return {
    details,
    /** Asks for a refetch; coalesced and throttled per pipeline. */
    request: (name: string) => {
      if (stopped || pending.has(name)) return
      const wait = Math.max(0, (lastFetch.get(name) ?? Number.NEGATIVE_INFINITY) + minIntervalMs - now())
      pending.set(
        name,
        setTimeout(() => {
          pending.delete(name)
          void load(name)
        }, wait)
      )
    },
    /** Forgets pipelines that are gone. */
    retain: (names: ReadonlyArray<string>) => {
      const keep = new Set(names)
      for (const name of Object.keys(details)) if (!keep.has(name)) setDetails(name, undefined!)
    },
    stop: () => {
      stopped = true
      for (const timer of pending.values()) clearTimeout(timer)
      pending.clear()
    }
  }
}
