/**
 * infra/docker/Dockerfile, checked statically (no Docker engine here): its stages, what the final
 * image runs and as whom, that every COPY source exists (and is not dockerignored) or comes from the
 * build stage, that `npm ci` sees every workspace manifest, and that the production install
 * (`npm ci --omit=dev --workspace packages/cli`) holds every package the services import.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { builtinModules } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../", import.meta.url))
const repoFile = (path: string) => readFileSync(join(root, path), "utf8")
const readJson = (path: string) => JSON.parse(repoFile(path))

interface Instruction {
  readonly keyword: string
  readonly args: string
  /** --flag=value options (COPY --from=..., HEALTHCHECK --interval=...). */
  readonly flags: Record<string, string>
  /** The arguments after the flags. */
  readonly rest: string
}
interface Stage {
  readonly image: string
  readonly name: string | undefined
  readonly instructions: Instruction[]
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
export const parseDockerfile = (text: string): { args: Record<string, string>; stages: Stage[] } => {
  const logical: string[] = []
  let current = ""
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd()
    if (current === "" && /^\s*#/.test(line)) continue
    if (current !== "" && /^\s*#/.test(line)) continue // comment lines inside a continuation
    if (line.endsWith("\\")) {
      current += `${line.slice(0, -1)} `
      continue
    }
    current += line
    if (current.trim() !== "") logical.push(current.trim())
    current = ""
  }
  const globalArgs: Record<string, string> = {}
  const stages: Stage[] = []
  for (const line of logical) {
    const [, keyword = "", args = ""] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    const flags: Record<string, string> = {}
    let rest = args
    for (
      let m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
      m !== null;
      m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)
    ) {
      flags[m[1]!] = m[2] ?? "true"
      rest = rest.slice(m[0].length)
    }
    const instruction = { keyword: keyword.toUpperCase(), args, flags, rest }
    if (instruction.keyword === "FROM") {
      const [image = "", as, name] = rest.split(/\s+/)
      const resolved = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? "")
      stages.push({ image: resolved, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] })
    } else if (stages.length === 0) {
      if (instruction.keyword === "ARG") {
        const [key = "", value = ""] = rest.split("=")
        globalArgs[key] = value
      }
    } else {
      stages.at(-1)!.instructions.push(instruction)
    }
  }
  return { args: globalArgs, stages }
}

/** COPY/ADD sources and destination, exec (JSON) or shell form. */
const copyPaths = (i: Instruction): { sources: string[]; dest: string } => {
  const parts = i.rest.startsWith("[") ? (JSON.parse(i.rest) as string[]) : i.rest.split(/\s+/)
  return { sources: parts.slice(0, -1), dest: parts.at(-1)! }
}

/**
 * Docker's .dockerignore semantics (moby/patternmatcher): patterns in order, the last one that
 * matches a path or one of its parent folders decides; `!` re-includes; `**` spans folders.
 */
const dockerignore = (text: string) => {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negated = l.startsWith("!")
      const pattern = (negated ? l.slice(1) : l).trim().replace(/^\/+/, "").replace(/\/+$/, "")
      let regex = ""
      for (let k = 0; k < pattern.length; k++) {
        const c = pattern[k]!
        if (c === "*" && pattern[k + 1] === "*") {
          // `**/` matches zero or more folders; a trailing `**` anything
          if (pattern[k + 2] === "/") {
            regex += "(?:.*/)?"
            k += 2
          } else {
            regex += ".*"
            k += 1
          }
        } else if (c === "*") regex += "[^/]*"
        else if (c === "?") regex += "[^/]"
        else regex += c.replace(/[.+^${}()|[\]\\]/g, "\\$&")
      }
      return { negated, regex: new RegExp(`^${regex}$`) }
    })
  return (path: string): boolean => {
    const parts = path.replace(/^\.\//, "").replace(/\/+$/, "").split("/")
    const prefixes = parts.map((_, k) => parts.slice(0, k + 1).join("/"))
    let excluded = false
    for (const rule of rules) {
      if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.negated
    }
    return excluded
  }
}

