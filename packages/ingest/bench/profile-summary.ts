/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): the functions with the most self time (file:line),
 * the share of self time by package (node_modules/<pkg>, node internals, V8 builtins, our packages),
 * and the functions with the most inclusive time.
 *
 *   npx tsx packages/ingest/bench/profile-summary.ts <file.cpuprofile | folder>
 *       [--top 25] [--inclusive 15] [--phase max|half|all]
 *
 * A folder: its newest main-thread profile (thread 0 in the file name). The benchmark writes the
 * times of its measured windows in phases.json next to the profile folder; `--phase` (default: max
 * when that file exists) keeps only the samples of that window, so start-up is left out.
 *
 * tsx runs TypeScript through esbuild with whitespace minified: every function of a .ts file is on
 * line 1 and arrow functions have no name. Their positions are mapped back to the source by running
 * the same esbuild transform (esbuild comes with tsx) and reading its source map; the name shown is
 * then the start of the source line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
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
  /** Microseconds of the monotonic clock, the one of process.hrtime(). */
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

/** A window of the monotonic clock, in microseconds. */
export interface TimeWindow {
  readonly fromUs: number
  readonly toUs: number
}

/** Maps a generated position of a TypeScript file to its source line (1-based) and that line's text. */
export type SourceMapper = (
  path: string,
  line: number,
  column: number
) => { readonly line: number; readonly text: string } | undefined

const SPECIAL = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"])

const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)))

const pathOf = (url: string) => (url.startsWith("file://") ? fileURLToPath(url) : url)

