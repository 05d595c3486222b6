/**
 * Checkpoints: a processor that stops after any batch and is restored from its checkpoints (as a
 * crash and a restart do) ends with exactly the rows of one that never stopped.
 */
import type { CloudEvent } from "@eventflow/core"
import { describe, expect, it } from "vitest"
import {
  count,
  distinct,
  from,
  type InputRecord,
  max,
  percentile,
  pipeline,
  Session,
  sum,
  Tumbling,
  WindowProcessor,
  type WindowRow,
  type WindowSnapshot
} from "../src/index.ts"

type Click = CloudEvent & {
  readonly data: { readonly user: string; readonly page: string; readonly ms: number }
}

const aggregations = {
  clicks: count<Click>(),
  totalMs: sum<Click>((c) => c.data.ms),
  slowest: max<Click>((c) => c.data.ms),
  users: distinct<Click>((c) => c.data.user),
  p90: percentile<Click>(0.9, (c) => c.data.ms)
}

const tumbling = pipeline(
  "clicks-per-page",
  from<Click>("events.clicks")
    .selectKey((c) => c.data.page)
    .window(Tumbling.ofSizeAndGrace("1 minute", "20 seconds"))
    .aggregate(aggregations)
)
const sessions = pipeline(
  "sessions",
  from<Click>("events.clicks")
    .selectKey((c) => c.data.user)
    .window(Session.ofGapAndGrace("2 minutes", "20 seconds"))
    .aggregate(aggregations)
)

const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return seed / 2 ** 31
}

const batches = (seed: number): InputRecord[][] => {
  const next = random(seed)
  const base = Date.UTC(2026, 10, 27, 10)
  const records: InputRecord[] = Array.from({ length: 3000 }, (_, i) => ({
    event: {
      specversion: "1.0",
      id: `c${i}`,
      source: "/web",
      type: "click",
      time: new Date(base + i * 500 - Math.floor(next() * 15_000)).toISOString(),
      data: {
        user: `u${Math.floor(next() * 40)}`,
        page: `/p${Math.floor(next() * 5)}`,
        ms: Math.floor(next() * 900) + 1
      }
    } as CloudEvent,
    timestamp: 0
  }))
  const out: InputRecord[][] = []
  for (let i = 0; i < records.length; i += 97) out.push(records.slice(i, i + 97))
  return out
}

const finalRows = (rows: ReadonlyArray<WindowRow>) =>
  rows
    .filter((r) => r.final)
    .map((r) => ({ ...r, values: { ...r.values, p90: Math.round(r.values.p90! * 1000) } }))
    .sort((a, b) => a.windowStart - b.windowStart || (a.key < b.key ? -1 : 1))

describe.each([
  ["tumbling", tumbling],
  ["session", sessions]
] as const)("%s windows restored from checkpoints", (_, definition) => {
  it.each([3, 11, 20, 29])(
    "give exactly the uninterrupted result when stopped after batch %i",
    (crashAfter) => {
      const input = batches(7)
      const end = Date.UTC(2026, 10, 28)

      const steady = new WindowProcessor(definition)
      const expected = [...input.flatMap((batch) => steady.process(batch).rows), ...steady.advance(end)]

      // The checkpoint store: what a Postgres transaction would hold, as JSON.
      const store = new Map<string, WindowSnapshot>()
      let storedWatermark = Number.NEGATIVE_INFINITY
      const emitted: WindowRow[] = []
      const commit = (processor: WindowProcessor<any, any>) => {
        const checkpoint = JSON.parse(JSON.stringify(processor.takeCheckpoint()))
        for (const d of checkpoint.deletes) store.delete(`${d.key} ${d.start}`)
        for (const u of checkpoint.upserts) store.set(`${u.key} ${u.start}`, u)
        storedWatermark = checkpoint.watermark ?? Number.NEGATIVE_INFINITY
      }

      let processor = new WindowProcessor(definition)
      input.forEach((batch, i) => {
        emitted.push(...processor.process(batch).rows)
        commit(processor)
        if (i === crashAfter) {
          processor = new WindowProcessor(definition)
          processor.restore(storedWatermark, [...store.values()])
        }
      })
      emitted.push(...processor.advance(end))
      commit(processor)

      expect(finalRows(emitted)).toEqual(finalRows(expected))
      expect(finalRows(expected).length).toBeGreaterThan(10)
      // Closed windows stay in the store, final, one per final row, until the read model finalizes them.
      expect(store.size).toBe(finalRows(expected).length)
      expect([...store.values()].every((u) => u.closesAt <= end)).toBe(true)
    }
  )
})