const dockerfile = parseDockerfile(repoFile("infra/docker/Dockerfile"))
const ignored = dockerignore(repoFile("infra/docker/Dockerfile.dockerignore"))
const stages = dockerfile.stages
const final = stages.at(-1)!
const build = stages.find((s) => s.name === "build")!
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword)
const workdir = (stage: Stage) => of(stage, "WORKDIR").at(-1)?.rest

/** The workspaces of the root package.json, as folders (globs expanded on disk). */
const workspaces = (readJson("package.json").workspaces as string[]).flatMap((w) =>
  w.endsWith("/*")
    ? readdirSync(join(root, w.slice(0, -2)))
        .map((d) => `${w.slice(0, -2)}/${d}`)
        .filter((d) => existsSync(join(root, d, "package.json")))
    : [w]
)

describe("infra/docker/Dockerfile: stages", () => {
  it("is multi-stage: a build stage, then the runtime, both on node:20-bookworm-slim", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    expect(build).toBeDefined()
    expect(final).not.toBe(build)
    for (const stage of stages) expect(stage.image).toBe("node:20-bookworm-slim")
  })

  it("the build stage installs with `npm ci` (dev dependencies included) and builds the dashboard", () => {
    const runs = of(build, "RUN").map((r) => r.rest)
    const ci = runs.findIndex((r) => /\bnpm ci\b/.test(r))
    expect(ci).toBeGreaterThanOrEqual(0)
    expect(runs[ci]).not.toMatch(/--omit=dev|--production/)
    const buildRun = runs.findIndex((r) => /npm run build (-w|--workspace)[ =]dashboard\b/.test(r))
    expect(buildRun).toBeGreaterThan(ci)
  })

  it("the final stage installs production dependencies only, without infra's (the Pulumi SDKs)", () => {
    const ci = of(final, "RUN").filter((r) => /\bnpm ci\b/.test(r.rest))
    expect(ci).toHaveLength(1)
    expect(ci[0]!.rest).toMatch(/--omit=dev\b/)
    // limited to the cli workspace: see the dependency-closure test below
    expect(ci[0]!.rest).toMatch(/(--workspace|-w)[ =]packages\/cli\b/)
  })

  it("copies each workspace's package.json and the lock before each `npm ci`", () => {
    expect(workspaces).toEqual(expect.arrayContaining(["packages/cli", "dashboard", "infra"]))
    for (const stage of stages) {
      const ciAt = stage.instructions.findIndex((i) => i.keyword === "RUN" && /\bnpm ci\b/.test(i.rest))
      if (ciAt < 0) continue
      const copied = stage.instructions
        .slice(0, ciAt)
        .filter((i) => i.keyword === "COPY" && i.flags.from === undefined)
        .flatMap((i) => {
          const { sources, dest } = copyPaths(i)
          return sources.map((s) => ({ source: s, dest }))
        })
      const sources = copied.map((c) => c.source)
      expect(sources, stage.name).toEqual(expect.arrayContaining(["package.json", "package-lock.json"]))
      for (const ws of workspaces) {
        const entry = copied.find((c) => c.source === `${ws}/package.json`)
        expect(entry, `${stage.name ?? "final"}: ${ws}/package.json`).toBeDefined()
        // to the same place in the image
        expect([`${ws}/`, `${ws}/package.json`, `./${ws}/`]).toContain(entry!.dest)
      }
    }
  })

  it("never copies the whole context (`COPY . .`) into the final stage", () => {
    for (const copy of of(final, "COPY")) {
      for (const source of copyPaths(copy).sources) expect(source).not.toMatch(/^\.\/?$/)
    }
  })

  it("every COPY source exists in the repo and is not dockerignored, or is built by the build stage", () => {
    const viteConfig = repoFile("dashboard/vite.config.ts")
    for (const stage of stages) {
      for (const copy of [...of(stage, "COPY"), ...of(stage, "ADD")]) {
        for (const source of copyPaths(copy).sources) {
          if (copy.flags.from !== undefined) {
            // only the dashboard's build output is taken from the build stage
            expect(copy.flags.from).toBe("build")
            expect(source).toBe(`${workdir(build)}/dashboard/dist`)
            expect(viteConfig).toMatch(/outDir: "dist"/)
            continue
          }
          expect(existsSync(join(root, source)), `${source} exists`).toBe(true)
          expect(ignored(source), `${source} is dockerignored`).toBe(false)
        }
      }
    }
  })

  it("the dockerignore keeps out what must not be sent: local installs, data, git, secrets, docs", () => {
    for (const path of [
      "node_modules",
      "packages/cli/node_modules",
      "dashboard/dist",
      ".eventflow",
      "packages/cli/.eventflow",
      ".git",
      "test-output",
      "docs",
      "loadtest/src/cli.ts",
      "loadtest/scenarios/steady.json",
      "Pulumi.local.yaml",
      "infra/index.ts",
      "infra/src/local/index.ts",
      "packages/cli/test",
      ".env"
    ]) {
      expect(ignored(path), path).toBe(true)
    }
    for (const path of [
      "infra/package.json",
      "loadtest/package.json",
      "packages/cli/src/bin.ts",
      "packages/stream/examples",
      "dashboard/src",
      "package-lock.json",
      "tsconfig.json"
    ]) {
      expect(ignored(path), path).toBe(false)
    }
  })
})

