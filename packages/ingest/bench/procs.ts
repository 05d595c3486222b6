/** Child processes (start, stop, run to completion) and CPU accounting from /proc (Linux). */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { cpus } from "node:os"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export { freePort } from "@eventflow/testing/net"

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/** Resolves when the child has exited, or after `ms` with false. */
export const waitExit = (child: ChildProcess, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (exited(child)) return resolve(true)
    const timer = setTimeout(() => {
      child.off("exit", onExit)
      resolve(false)
    }, ms)
    const onExit = () => {
      clearTimeout(timer)
      resolve(true)
    }
    child.once("exit", onExit)
  })

/**
 * SIGTERM, then SIGKILL after `graceMs`. With `group`, the signals go to the child's process group
 * (a child started `detached`, e.g. a shell that runs java).
 */
export const stopChild = async (child: ChildProcess, graceMs = 10_000, group = false): Promise<string> => {
  if (exited(child) || child.pid === undefined) return "already exited"
  const signal = (name: NodeJS.Signals) => {
    try {
      if (group) process.kill(-child.pid!, name)
      else child.kill(name)
    } catch {
      // Already gone.
    }
  }
  signal("SIGTERM")
  if (await waitExit(child, graceMs)) return "stopped"
  signal("SIGKILL")
  await waitExit(child, 5_000)
  return `killed after ${graceMs / 1000} s`
}

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
}

/** Runs a command to completion, bounded by `timeoutMs` (then its whole process group is stopped). */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: {
    readonly cwd: string
    readonly env?: NodeJS.ProcessEnv
    readonly timeoutMs: number
    readonly onLine?: (line: string) => void
  }
): Promise<RunResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true
    })
    let stdout = ""
    let stderr = ""
    let partial = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      stdout += text
      if (options.onLine === undefined) return
      partial += text
      const lines = partial.split("\n")
      partial = lines.pop() ?? ""
      for (const line of lines) options.onLine(line)
    })
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      stderr += text
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      void stopChild(child, 5_000, true)
    }, options.timeoutMs)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      if (options.onLine !== undefined && partial !== "") options.onLine(partial)
      resolve({ code, stdout, stderr, timedOut })
    })
  })

// ---------------------------------------------------------------------------------------------
// CPU accounting

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

export const procAvailable = existsSync("/proc/stat")

/** utime + stime of a process, in seconds (undefined when it is gone or /proc is missing). */
export const processCpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The command name may contain spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export const machineCpuSeconds = (): { busy: number; total: number } | undefined => {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!
    const values = line.trim().split(/\s+/).slice(1).map(Number)
    const total = values.reduce((a, b) => a + b, 0)
    const idle = (values[3] ?? 0) + (values[4] ?? 0)
    return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS }
  } catch {
    return undefined
  }
}

/** Process ids whose command line satisfies `match`. */
export const findPids = (match: (cmdline: string, comm: string) => boolean): number[] => {
  if (!procAvailable) return []
  const found: number[] = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ").trim()
      const comm = readFileSync(`/proc/${entry}/comm`, "utf8").trim()
      if (match(cmdline, comm)) found.push(Number(entry))
    } catch {
      // The process went away meanwhile.
    }
  }
  return found
}

export interface CpuGroup {
  readonly name: string
  /** Resolved again at each snapshot (PostgreSQL forks a process per connection). */
  readonly pids: () => ReadonlyArray<number>
}

export interface CpuSnapshot {
  readonly at: number
  readonly machine: { busy: number; total: number } | undefined
  readonly perPid: ReadonlyMap<number, number>
  readonly groups: ReadonlyArray<{ readonly name: string; readonly pids: ReadonlyArray<number> }>
  /** Every other process: CPU seconds, to name the busiest of them. */
  readonly others: ReadonlyMap<number, number>
}

