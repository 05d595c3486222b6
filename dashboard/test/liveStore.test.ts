import { createRoot } from "solid-js"
import { describe, expect, it } from "vitest"
import { createLiveStore, defaultLimits, type LiveLimits } from "../src/data/liveStore.ts"
import { alert, event, T0, tick, tickId } from "./fixtures.ts"

const withStore = (limits: Partial<LiveLimits>, body: (store: ReturnType<typeof createLiveStore>) => void) =>
  createRoot((dispose) => {
    body(createLiveStore({ ...defaultLimits, ...limits }))
    dispose()
  })

describe("live store", () => {
  it("shows the latest tick's counters and server time", () =>
    withStore({}, (store) => {
      expect(store.applyTick(tickId(1), tick(1))).toBe(true)
      expect(store.applyTick(tickId(2), tick(2, { ackP99Ms: null }))).toBe(true)
      expect(store.state.counters).toEqual({
        ingestRate: 102,
        processedRate: 92,
        ackP50Ms: 2.5,
        ackP99Ms: null,
        lag: 7,
        accepted: 1002,
        duplicates: 3,
        rejected: 1,
        processed: 902
      })
      expect(store.state.serverTime).toBe("2026-11-26T10:00:02.000Z")
    }))

  it("keeps a bounded ring of points, oldest dropped first, x in epoch seconds", () =>
    withStore({ ringSize: 5 }, (store) => {
      for (let s = 1; s <= 8; s++) store.applyTick(tickId(s), tick(s, { ackP50Ms: s === 8 ? null : s }))
      const ring = store.state.ring
      expect(ring.t).toEqual([4, 5, 6, 7, 8].map((s) => (T0 + s * 1000) / 1000))
      expect([...ring.ingest]).toEqual([104, 105, 106, 107, 108])
      expect([...ring.processed]).toEqual([94, 95, 96, 97, 98])
      expect([...ring.p50]).toEqual([4, 5, 6, 7, null])
      expect(ring.p99.length).toBe(5)
    }))

  it("ignores a tick id already seen, and an older one (a replay after a resume)", () =>
    withStore({}, (store) => {
      expect(store.applyTick(tickId(1), tick(1))).toBe(true)
      expect(store.applyTick(tickId(2), tick(2))).toBe(true)
      expect(store.applyTick(tickId(2), tick(2, { ingestRate: 999 }))).toBe(false)
      expect(store.applyTick(tickId(1), tick(1, { ingestRate: 999 }))).toBe(false)
      expect(store.state.ring.t.length).toBe(2)
      expect(store.state.counters?.ingestRate).toBe(102)
      expect(store.applyTick(tickId(3), tick(3))).toBe(true)
      expect(store.state.ring.t.length).toBe(3)
    }))

  it("puts tick events first, newest first, deduplicated by log position and bounded", () =>
    withStore({ maxEvents: 4 }, (store) => {
      store.loadEvents("", [event(2), event(1)])
      store.applyTick(tickId(1), tick(1, { events: [event(3), event(4), event(2)] }))
      expect(store.state.events.map((e) => e.offset)).toEqual(["4", "3", "2", "1"])
      store.applyTick(tickId(2), tick(2, { events: [event(5)] }))
      expect(store.state.events.map((e) => e.offset)).toEqual(["5", "4", "3", "2"])
    }))

  it("keeps events that ticks brought before the initial load answered", () =>
    withStore({}, (store) => {
      store.applyTick(tickId(1), tick(1, { events: [event(10)] }))
      store.loadEvents("", [event(10), event(9), event(8)])
      expect(store.state.events.map((e) => e.offset)).toEqual(["10", "9", "8"])
    }))

  it("filters the tail by type, clears it on a new filter and ignores a stale load", () =>
    withStore({}, (store) => {
      store.applyTick(tickId(1), tick(1, { events: [event(1, "order.created"), event(2, "order.paid")] }))
      expect(store.state.seenTypes).toEqual(["order.created", "order.paid"])
      expect(store.setEventFilter("order.paid")).toBe(true)
      expect(store.setEventFilter("order.paid")).toBe(false)
      expect(store.state.events).toEqual([])
      store.loadEvents("", [event(1, "order.created")]) // answer for the old filter
      expect(store.state.events).toEqual([])
      store.loadEvents("order.paid", [event(2, "order.paid")])
      store.applyTick(tickId(2), tick(2, { events: [event(3, "order.created"), event(4, "order.paid")] }))
      expect(store.state.events.map((e) => [e.offset, e.type])).toEqual([
        ["4", "order.paid"],
        ["2", "order.paid"]
      ])
      store.setEventFilter("")
      store.applyTick(tickId(3), tick(3, { events: [event(5, "user.signed-up")] }))
      expect(store.state.events.map((e) => e.offset)).toEqual(["5"])
      expect(store.state.seenTypes).toEqual(["order.created", "order.paid", "user.signed-up"])
    }))

  it("shows alerts newest first: tick alerts before the loaded ones, opened and resolved both kept", () =>
    withStore({ maxAlerts: 3 }, (store) => {
      store.loadAlerts([alert("a2", 2), alert("a1", 1)])
      store.applyTick(
        tickId(3),
        tick(3, {
          alerts: [alert("a2", 3, { status: "resolved" }), alert("a3", 4, { severity: "critical" })]
        })
      )
      expect(store.state.alerts.map((a) => `${a.id}:${a.status}`)).toEqual([
        "a3:opened",
        "a2:resolved",
        "a2:opened"
      ])
      store.applyTick(tickId(4), tick(4, { alerts: [alert("a3", 4, { severity: "critical" })] }))
      expect(store.state.alerts.length).toBe(3)
      expect(store.state.alerts[0]?.severity).toBe("critical")
      expect(store.state.alerts[0]?.key).toBe("eu")
    }))
})
