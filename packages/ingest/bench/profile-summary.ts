/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): the functions with the most self time (file:line),
 * the share of self time by package (node_modules/<pkg>, node internals, V8 builtins, our packages),
 * and the functions with the most inclusive time.
 *
 *   npx tsx packages/ingest/bench/profile-summary.ts <file.cpuprofile | folder> [--top 25] [--inclusive 15]
 *
 * A folder: its newest main-thread profile (thread 0 in the file name). Line numbers of TypeScript
 * files are those of the code tsx ran (esbuild output, close to the source but not always equal).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parseArgs } from "node:util"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}

export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface FunctionTime {
  readonly name: string
  readonly location: string
  readonly bucket: string
  selfMs: number
  totalMs: number
}

const SPECIAL = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"])

const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)))

/** Which package a frame belongs to. */
export const bucketOf = (frame: CallFrame, root: string): string => {
  if (SPECIAL.has(frame.functionName)) return frame.functionName
  const url = frame.url
  if (url === "") return "(V8 builtins / native)"
  if (url.startsWith("node:")) return "node internals"
  const path = url.startsWith("file://") ? fileURLToPath(url) : url
  const modules = path.lastIndexOf("node_modules/")
  if (modules !== -1) {
    const rest = path.slice(modules + "node_modules/".length).split("/")
    const name = rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1] ?? ""}` : (rest[0] ?? "?")
    return `node_modules/${name}`
  }
  const inRepo = relative(root, path)
  const ours = /^packages\/([^/]+)\//.exec(inRepo)
  if (ours !== null) return `@eventflow/${ours[1]}`
  return inRepo.startsWith("..") ? "other files" : `repo: ${inRepo}`
}

const locationOf = (frame: CallFrame, root: string): string => {
  if (frame.url === "") return "(native)"
  const path = frame.url.startsWith("file://") ? fileURLToPath(frame.url) : frame.url
  const modules = path.lastIndexOf("node_modules/")
  const shown = modules !== -1 ? path.slice(modules) : path.startsWith("/") ? relative(root, path) : path
  return `${shown}:${frame.lineNumber + 1}`
}

export interface ProfileSummary {
  readonly durationMs: number
  readonly sampledMs: number
  readonly idleMs: number
  readonly functions: ReadonlyArray<FunctionTime>
  readonly buckets: ReadonlyArray<{ readonly bucket: string; readonly selfMs: number }>
  readonly lines: (topFunctions: number, topInclusive: number) => string[]
}

export const summarizeProfile = (profile: CpuProfile, root: string = repoRoot): ProfileSummary => {
  const byId = new Map<number, ProfileNode>()
  const parent = new Map<number, number>()
  for (const node of profile.nodes) {
    byId.set(node.id, node)
    for (const child of node.children ?? []) parent.set(child, node.id)
  }
  const functions = new Map<string, FunctionTime>()
  const keyOfNode = new Map<number, string>()
  for (const node of profile.nodes) {
    const f = node.callFrame
    const key = `${f.functionName}|${f.url}|${f.lineNumber}|${f.columnNumber}`
    keyOfNode.set(node.id, key)
    if (!functions.has(key)) {
      functions.set(key, {
        name: f.functionName === "" ? "(anonymous)" : f.functionName,
        location: locationOf(f, root),
        bucket: bucketOf(f, root),
        selfMs: 0,
        totalMs: 0
      })
    }
  }

  let sampledMs = 0
  let idleMs = 0
  const seen = new Set<string>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    // timeDeltas[i] is the time before sample i; the time of sample i is the next delta.
    const deltaMs = (profile.timeDeltas[i + 1] ?? 0) / 1000
    sampledMs += deltaMs
    const self = functions.get(keyOfNode.get(id) ?? "")
    if (self === undefined) continue
    self.selfMs += deltaMs
    if (self.name === "(idle)") idleMs += deltaMs
    // Inclusive time: each function once per sample, however often it recurs on the stack.
    seen.clear()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = keyOfNode.get(at)!
      if (seen.has(key)) continue
      seen.add(key)
      functions.get(key)!.totalMs += deltaMs
    }
  }

  const bucketTimes = new Map<string, number>()
  for (const f of functions.values()) bucketTimes.set(f.bucket, (bucketTimes.get(f.bucket) ?? 0) + f.selfMs)
  const buckets = [...bucketTimes.entries()]
    .map(([bucket, selfMs]) => ({ bucket, selfMs }))
    .filter((b) => b.selfMs > 0)
    .sort((a, b) => b.selfMs - a.selfMs)
  const sorted = [...functions.values()].sort((a, b) => b.selfMs - a.selfMs)
  const durationMs = (profile.endTime - profile.startTime) / 1000
  const busyMs = sampledMs - idleMs

  const pct = (value: number, of: number) => (of > 0 ? `${((value / of) * 100).toFixed(1)} %` : "n/a")
  const lines = (topFunctions: number, topInclusive: number) => {
    const out = [
      `profile: ${(durationMs / 1000).toFixed(1)} s; sampled ${(sampledMs / 1000).toFixed(1)} s, ` +
        `idle ${(idleMs / 1000).toFixed(1)} s, busy ${(busyMs / 1000).toFixed(1)} s (${pct(busyMs, sampledMs)} of the time)`,
      `top ${topFunctions} functions by self time (share of busy time):`
    ]
    for (const f of sorted.filter((f) => f.name !== "(idle)").slice(0, topFunctions)) {
      out.push(
        `  ${pct(f.selfMs, busyMs).padStart(7)} ${(f.selfMs / 1000).toFixed(2).padStart(7)} s  ${f.name}  ` +
          `${f.location}  [${f.bucket}]`
      )
    }
    out.push("self time by package (share of busy time):")
    for (const b of buckets.filter((b) => b.bucket !== "(idle)")) {
      out.push(
        `  ${pct(b.selfMs, busyMs).padStart(7)} ${(b.selfMs / 1000).toFixed(2).padStart(7)} s  ${b.bucket}`
      )
    }
    if (topInclusive > 0) {
      out.push(`top ${topInclusive} functions by inclusive time (own code and callees):`)
      const inclusive = [...functions.values()]
        .filter((f) => !SPECIAL.has(f.name) && f.name !== "(anonymous)")
        .sort((a, b) => b.totalMs - a.totalMs)
        .slice(0, topInclusive)
      for (const f of inclusive) {
        out.push(
          `  ${pct(f.totalMs, busyMs).padStart(7)} ${(f.totalMs / 1000).toFixed(2).padStart(7)} s  ${f.name}  ${f.location}`
        )
      }
    }
    return out
  }
  return { durationMs, sampledMs, idleMs, functions: sorted, buckets, lines }
}

/** The file itself, or the newest main-thread profile of a folder. */
export const resolveProfile = (target: string): string => {
  if (!statSync(target).isDirectory()) return target
  const files = readdirSync(target)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => join(target, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
  const main = files.find((f) => /\.0\.\d+\.cpuprofile$/.test(f)) ?? files[0]
  if (main === undefined) throw new Error(`no .cpuprofile in ${target}`)
  return main
}

const cli = () => {
  const { values, positionals } = parseArgs({
    options: { top: { type: "string" }, inclusive: { type: "string" } },
    allowPositionals: true
  })
  const target = positionals[0]
  if (target === undefined || !existsSync(target)) {
    console.error("usage: profile-summary.ts <file.cpuprofile | folder> [--top 25] [--inclusive 15]")
    process.exit(2)
  }
  const file = resolveProfile(target)
  const summary = summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile)
  console.log(`${relative(process.cwd(), file)}`)
  for (const line of summary.lines(Number(values.top ?? 25), Number(values.inclusive ?? 15)))
    console.log(line)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) cli()