export const cpuSnapshot = (groups: ReadonlyArray<CpuGroup>): CpuSnapshot => {
  const perPid = new Map<number, number>()
  const resolved = groups.map((group) => {
    const pids = group.pids()
    for (const pid of pids) {
      const seconds = processCpuSeconds(pid)
      if (seconds !== undefined) perPid.set(pid, seconds)
    }
    return { name: group.name, pids }
  })
  const others = new Map<number, number>()
  for (const pid of findPids(() => true)) {
    if (perPid.has(pid)) continue
    const seconds = processCpuSeconds(pid)
    if (seconds !== undefined) others.set(pid, seconds)
  }
  return { at: performance.now(), machine: machineCpuSeconds(), perPid, groups: resolved, others }
}

export interface CpuUsage {
  readonly wallS: number
  /** Per group, in % of one core (200 % = both cores of a 2-core machine). */
  readonly processes: Record<string, number>
  /** The whole machine, in % of one core, and its capacity (cores × 100). */
  readonly machinePct: number | undefined
  readonly capacityPct: number
  /** What the groups do not explain (other processes, kernel work not charged to them). */
  readonly otherPct: number | undefined
  /** The busiest other processes (≥ 2 % of a core). */
  readonly topOthers: ReadonlyArray<{ readonly pid: number; readonly name: string; readonly pct: number }>
}

export const cpuUsage = (from: CpuSnapshot, to: CpuSnapshot): CpuUsage => {
  const wallS = (to.at - from.at) / 1000
  const processes: Record<string, number> = {}
  let sum = 0
  for (const group of to.groups) {
    let seconds = 0
    for (const pid of group.pids) {
      const end = to.perPid.get(pid)
      if (end === undefined) continue
      seconds += end - (from.perPid.get(pid) ?? end)
    }
    const pct = Math.round((seconds / wallS) * 1000) / 10
    processes[group.name] = pct
    sum += pct
  }
  const machinePct =
    from.machine !== undefined && to.machine !== undefined
      ? Math.round(((to.machine.busy - from.machine.busy) / wallS) * 1000) / 10
      : undefined
  const topOthers = [...to.others.entries()]
    .map(([pid, end]) => {
      const start = from.others.get(pid) ?? 0
      return { pid, name: commOf(pid), pct: Math.round(((end - start) / wallS) * 1000) / 10 }
    })
    .filter((p) => p.pct >= 2)
    .sort((a, b) => b.pct - a.pct)
    .slice(0, 4)
  return {
    wallS: Math.round(wallS * 100) / 100,
    processes,
    topOthers,
    machinePct,
    capacityPct: cpus().length * 100,
    otherPct: machinePct === undefined ? undefined : Math.round((machinePct - sum) * 10) / 10
  }
}

const commOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim()
  } catch {
    return "?"
  }
}

export interface Busy {
  /** Machine busy time, in % of one core. */
  readonly machinePct: number
  readonly capacityPct: number
  /** The busiest processes over the sample, in % of one core. */
  readonly top: ReadonlyArray<{ readonly pid: number; readonly name: string; readonly pct: number }>
}

/** What keeps the machine busy over `ms` (undefined without /proc). */
export const sampleBusy = async (ms: number): Promise<Busy | undefined> => {
  if (!procAvailable) return undefined
  const pids = findPids(() => true)
  const before = new Map(pids.map((pid) => [pid, processCpuSeconds(pid)]))
  const machineBefore = machineCpuSeconds()
  const at = performance.now()
  await sleep(ms)
  const wallS = (performance.now() - at) / 1000
  const machineAfter = machineCpuSeconds()
  if (machineBefore === undefined || machineAfter === undefined) return undefined
  const top = pids
    .map((pid) => {
      const start = before.get(pid)
      const end = processCpuSeconds(pid)
      const pct = start === undefined || end === undefined ? 0 : ((end - start) / wallS) * 100
      return { pid, name: commOf(pid), pct: Math.round(pct * 10) / 10 }
    })
    .filter((p) => p.pct >= 1)
    .sort((a, b) => b.pct - a.pct)
    .slice(0, 5)
  return {
    machinePct: Math.round(((machineAfter.busy - machineBefore.busy) / wallS) * 1000) / 10,
    capacityPct: cpus().length * 100,
    top
  }
}
