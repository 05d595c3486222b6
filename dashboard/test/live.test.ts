import { describe, expect, it, vi } from "vitest"
import { connectLive, type LiveStatus, retryDelay } from "../src/data/live.ts"
import type { Hello, Tick } from "../src/data/types.ts"
import { createFakeApi, problem, sse } from "./fakeApi.ts"
import { tick, tickId } from "./fixtures.ts"

const connect = (fake: ReturnType<typeof createFakeApi>) => {
  const ticks: Array<[string, Tick]> = []
  const hellos: Hello[] = []
  const statuses: LiveStatus[] = []
  const connection = connectLive({
    open: ({ headers, signal }) => fake.fetch("/v1/live", { headers, signal }),
    onHello: (h) => hellos.push(h),
    onTick: (id, t) => ticks.push([id, t]),
    onStatus: (s) => statuses.push(s),
    backoff: { initialMs: 10, maxMs: 40 },
    stallMs: 5_000
  })
  return { connection, ticks, hellos, statuses }
}

describe("retryDelay", () => {
  it("doubles from 1 s and stops at 10 s", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => retryDelay(n, 1_000, 10_000))).toEqual([
      1_000, 2_000, 4_000, 8_000, 10_000, 10_000
    ])
  })
})

describe("connectLive", () => {
  it("reads hello and ticks, reconnects after a drop and resumes from the last tick id", async () => {
    const fake = createFakeApi({})
    const live = connect(fake)
    await vi.waitFor(() => expect(fake.streams.length).toBe(1))
    const first = fake.streams[0]!
    expect(first.headers.get("accept")).toBe("text/event-stream")
    expect(first.headers.get("last-event-id")).toBeNull()
    first.send(sse("hello", { serverTime: "2026-11-26T10:00:00.000Z", intervalMs: 1000 }))
    first.send(": keep-alive\n\n")
    first.send(sse("tick", tick(1), tickId(1)).slice(0, 20))
    first.send(sse("tick", tick(1), tickId(1)).slice(20))
    await vi.waitFor(() => expect(live.ticks.length).toBe(1))
    expect(live.hellos).toEqual([{ serverTime: "2026-11-26T10:00:00.000Z", intervalMs: 1000 }])
    expect(live.ticks[0]?.[0]).toBe(tickId(1))
    expect(live.ticks[0]?.[1].ingestRate).toBe(101)
    expect(live.statuses).toEqual(["connecting", "live"])

    first.close()
    await vi.waitFor(() => expect(fake.streams.length).toBe(2))
    expect(fake.streams[1]?.headers.get("last-event-id")).toBe(tickId(1))
    expect(live.statuses).toEqual(["connecting", "live", "reconnecting", "live"])
    live.connection.stop()
  })

  it("backs off on failures, shows offline after three, and restart() connects at once", async () => {
    let failing = true
    const fake = createFakeApi({ "/v1/live": (_r, next) => (failing ? problem(503, "unavailable") : next()) })
    const live = connect(fake)
    await vi.waitFor(() => expect(live.statuses).toContain("offline"), { timeout: 2_000 })
    expect(live.statuses.slice(0, 4)).toEqual(["connecting", "reconnecting", "reconnecting", "offline"])
    failing = false
    live.connection.restart()
    await vi.waitFor(() => expect(fake.streams.length).toBe(1))
    expect(live.statuses.at(-1)).toBe("live")
    live.connection.stop()
  })

  it("stops for good on stop()", async () => {
    const fake = createFakeApi({})
    const live = connect(fake)
    await vi.waitFor(() => expect(fake.streams.length).toBe(1))
    live.connection.stop()
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(fake.calls("/v1/live").length).toBe(1)
  })
})

describe("connectLive stall detection", () => {
  it("drops a stream that stays silent and connects again", async () => {
    const fake = createFakeApi({})
    const connection = connectLive({
      open: ({ headers, signal }) => fake.fetch("/v1/live", { headers, signal }),
      onHello: () => {},
      onTick: () => {},
      onStatus: () => {},
      backoff: { initialMs: 5, maxMs: 5 },
      stallMs: 40
    })
    await vi.waitFor(() => expect(fake.streams.length).toBeGreaterThanOrEqual(2), { timeout: 1_000 })
    connection.stop()
  })
})
