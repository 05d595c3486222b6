import { For, Show } from "solid-js"
import type uPlot from "uplot"
import type { PipelineDetail } from "../data/pipelines.ts"
import type { Pipeline, PipelineWindow } from "../data/types.ts"
import { Chart } from "./Chart.tsx"
import { clock, compact, duration, int, num } from "./format.ts"

export const describeWindow = (w: PipelineWindow) => {
  const grace = `grace ${duration(w.graceMs)}`
  switch (w.kind) {
    case "tumbling":
      return `tumbling ${duration(w.sizeMs)} · ${grace}`
    case "hopping":
      return `hopping ${duration(w.sizeMs)} every ${duration(w.advanceMs)} · ${grace}`
    case "session":
      return `session gap ${duration(w.gapMs)} · ${grace}`
    default:
      return `${String((w as { kind: unknown }).kind)} · ${grace}`
  }
}

const Fact = (props: { readonly label: string; readonly value: string; readonly tone?: "warn" | "bad" }) => (
  <div class="fact" data-tone={props.tone}>
    <span class="muted">{props.label}</span> <b>{props.value}</b>
  </div>
)

export const PipelineCard = (props: {
  readonly pipeline: Pipeline
  readonly detail: PipelineDetail | undefined
}) => {
  const p = () => props.pipeline
  const seriesData = (): uPlot.AlignedData => {
    const points = props.detail?.points ?? []
    return [points.map((pt) => Date.parse(pt.windowStart) / 1000), points.map((pt) => pt.value)]
  }
  const topMax = () => Math.max(1e-9, ...(props.detail?.top ?? []).map((r) => Math.abs(r.value ?? 0)))
  return (
    <article class="card" data-testid={`pipeline-${p().name}`}>
      <header class="card-head">
        <b class="card-name">{p().name}</b>
        <span class="muted">{p().sources.join(", ")}</span>
      </header>
      <div class="card-line">{describeWindow(p().window)}</div>
      <div class="card-line aggs">
        <For each={p().aggregates}>
          {(a) => (
            <span class="agg" classList={{ charted: a.name === props.detail?.field }}>
              {a.name}
              <span class="muted">:{a.kind}</span>
            </span>
          )}
        </For>
      </div>
      <div class="facts">
        <Fact label="processed" value={int(p().processed)} />
        <Fact label="late" value={int(p().late)} {...(p().late > 0 ? { tone: "warn" as const } : {})} />
        <Fact label="poison" value={int(p().poison)} {...(p().poison > 0 ? { tone: "bad" as const } : {})} />
        <Fact label="lag" value={int(p().lag)} {...((p().lag ?? 0) > 0 ? { tone: "warn" as const } : {})} />
        <Fact label="keys" value={int(p().keysInLatestWindow)} />
        <Fact label="window" value={clock(p().latestWindowStart)} />
        <Fact label="watermark" value={clock(p().watermark)} />
        <Fact label="final ≤" value={clock(p().finalizedThrough)} />
      </div>
      <Show when={props.detail?.field} fallback={<p class="empty">no numeric aggregate</p>}>
        {(field) => (
          <>
            <div class="card-sub">
              Σ {field()} per window <span class="muted">({seriesData()[0].length})</span>
            </div>
            <Chart
              data={seriesData}
              series={[{ label: field(), color: "#39ff14", fill: true }]}
              height={120}
              spark
              testid={`pipeline-chart-${p().name}`}
            />
            <div class="card-sub">top keys · latest window</div>
            <ol class="top" data-testid={`pipeline-top-${p().name}`}>
              <For each={props.detail?.top ?? []} fallback={<li class="empty">none yet</li>}>
                {(row) => (
                  <li class="top-row">
                    <span class="top-key" title={row.key}>
                      {row.key}
                    </span>
                    <span class="bar">
                      <span
                        class="bar-fill"
                        style={{ width: `${(Math.abs(row.value ?? 0) / topMax()) * 100}%` }}
                      />
                    </span>
                    <span class="num" title={num(row.value)}>
                      {compact(row.value)}
                    </span>
                  </li>
                )}
              </For>
            </ol>
          </>
        )}
      </Show>
      <Show when={props.detail?.error}>
        <p class="error">{props.detail?.error}</p>
      </Show>
    </article>
  )
}
