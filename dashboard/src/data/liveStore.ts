// What the live ticks show: the latest counters, a bounded ring of points for the charts, the
// alerts feed and the event tail. Ticks, initial loads and filter changes all go through here.
import { createStore, reconcile, unwrap } from "solid-js/store"
import type { LiveStatus } from "./live.ts"
import type { Alert, StoredEvent, Tick, TickCounters } from "./types.ts"

export type Counters = TickCounters

/** Columns, as uPlot wants them; x is epoch seconds. */
export interface Ring {
  t: number[]
  ingest: number[]
  processed: number[]
  p50: (number | null)[]
  p99: (number | null)[]
}

export interface TailEvent extends StoredEvent {
  /** topic/partition/offset: unique in the log. */
  readonly uid: string
}

export interface FeedAlert extends Alert {
  /** An alert id opens and later resolves: one entry each. */
  readonly uid: string
}

export interface LiveState {
  status: LiveStatus
  serverTime: string | null
  counters: Counters | null
  ring: Ring
  alerts: FeedAlert[]
  events: TailEvent[]
  /** The event type shown in the tail; "" for all. */
  eventFilter: string
  /** Event types seen so far, sorted, for the filter's suggestions. */
  seenTypes: string[]
}

export interface LiveLimits {
  readonly ringSize: number
  readonly maxEvents: number
  readonly maxAlerts: number
  readonly maxTypes: number
}

export const defaultLimits: LiveLimits = { ringSize: 300, maxEvents: 200, maxAlerts: 100, maxTypes: 200 }

const emptyRing = (): Ring => ({ t: [], ingest: [], processed: [], p50: [], p99: [] })

const tailEvent = (event: StoredEvent): TailEvent => ({
  ...event,
  uid: `${event.topic}/${event.partition}/${event.offset}`
})

const feedAlert = (alert: Alert): FeedAlert => ({ ...alert, uid: `${alert.id}/${alert.status}` })

const epoch = (time: string) => Date.parse(time) || 0

const newestFirst = (a: { time: string }, b: { time: string }) => epoch(b.time) - epoch(a.time)

/** Puts `incoming` (newest first) before `current`, drops uids already there, keeps `max`. */
const prepend = <A extends { uid: string }>(
  incoming: ReadonlyArray<A>,
  current: ReadonlyArray<A>,
  max: number
) => {
  const seen = new Set<string>()
  const merged: A[] = []
  for (const item of [...incoming, ...current]) {
    if (seen.has(item.uid)) continue
    seen.add(item.uid)
    merged.push(item)
    if (merged.length === max) break
  }
  return merged
}

const push = <A>(column: ReadonlyArray<A>, value: A, size: number) => {
  const next = column.length >= size ? column.slice(column.length - size + 1) : column.slice()
  next.push(value)
  return next
}

export const createLiveStore = (limits: LiveLimits = defaultLimits) => {
  const [state, setState] = createStore<LiveState>({
    status: "connecting",
    serverTime: null,
    counters: null,
    ring: emptyRing(),
    alerts: [],
    events: [],
    eventFilter: "",
    seenTypes: []
  })
  let lastTickNumber = Number.NEGATIVE_INFINITY
  const seenTickIds = new Set<string>()
  const seenTickOrder: string[] = []

  /** True when the id is new. Ids are epoch milliseconds: an older one is a replay too. */
  const claimTickId = (id: string) => {
    if (id === "") return true
    if (seenTickIds.has(id)) return false
    const n = Number(id)
    if (Number.isFinite(n)) {
      if (n <= lastTickNumber) return false
      lastTickNumber = n
    }
    seenTickIds.add(id)
    seenTickOrder.push(id)
    if (seenTickOrder.length > limits.ringSize * 2) seenTickIds.delete(seenTickOrder.shift()!)
    return true
  }

  const noteTypes = (events: ReadonlyArray<StoredEvent>) => {
    const known = new Set(state.seenTypes)
    const fresh = events.map((e) => e.type).filter((type) => type && !known.has(type))
    if (fresh.length === 0) return
    const all = [...new Set([...known, ...fresh])].sort()
    setState("seenTypes", all.slice(0, limits.maxTypes))
  }

  const shown = (events: ReadonlyArray<StoredEvent>) =>
    state.eventFilter === "" ? events : events.filter((e) => e.type === state.eventFilter)

  const addEvents = (events: ReadonlyArray<StoredEvent>) => {
    noteTypes(events)
    const incoming = shown(events).map(tailEvent)
    if (incoming.length === 0) return
    setState("events", reconcile(prepend(incoming, unwrap(state.events), limits.maxEvents), { key: "uid" }))
  }

  const addAlerts = (alerts: ReadonlyArray<Alert>) => {
    if (alerts.length === 0) return
    const incoming = [...alerts].sort(newestFirst).map(feedAlert)
    setState("alerts", reconcile(prepend(incoming, unwrap(state.alerts), limits.maxAlerts), { key: "uid" }))
  }

  return {
    state,
    setStatus: (status: LiveStatus) => setState("status", status),
    setServerTime: (time: string) => setState("serverTime", time),

    /** Applies one tick; false when its id was already seen (a replay after a reconnect). */
    applyTick: (id: string, tick: Tick): boolean => {
      if (!claimTickId(id)) return false
      const size = limits.ringSize
      const ring = unwrap(state.ring)
      const parsed = Date.parse(tick.time)
      const x = (Number.isFinite(parsed) ? parsed : Number(id) || Date.now()) / 1000
      setState("serverTime", tick.time)
      setState(
        "counters",
        reconcile({
          ingestRate: tick.ingestRate,
          processedRate: tick.processedRate,
          ackP50Ms: tick.ackP50Ms,
          ackP99Ms: tick.ackP99Ms,
          lag: tick.lag,
          accepted: tick.accepted,
          duplicates: tick.duplicates,
          rejected: tick.rejected,
          processed: tick.processed
        })
      )
      setState("ring", {
        t: push(ring.t, x, size),
        ingest: push(ring.ingest, tick.ingestRate, size),
        processed: push(ring.processed, tick.processedRate, size),
        p50: push(ring.p50, tick.ackP50Ms, size),
        p99: push(ring.p99, tick.ackP99Ms, size)
      })
      // Within one tick the order is by event time, newest first; across ticks, by arrival.
      addEvents([...(tick.events ?? [])].sort(newestFirst))
      addAlerts(tick.alerts ?? [])
      return true
    },

    /** The initial GET /v1/alerts (newest first): merged after anything ticks brought already. */
    loadAlerts: (alerts: ReadonlyArray<Alert>) => {
      const loaded = alerts.map(feedAlert)
      setState("alerts", reconcile(prepend(unwrap(state.alerts), loaded, limits.maxAlerts), { key: "uid" }))
    },

    /** GET /v1/events/recent for `type` (newest first); ignored if the filter changed meanwhile. */
    loadEvents: (type: string, events: ReadonlyArray<StoredEvent>) => {
      if (type !== state.eventFilter) return
      noteTypes(events)
      const loaded = shown(events).map(tailEvent)
      setState("events", reconcile(prepend(unwrap(state.events), loaded, limits.maxEvents), { key: "uid" }))
    },

    /** Shows only `type` ("" for all) from now on; the caller refetches the recent events. */
    setEventFilter: (type: string) => {
      const next = type.trim()
      if (next === state.eventFilter) return false
      setState({ eventFilter: next, events: [] })
      return true
    }
  }
}

export type LiveStore = ReturnType<typeof createLiveStore>