describe("infra/docker/Dockerfile: the final image", () => {
  it("runs as `node`", () => {
    const users = of(final, "USER")
    expect(users.at(-1)?.rest).toBe("node")
  })

  it("runs packages/cli/src/bin.ts through tsx, `ingest` by default, EVENTFLOW_ROLE replacing the default", () => {
    const entrypoint = JSON.parse(of(final, "ENTRYPOINT").at(-1)!.rest) as string[]
    expect(JSON.parse(of(final, "CMD").at(-1)!.rest)).toEqual(["ingest"])
    expect(existsSync(join(root, "packages/cli/src/bin.ts"))).toBe(true)
    expect(workdir(final)).toBe(workdir(build))
    // The entrypoint runs with a stand-in `node` that prints its arguments: what would node run?
    const bin = mkdtempSync(join(tmpdir(), "eventflow-entrypoint-"))
    writeFileSync(join(bin, "node"), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done\n`, {
      mode: 0o755
    })
    const run = (args: string[], role?: string) => {
      const [program, ...rest] = entrypoint
      const env = { PATH: `${bin}:/usr/bin:/bin`, ...(role === undefined ? {} : { EVENTFLOW_ROLE: role }) }
      return execFileSync(program!, [...rest, ...args], { env, encoding: "utf8" })
        .split("\n")
        .filter(Boolean)
    }
    try {
      const node = (...command: string[]) => ["--import", "tsx", "packages/cli/src/bin.ts", ...command]
      expect(run(["ingest"])).toEqual(node("ingest"))
      expect(run(["ingest"], "")).toEqual(node("ingest"))
      expect(run(["process"])).toEqual(node("process"))
      // Elastic Beanstalk: the default command, the role from the environment
      expect(run(["ingest"], "query")).toEqual(node("query"))
      expect(run(["ingest"], "process")).toEqual(node("process"))
      // an explicit command wins
      expect(run(["process"], "query")).toEqual(node("process"))
      expect(run(["keys", "create", "--source", "web app"], "query")).toEqual(
        node("keys", "create", "--source", "web app")
      )
    } finally {
      rmSync(bin, { recursive: true, force: true })
    }
    // node replaces the shell (PID 1 gets SIGTERM)
    expect(entrypoint.join(" ")).toMatch(/exec node --import tsx packages\/cli\/src\/bin\.ts "\$@"/)
  })

  it("sets NODE_ENV=production, EVENTFLOW_HOST=0.0.0.0, PORT=8080 and exposes 8080", () => {
    const env = of(final, "ENV")
      .map((e) => e.rest)
      .join(" ")
    expect(env).toMatch(/\bNODE_ENV=production\b/)
    expect(env).toMatch(/\bEVENTFLOW_HOST=0\.0\.0\.0\b/)
    expect(env).toMatch(/\bPORT=8080\b/)
    expect(of(final, "EXPOSE").map((e) => e.rest)).toEqual(["8080"])
  })

  it("has a HEALTHCHECK on /healthz at PORT, with node's fetch", () => {
    const [healthcheck] = of(final, "HEALTHCHECK")
    expect(healthcheck).toBeDefined()
    expect(healthcheck!.rest).toMatch(/^CMD node -e /)
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, for /bin/sh
    expect(healthcheck!.rest).toContain("fetch('http://127.0.0.1:${PORT:-8080}/healthz')")
  })

  it("copies the services' sources, the built dashboard and tsconfig.json", () => {
    const copied = of(final, "COPY").flatMap((c) => copyPaths(c).sources)
    expect(copied).toEqual(expect.arrayContaining(["packages/", "tsconfig.json", "/app/dashboard/dist"]))
  })
})

describe("the production install", () => {
  it("tsx is a dependency of packages/cli (not a devDependency), with the root's range", () => {
    const cli = readJson("packages/cli/package.json")
    expect(cli.dependencies.tsx).toBe(readJson("package.json").devDependencies.tsx)
    expect(cli.devDependencies?.tsx).toBeUndefined()
    expect(readJson("package-lock.json").packages["packages/cli"].dependencies.tsx).toBe(cli.dependencies.tsx)
  })

  it("`--workspace packages/cli` installs every package the services' sources import", () => {
    const byName = new Map(
      workspaces.map((ws) => [readJson(`${ws}/package.json`).name as string, ws] as const)
    )
    // The workspaces packages/cli depends on (production dependencies only), transitively.
    const closure = new Set<string>()
    const visit = (ws: string) => {
      if (closure.has(ws)) return
      closure.add(ws)
      for (const dep of Object.keys(readJson(`${ws}/package.json`).dependencies ?? {})) {
        const target = byName.get(dep)
        if (target !== undefined) visit(target)
      }
    }
    visit("packages/cli")
    expect([...closure].sort()).toEqual([
      "packages/backends",
      "packages/cli",
      "packages/core",
      "packages/ingest",
      "packages/query",
      "packages/stream",
      "packages/telemetry"
    ])
    const installed = new Set(
      [...closure].flatMap((ws) => Object.keys(readJson(`${ws}/package.json`).dependencies ?? {}))
    )
    const builtins = new Set(builtinModules)
    const sources = (dir: string): string[] =>
      readdirSync(join(root, dir)).flatMap((f) => {
        const path = `${dir}/${f}`
        if (statSync(join(root, path)).isDirectory()) return sources(path)
        return /\.(ts|mts|mjs|js)$/.test(f) && !/\.test\.[mc]?[tj]s$/.test(f) ? [path] : []
      })
    const files = [...closure]
      .flatMap((ws) => sources(`${ws}/src`))
      .concat(sources("packages/stream/examples"))
    expect(files.length).toBeGreaterThan(20)
    const missing: string[] = []
    for (const file of files) {
      const text = repoFile(file)
      for (const m of text.matchAll(
        /(?:^|\n)\s*(?:import|export)(?!\s+type\b)[^"'`;]*?from\s+["']([^"']+)["']/g
      )) {
        const specifier = m[1]!
        if (specifier.startsWith(".") || specifier.startsWith("node:") || builtins.has(specifier)) continue
        const name = specifier.startsWith("@")
          ? specifier.split("/").slice(0, 2).join("/")
          : specifier.split("/")[0]!
        if (!installed.has(name)) missing.push(`${file}: ${specifier}`)
      }
    }
    expect(missing).toEqual([])
    // none of the Pulumi SDKs (the infra workspace) in the runtime's dependency closure
    expect([...installed].filter((n) => n.startsWith("@pulumi/"))).toEqual([])
  })
})
