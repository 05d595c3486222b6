// Wires the data layer once: the API client, the live stream into the live store, the polled
// snapshots and the pipeline details. Components get this object and only read from it.
import { createEffect, on, onCleanup } from "solid-js"
import { createApi, type FetchLike } from "./api.ts"
import type { Auth } from "./auth.ts"
import { connectLive, type LiveOptions } from "./live.ts"
import { createLiveStore } from "./liveStore.ts"
import { createPipelineDetails } from "./pipelines.ts"
import { createPolled } from "./polled.ts"
import type { Pipeline } from "./types.ts"

export interface DashboardOptions {
  readonly baseUrl: string
  readonly fetch: FetchLike
  readonly auth: Auth
  /** Overrides for tests: backoff and stall detection of the live stream. */
  readonly live?: Pick<LiveOptions, "backoff" | "stallMs" | "offlineAfter">
  readonly intervals?: { readonly health?: number; readonly topics?: number; readonly pipelines?: number }
  /** Minimum time between two refetches of one pipeline's series and top keys. */
  readonly detailMinIntervalMs?: number
}

export const INITIAL_ALERTS = 50
export const INITIAL_EVENTS = 50

/** Must run under a Solid owner (a component or createRoot): it stops everything on cleanup. */
export const createDashboard = (options: DashboardOptions) => {
  const { auth } = options
  const api = createApi({
    baseUrl: options.baseUrl,
    fetch: options.fetch,
    token: auth.token,
    onUnauthorized: auth.unauthorized
  })
  const live = createLiveStore()

  const health = createPolled({
    load: api.health,
    intervalMs: options.intervals?.health ?? 3_000,
    key: "name"
  })
  const topics = createPolled({
    load: api.topics,
    intervalMs: options.intervals?.topics ?? 3_000,
    key: "name"
  })

  const pipelineByName = (name: string): Pipeline | undefined =>
    pipelines.state.data?.pipelines.find((p) => p.name === name)
  const details = createPipelineDetails({
    api,
    pipeline: pipelineByName,
    ...(options.detailMinIntervalMs === undefined ? {} : { minIntervalMs: options.detailMinIntervalMs })
  })
  const known = new Set<string>()
  const pipelines = createPolled({
    load: async () => ({ pipelines: await api.pipelines() }),
    intervalMs: options.intervals?.pipelines ?? 5_000,
    key: "name",
    onData: (data) => {
      // A pipeline seen for the first time gets its chart now; afterwards the ticks decide.
      for (const p of data.pipelines) {
        if (known.has(p.name)) continue
        known.add(p.name)
        details.request(p.name)
      }
      details.retain(data.pipelines.map((p) => p.name))
    }
  })

  const connection = connectLive({
    ...options.live,
    open: ({ headers, signal }) => api.send("/v1/live", { headers, signal, cache: "no-store" }),
    onHello: (hello) => live.setServerTime(hello.serverTime),
    onStatus: live.setStatus,
    onTick: (id, tick) => {
      if (!live.applyTick(id, tick)) return
      for (const name of new Set((tick.rows ?? []).map((row) => row.pipeline))) {
        if (known.has(name)) details.request(name)
      }
    }
  })

  const loadAlerts = () =>
    api.alerts(INITIAL_ALERTS).then(live.loadAlerts, () => {
      // shown elsewhere: the health banner says when the API is unreachable
    })
  const loadEvents = () => {
    const type = live.state.eventFilter
    return api.recentEvents(INITIAL_EVENTS, type === "" ? undefined : type).then(
      (events) => live.loadEvents(type, events),
      () => {}
    )
  }
  void loadAlerts()
  void loadEvents()

  const refreshAll = () => {
    health.refresh()
    topics.refresh()
    pipelines.refresh()
    connection.restart()
    void loadAlerts()
    void loadEvents()
  }

  // A new token, or the API back after being unreachable: load everything again.
  createEffect(on(auth.token, refreshAll, { defer: true }))
  createEffect(
    on(
      () => health.state.unreachable,
      (unreachable, was) => {
        if (was && !unreachable) {
          void loadAlerts()
          void loadEvents()
        }
      },
      { defer: true }
    )
  )

  onCleanup(() => {
    connection.stop()
    health.stop()
    topics.stop()
    pipelines.stop()
    details.stop()
  })

  return {
    baseUrl: options.baseUrl,
    auth,
    live,
    health,
    topics,
    pipelines,
    details: details.details,
    setEventFilter: (type: string) => {
      if (live.setEventFilter(type)) void loadEvents()
    }
  }
}

export type Dashboard = ReturnType<typeof createDashboard>
