/**
 * Process metrics: event-loop delay and utilization, heap, resident memory, CPU time and garbage
 * collection pauses. Read when /metrics is scraped; the GC observer and the event-loop monitor
 * start with the first scrape and run for the life of the process.
 */
import {
  constants,
  monitorEventLoopDelay,
  type PerformanceEntry,
  PerformanceObserver,
  performance
} from "node:perf_hooks"
import { getHeapStatistics } from "node:v8"
import * as M from "./Metrics.ts"

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
  [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
}

let state:
  | {
      readonly delay: ReturnType<typeof monitorEventLoopDelay>
      utilization: ReturnType<typeof performance.eventLoopUtilization>
      cpu: NodeJS.CpuUsage
    }
  | undefined

const VERSION = "0.1.0"

const start = () => {
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as ReadonlyArray<
      PerformanceEntry & { detail?: { kind?: number } }
    >) {
      const kind = GC_KINDS[entry.detail?.kind ?? -1] ?? "other"
      M.processGc(kind).unsafeUpdate(entry.duration / 1000, [])
    }
  })
  observer.observe({ entryTypes: ["gc"] })
  M.processStart.unsafeUpdate(Math.round(Date.now() / 1000 - process.uptime()), [])
  M.buildInfo(VERSION, process.version).unsafeUpdate(1, [])
  // The CPU counter starts from the process's start, not the first scrape.
  return { delay, utilization: performance.eventLoopUtilization(), cpu: { user: 0, system: 0 } }
}

/** Starts the event-loop monitor and the GC observer (once per process). */
export const startProcessMetrics = () => {
  if (state === undefined) state = start()
  return state
}

/** Brings the process gauges up to date (called before each scrape). */
export const refreshProcessMetrics = () => {
  const state = startProcessMetrics()
  const { delay } = state
  if (delay.count > 0) {
    M.processEventLoopDelay("0.5").unsafeUpdate(delay.percentile(50) / 1e9, [])
    M.processEventLoopDelay("0.9").unsafeUpdate(delay.percentile(90) / 1e9, [])
    M.processEventLoopDelay("0.99").unsafeUpdate(delay.percentile(99) / 1e9, [])
    M.processEventLoopDelay("1").unsafeUpdate(delay.max / 1e9, [])
    delay.reset()
  }
  const utilization = performance.eventLoopUtilization()
  M.processEventLoopUtilization.unsafeUpdate(
    performance.eventLoopUtilization(utilization, state.utilization).utilization,
    []
  )
  state.utilization = utilization
  const memory = process.memoryUsage()
  M.processHeapUsed.unsafeUpdate(memory.heapUsed, [])
  M.processHeapTotal.unsafeUpdate(memory.heapTotal, [])
  M.processExternal.unsafeUpdate(memory.external, [])
  M.processResident.unsafeUpdate(memory.rss, [])
  M.processHeapLimit.unsafeUpdate(getHeapStatistics().heap_size_limit, [])
  const cpu = process.cpuUsage()
  const used = (cpu.user - state.cpu.user + cpu.system - state.cpu.system) / 1e6
  M.processCpu.unsafeUpdate(used, [])
  state.cpu = cpu
}