/** Which package a frame belongs to. */
export const bucketOf = (frame: CallFrame, root: string): string => {
  if (SPECIAL.has(frame.functionName)) return frame.functionName
  const url = frame.url
  if (url === "") return "(V8 builtins / native)"
  if (url.startsWith("node:")) return "node internals"
  const path = pathOf(url)
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

// ---------------------------------------------------------------------------------------------
// Source maps of tsx's transform

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
const BASE64_VALUE = new Map([...BASE64].map((c, i) => [c, i]))

/** Decodes source map `mappings`: per generated line, [column, source, line, column] (0-based). */
export const decodeMappings = (mappings: string): number[][][] => {
  const lines: number[][][] = []
  let source = 0
  let sourceLine = 0
  let sourceColumn = 0
  for (const lineText of mappings.split(";")) {
    const segments: number[][] = []
    let column = 0
    for (const segment of lineText.split(",")) {
      if (segment === "") continue
      const values: number[] = []
      let value = 0
      let shift = 0
      for (const char of segment) {
        const digit = BASE64_VALUE.get(char) ?? 0
        value += (digit & 31) << shift
        if (digit & 32) shift += 5
        else {
          values.push(value & 1 ? -(value >>> 1) : value >>> 1)
          value = 0
          shift = 0
        }
      }
      column += values[0] ?? 0
      if (values.length >= 4) {
        source += values[1]!
        sourceLine += values[2]!
        sourceColumn += values[3]!
        segments.push([column, source, sourceLine, sourceColumn])
      }
    }
    lines.push(segments)
  }
  return lines
}

/** Repeats tsx's esbuild transform (same options) to map positions back; undefined without esbuild. */
export const makeTsxSourceMapper = async (): Promise<SourceMapper | undefined> => {
  let esbuild: typeof import("esbuild")
  try {
    esbuild = await import("esbuild")
  } catch {
    return undefined
  }
  const cache = new Map<string, { mappings: number[][][]; source: string[] } | undefined>()
  const load = (path: string) => {
    if (cache.has(path)) return cache.get(path)
    let entry: { mappings: number[][][]; source: string[] } | undefined
    try {
      const text = readFileSync(path, "utf8")
      const out = esbuild.transformSync(text, {
        target: `node${process.versions.node}`,
        loader: "default",
        format: "esm",
        sourcefile: path,
        sourcemap: true,
        sourcesContent: false,
        minifyWhitespace: true,
        keepNames: true
      })
      const map = JSON.parse(out.map) as { mappings: string }
      entry = { mappings: decodeMappings(map.mappings), source: text.split("\n") }
    } catch {
      entry = undefined
    }
    cache.set(path, entry)
    return entry
  }
  return (path, line, column) => {
    const entry = load(path)
    const segments = entry?.mappings[line]
    if (entry === undefined || segments === undefined) return undefined
    let best: number[] | undefined
    for (const segment of segments) {
      if (segment[0]! > column) break
      best = segment
    }
    if (best === undefined) return undefined
    const sourceLine = best[2]!
    return { line: sourceLine + 1, text: (entry.source[sourceLine] ?? "").trim() }
  }
}

/** A readable name for an anonymous function, from its source line. */
const nameFromSource = (text: string): string => {
  const declared = /^(?:export\s+)?(?:const|let|var|function\*?|async\s+function)\s+([A-Za-z0-9_$]+)/.exec(
    text
  )
  if (declared !== null) return declared[1]!
  const member = /^([A-Za-z0-9_$]+)\s*[:=]\s*(?:async\s*)?(?:\(|[A-Za-z0-9_$]+\s*=>|function)/.exec(text)
  if (member !== null) return member[1]!
  return `(anonymous) ${text.length > 50 ? `${text.slice(0, 50)}…` : text}`
}

// ---------------------------------------------------------------------------------------------

export interface ProfileSummary {
  readonly durationMs: number
  readonly sampledMs: number
  readonly idleMs: number
  readonly functions: ReadonlyArray<FunctionTime>
  readonly buckets: ReadonlyArray<{ readonly bucket: string; readonly selfMs: number }>
  readonly lines: (topFunctions: number, topInclusive: number, topBuckets?: number) => string[]
}

export const summarizeProfile = (
  profile: CpuProfile,
  options: { readonly root?: string; readonly mapper?: SourceMapper; readonly window?: TimeWindow } = {}
): ProfileSummary => {
  const root = options.root ?? repoRoot
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)

  const functions = new Map<string, FunctionTime>()
  const keyOfNode = new Map<number, string>()
  for (const node of profile.nodes) {
    const f = node.callFrame
    const key = `${f.functionName}|${f.url}|${f.lineNumber}|${f.columnNumber}`
    keyOfNode.set(node.id, key)
    if (functions.has(key)) continue
    let name = f.functionName === "" ? "(anonymous)" : f.functionName
    let location = f.url === "" ? "(native)" : `${f.url}:${f.lineNumber + 1}`
    if (f.url !== "") {
      const path = pathOf(f.url)
      const modules = path.lastIndexOf("node_modules/")
      const shown = modules !== -1 ? path.slice(modules) : path.startsWith("/") ? relative(root, path) : path
      location = `${shown}:${f.lineNumber + 1}`
      if (modules === -1 && /\.[cm]?tsx?$/.test(path) && options.mapper !== undefined) {
        const mapped = options.mapper(path, f.lineNumber, f.columnNumber)
        if (mapped !== undefined) {
          location = `${shown}:${mapped.line}`
          if (f.functionName === "" || f.functionName === "__name") name = nameFromSource(mapped.text)
        }
      }
    }
    functions.set(key, { name, location, bucket: bucketOf(f, root), selfMs: 0, totalMs: 0 })
  }

  let sampledMs = 0
  let idleMs = 0
  const seen = new Set<string>()
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    if (options.window !== undefined && (at < options.window.fromUs || at >= options.window.toUs)) continue
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
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const key = keyOfNode.get(node)!
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
  const durationMs =
    options.window === undefined
      ? (profile.endTime - profile.startTime) / 1000
      : (Math.min(profile.endTime, options.window.toUs) -
          Math.max(profile.startTime, options.window.fromUs)) /
        1000
  const busyMs = sampledMs - idleMs

  const pct = (value: number, of: number) => (of > 0 ? `${((value / of) * 100).toFixed(1)} %` : "n/a")
  const seconds = (value: number) => `${(value / 1000).toFixed(2).padStart(6)} s`
  const lines = (topFunctions: number, topInclusive: number, topBuckets = 20) => {
    const out = [
      `${options.window === undefined ? "whole profile" : "window"}: ${(durationMs / 1000).toFixed(1)} s; ` +
        `idle ${(idleMs / 1000).toFixed(1)} s, busy ${(busyMs / 1000).toFixed(1)} s ` +
        `(${pct(busyMs, sampledMs)} of one core); shares below are of the busy time`,
      `top ${topFunctions} functions by self time:`
    ]
    for (const f of sorted.filter((f) => f.name !== "(idle)").slice(0, topFunctions)) {
      out.push(
        `  ${pct(f.selfMs, busyMs).padStart(6)} ${seconds(f.selfMs)}  ${f.name}  ${f.location}  [${f.bucket}]`
      )
    }
    out.push("self time by package:")
    for (const b of buckets.filter((b) => b.bucket !== "(idle)").slice(0, topBuckets)) {
      out.push(`  ${pct(b.selfMs, busyMs).padStart(6)} ${seconds(b.selfMs)}  ${b.bucket}`)
    }
    if (topInclusive > 0) {
      out.push(`top ${topInclusive} functions by inclusive time (with their callees):`)
      const inclusive = [...functions.values()]
        .filter((f) => !SPECIAL.has(f.name))
        .sort((a, b) => b.totalMs - a.totalMs)
        .slice(0, topInclusive)
      for (const f of inclusive) {
        out.push(`  ${pct(f.totalMs, busyMs).padStart(6)} ${seconds(f.totalMs)}  ${f.name}  ${f.location}`)
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

/** The windows the benchmark recorded (phases.json in the run folder), if any. */
export const readPhases = (profileFile: string): Record<string, TimeWindow> | undefined => {
  const file = join(dirname(dirname(profileFile)), "phases.json")
  if (!existsSync(file)) return undefined
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, TimeWindow>
}

const cli = async () => {
  // Piped into `head`: stop quietly when the reader goes away.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0)
    throw error
  })
  const { values, positionals } = parseArgs({
    options: { top: { type: "string" }, inclusive: { type: "string" }, phase: { type: "string" } },
    allowPositionals: true
  })
  const target = positionals[0]
  if (target === undefined || !existsSync(target)) {
    console.error(
      "usage: profile-summary.ts <file.cpuprofile | folder> [--top 25] [--inclusive 15] [--phase max|half|all]"
    )
    process.exit(2)
  }
  const file = resolveProfile(target)
  const phases = readPhases(file)
  const phase = values.phase ?? (phases?.max !== undefined ? "max" : "all")
  const window = phase === "all" ? undefined : phases?.[phase]
  if (phase !== "all" && window === undefined) {
    console.error(`no window '${phase}' recorded next to ${file}; use --phase all`)
    process.exit(2)
  }
  const mapper = await makeTsxSourceMapper()
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile
  const summary = summarizeProfile(profile, {
    ...(mapper !== undefined ? { mapper } : {}),
    ...(window !== undefined ? { window } : {})
  })
  console.log(`${relative(process.cwd(), file)} (${phase === "all" ? "whole profile" : `phase ${phase}`})`)
  if (mapper === undefined) console.log("(esbuild is not installed: TypeScript positions are not mapped)")
  for (const line of summary.lines(Number(values.top ?? 25), Number(values.inclusive ?? 15)))
    console.log(line)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  cli().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error))
    process.exit(1)
  })
}
