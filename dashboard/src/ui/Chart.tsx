// A uPlot chart that follows its data accessor and the width of its container.
import { createEffect, onCleanup, onMount } from "solid-js"
import uPlot from "uplot"
import "uplot/dist/uPlot.min.css"
import { compact } from "./format.ts"

export interface ChartSeries {
  readonly label: string
  readonly color: string
  /** Area under the line, for single-series charts. */
  readonly fill?: boolean
  readonly format?: (value: number | null) => string
}

export interface ChartProps {
  readonly data: () => uPlot.AlignedData
  readonly series: ReadonlyArray<ChartSeries>
  readonly height: number
  readonly testid?: string
  /** Compact mode: no legend, thin axes (cards). */
  readonly spark?: boolean
  readonly yFormat?: (value: number) => string
}

const INK = "#8fd88a"
const GRID = "rgba(57, 255, 20, 0.10)"
const FONT = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace"

const pad = (n: number) => String(n).padStart(2, "0")

/** Time ticks in UTC, like the header's clock: HH:MM:SS, or HH:MM when the ticks are minutes apart. */
const timeTicks = (_u: uPlot, ticks: number[]) => {
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1
  return ticks.map((t) => {
    const d = new Date(t * 1000)
    const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`
    return step >= 60 ? hm : `${hm}:${pad(d.getUTCSeconds())}`
  })
}

/** Whole seconds at least: ticks arrive once a second. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400]

const fillOf = (color: string) => `${color}22`

const optionsFor = (props: ChartProps, width: number): uPlot.Options => {
  const yFormat = props.yFormat ?? compact
  const axis = (side: 0 | 1 | 2 | 3): uPlot.Axis => ({
    side,
    stroke: INK,
    font: FONT,
    grid: { stroke: GRID, width: 1 },
    ticks: { stroke: GRID, width: 1, size: 4 },
    ...(side === 3
      ? { values: (_u, ticks) => ticks.map((v) => yFormat(v)), size: props.spark ? 44 : 56 }
      : { values: timeTicks, incrs: TIME_STEPS, size: props.spark ? 28 : 36 })
  })
  return {
    width,
    height: props.height,
    padding: [8, 8, 0, 0],
    legend: { show: !props.spark, live: true },
    cursor: { points: { size: 6 }, drag: { x: false, y: false } },
    scales: {
      x: { time: true },
      y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] }
    },
    axes: [axis(2), axis(3)],
    series: [
      {},
      ...props.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          spanGaps: false,
          stroke: s.color,
          width: 2,
          ...(s.fill ? { fill: fillOf(s.color) } : {}),
          ...(s.format ? { value: (_u: uPlot, v: number | null) => s.format!(v) } : {})
        })
      )
    ]
  }
}

export const Chart = (props: ChartProps) => {
  let container!: HTMLDivElement
  const points = () => props.data()[0]?.length ?? 0

  onMount(() => {
    const widthOf = () => Math.max(120, Math.floor(container.clientWidth))
    const plot = new uPlot(optionsFor(props, widthOf()), props.data(), container)
    createEffect(() => plot.setData(props.data()))
    const resize = () => {
      const width = widthOf()
      if (width !== plot.width) plot.setSize({ width, height: props.height })
    }
    if (typeof ResizeObserver === "function") {
      const observer = new ResizeObserver(resize)
      observer.observe(container)
      onCleanup(() => observer.disconnect())
    } else {
      window.addEventListener("resize", resize)
      onCleanup(() => window.removeEventListener("resize", resize))
    }
    onCleanup(() => plot.destroy())
  })

  return (
    <div
      class="chart"
      classList={{ spark: props.spark === true }}
      ref={container}
      data-testid={props.testid}
      data-points={points()}
    />
  )
}
