import { createRoot } from "solid-js"
import { describe, expect, it, vi } from "vitest"
import { chartField, createPipelineDetails, seriesFrom } from "../src/data/pipelines.ts"
import type { Pipeline } from "../src/data/types.ts"
import { pipeline, T0 } from "./fixtures.ts"

describe("chartField", () => {
  it("picks the first numeric aggregate", () => {
    expect(chartField([{ name: "orders", kind: "count" }])).toBe("orders")
    expect(
      chartField([
        { name: "items", kind: "collect" },
        { name: "p95", kind: "percentile(0.95)" }
      ])
    ).toBe("p95")
    expect(chartField([{ name: "items", kind: "collect" }])).toBe("items")
    expect(chartField([])).toBeNull()
  })
})

describe("seriesFrom", () => {
  it("asks for the last 60 windows before the latest one", () => {
    expect(seriesFrom(pipeline("p"))).toBe(new Date(T0 - 59 * 60_000).toISOString())
    expect(
      seriesFrom(
        pipeline("p", { window: { kind: "hopping", sizeMs: 60_000, advanceMs: 10_000, graceMs: 0 } })
      )
    ).toBe(new Date(T0 - 59 * 10_000).toISOString())
    expect(seriesFrom(pipeline("p", { latestWindowStart: null }))).toBeUndefined()
  })
})

describe("pipeline details", () => {
  it("fetches the series and top keys of the charted field, throttled per pipeline", async () => {
    const pipelines: Record<string, Pipeline> = { revenue: pipeline("revenue") }
    let clock = 0
    const series = vi.fn(async (name: string, field: string) => ({
      pipeline: name,
      field,
      points: [{ windowStart: new Date(T0).toISOString(), value: clock + 1 }]
    }))
    const top = vi.fn(async (name: string, field: string, limit?: number) => ({
      pipeline: name,
      field,
      from: null,
      to: null,
      rows: [{ key: "eu", value: 10 }].slice(0, limit)
    }))
    await createRoot(async (dispose) => {
      const details = createPipelineDetails({
        api: { series, top },
        pipeline: (name) => pipelines[name],
        minIntervalMs: 1_000,
        now: () => clock
      })
      details.request("revenue")
      await vi.waitFor(() =>
        expect(details.details.revenue?.points).toEqual([
          { windowStart: pipeline("r").latestWindowStart, value: 1 }
        ])
      )
      expect(series).toHaveBeenCalledWith("revenue", "orders", 120, new Date(T0 - 59 * 60_000).toISOString())
      expect(top).toHaveBeenCalledWith("revenue", "orders", 5)
      expect(details.details.revenue?.top).toEqual([{ key: "eu", value: 10 }])
      expect(details.details.revenue?.field).toBe("orders")

      // within the interval: one refetch later, however many requests
      clock = 400
      details.request("revenue")
      details.request("revenue")
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(series).toHaveBeenCalledTimes(1)
      await vi.waitFor(() => expect(series).toHaveBeenCalledTimes(2), { timeout: 1_500 })
      details.stop()
      dispose()
    })
  })
})
