// The one page: live counters and charts, health and lag, pipelines, alerts and the event tail.
import { createSignal, For, onCleanup, Show } from "solid-js"
import { unwrap } from "solid-js/store"
import type uPlot from "uplot"
import type { Dashboard } from "../data/dashboard.ts"
import { AlertsFeed } from "../ui/AlertsFeed.tsx"
import { Banners } from "../ui/Banners.tsx"
import { Chart } from "../ui/Chart.tsx"
import { Counters } from "../ui/Counters.tsx"
import { EventTail } from "../ui/EventTail.tsx"
import { ago, ms, num } from "../ui/format.ts"
import { Header } from "../ui/Header.tsx"
import { HealthPanel } from "../ui/HealthPanel.tsx"
import { LagPanel } from "../ui/LagPanel.tsx"
import { Panel } from "../ui/Panel.tsx"
import { PipelineCard } from "../ui/PipelineCard.tsx"
import { TokenForm } from "../ui/TokenForm.tsx"

const GREEN = "#39ff14"
const CYAN = "#3cf0ff"
const AMBER = "#ffb000"

export const Overview = (props: { readonly dashboard: Dashboard }) => {
  const d = props.dashboard
  const live = d.live.state
  const [now, setNow] = createSignal(Date.now())
  const timer = setInterval(() => setNow(Date.now()), 1_000)
  onCleanup(() => clearInterval(timer))
  const [editingToken, setEditingToken] = createSignal(false)

  // uPlot reads plain arrays: unwrap the store's columns after reading them (which tracks them).
  const throughput = (): uPlot.AlignedData => [
    unwrap(live.ring.t),
    unwrap(live.ring.ingest),
    unwrap(live.ring.processed)
  ]
  const latency = (): uPlot.AlignedData => [unwrap(live.ring.t), unwrap(live.ring.p50), unwrap(live.ring.p99)]
  const unreachable = () => d.health.state.unreachable
  const pipelines = () => d.pipelines.state.data?.pipelines ?? []

  return (
    <div class="app">
      <Header
        status={live.status}
        serverTime={live.serverTime}
        apiBase={d.baseUrl}
        hasToken={d.auth.token() !== null}
        onToken={() => setEditingToken(true)}
      />
      <Banners
        health={d.health.state.data}
        unreachable={unreachable()}
        error={d.health.state.error}
        apiBase={d.baseUrl}
        lastOk={ago(d.health.state.updatedAt, now())}
      />
      <main class="grid">
        <Counters counters={live.counters} />
        <div class="row two">
          <Panel title="throughput" aside={<span class="aside">ev/s · last {live.ring.t.length}s</span>}>
            <Chart
              testid="throughput-chart"
              data={throughput}
              height={200}
              series={[
                { label: "ingest", color: GREEN, format: (v) => num(v) },
                { label: "processed", color: CYAN, format: (v) => num(v) }
              ]}
            />
          </Panel>
          <Panel title="ack latency" aside={<span class="aside">ms</span>}>
            <Chart
              testid="latency-chart"
              data={latency}
              height={200}
              yFormat={(v) => ms(v)}
              series={[
                { label: "p50", color: GREEN, format: (v) => ms(v) },
                { label: "p99", color: AMBER, format: (v) => ms(v) }
              ]}
            />
          </Panel>
        </div>
        <div class="row two">
          <HealthPanel health={d.health.state.data} stale={unreachable()} />
          <LagPanel topics={d.topics.state.data} stale={d.topics.state.error !== null} />
        </div>
        <Panel title="pipelines" aside={<span class="aside">{pipelines().length}</span>} class="pipelines">
          <div class="cards">
            <For
              each={pipelines()}
              fallback={<p class="empty">{d.pipelines.state.error ?? "no pipelines running"}</p>}
            >
              {(p) => <PipelineCard pipeline={p} detail={d.details[p.name]} />}
            </For>
          </div>
        </Panel>
        <div class="row two">
          <AlertsFeed alerts={live.alerts} />
          <EventTail
            events={live.events}
            filter={live.eventFilter}
            types={live.seenTypes}
            onFilter={d.setEventFilter}
          />
        </div>
      </main>
      <Show when={d.auth.required() || editingToken()}>
        <TokenForm
          rejected={d.auth.rejected()}
          onSubmit={(token) => {
            setEditingToken(false)
            d.auth.setToken(token)
          }}
          {...(d.auth.required() ? {} : { onCancel: () => setEditingToken(false) })}
        />
      </Show>
    </div>
  )
}
