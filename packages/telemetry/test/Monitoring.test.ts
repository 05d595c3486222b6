/**
 * The monitoring stack in infra/monitoring (Prometheus, Grafana, Jaeger) is never run here (no
 * Docker on the development machines, none in CI), so it is checked statically: every metric and
 * label the Grafana dashboard's PromQL uses is one that `src/Metrics.ts` defines, the panels are well
 * formed, Prometheus scrapes the three services, and the compose services mount files that exist.
 *
 * Metrics.ts is read as text (not imported): its definitions are `counter("name", ...)`,
 * `histogram("name", ...)` and `gauge("name", ...)` calls, labelled with `labelled(metric, "key", ...)`.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")
const read = (path: string) => readFileSync(resolve(root, path), "utf8")

const DASHBOARD = "infra/monitoring/grafana/dashboards/eventflow.json"
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
const DS_UID = "${datasource}"

// ------------------------------------------------------------------ Metrics.ts

type Kind = "counter" | "histogram" | "gauge"
interface Definition {
  readonly kind: Kind
  readonly labels: ReadonlyArray<string>
}

/** The index just past the parenthesis that closes the one at `open` (string literals skipped). */
const closing = (text: string, open: number): number => {
  let depth = 0
  for (let i = open; i < text.length; i++) {
    const c = text[i]
    if (c === '"' || c === "'" || c === "`") {
      for (i++; i < text.length && text[i] !== c; i++) if (text[i] === "\\") i++
    } else if (c === "(") depth++
    else if (c === ")" && --depth === 0) return i + 1
  }
  throw new Error(`unbalanced parenthesis at ${open}`)
}

const parseDefinitions = (source: string): Map<string, Definition> => {
  const calls = [...source.matchAll(/\b(counter|histogram|gauge)\(\s*"([^"]+)"/g)].map((m) => ({
    kind: m[1] as Kind,
    name: m[2]!,
    end: closing(source, m.index + m[1]!.length)
  }))
  const labels = new Map<string, ReadonlyArray<string>>()
  for (const m of source.matchAll(/\blabelled\(/g)) {
    const open = m.index + "labelled".length
    const end = closing(source, open)
    const inner = calls.find((c) => c.end > open && c.end < end)
    if (inner === undefined) throw new Error(`labelled(...) at ${m.index} wraps no metric definition`)
    const keys = [...source.slice(inner.end, end - 1).matchAll(/"([^"]*)"/g)].map((k) => k[1]!)
    labels.set(inner.name, keys)
  }
  const definitions = new Map<string, Definition>()
  for (const call of calls) {
    if (definitions.has(call.name)) throw new Error(`${call.name} is defined twice`)
    definitions.set(call.name, { kind: call.kind, labels: labels.get(call.name) ?? [] })
  }
  return definitions
}

// ------------------------------------------------------------------ the dashboard

interface Target {
  readonly expr?: string
  readonly legendFormat?: string
  readonly refId?: string
  readonly datasource?: unknown
}
interface Panel {
  readonly id?: unknown
  readonly type?: string
  readonly title?: unknown
  readonly datasource?: unknown
  readonly targets?: ReadonlyArray<Target>
  readonly panels?: ReadonlyArray<Panel>
  readonly fieldConfig?: { readonly defaults?: { readonly unit?: unknown } }
}
interface Dashboard {
  uid?: unknown
  title?: unknown
  schemaVersion?: unknown
  panels: ReadonlyArray<Panel>
  templating?: { list?: ReadonlyArray<Record<string, any>> }
}

/** Every panel, rows included, with the panels of collapsed rows (nested in `panels`). */
const allPanels = (panels: ReadonlyArray<Panel>): ReadonlyArray<Panel> =>
  panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])

const usesDatasourceVariable = (datasource: unknown) =>
  datasource === DS_UID ||
  (typeof datasource === "object" && datasource !== null && (datasource as { uid?: unknown }).uid === DS_UID)

/** Label names of the job and instance Prometheus adds to every series. */
const TARGET_LABELS = ["job", "instance"]
const SUFFIXES = ["_bucket", "_sum", "_count"] as const

interface Reference {
  readonly name: string
  readonly metric: string
  readonly suffix: string
  readonly index: number
}

/** What is wrong with one PromQL expression (empty when nothing is). */
const exprProblems = (
  definitions: ReadonlyMap<string, Definition>,
  where: string,
  expr: string,
  legend?: string
): Array<string> => {
  const problems: Array<string> = []
  // Label values are strings; blank them (same length) so that nothing inside one is read as a name.
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, (s) => `"${" ".repeat(s.length - 2)}"`)

  const references: Array<Reference> = []
  for (const m of code.matchAll(/eventflow_[a-z0-9_]+/g)) {
    const name = m[0]
    const suffix = SUFFIXES.find((s) => name.endsWith(s) && !definitions.has(name)) ?? ""
    const metric = name.slice(0, name.length - suffix.length)
    const definition = definitions.get(metric)
    if (definition === undefined) {
      problems.push(`${where}: ${name} is not defined in Metrics.ts`)
      continue
    }
    if (suffix !== "" && definition.kind !== "histogram") {
      problems.push(
        `${where}: ${name}: only a histogram has ${suffix} series (${metric} is a ${definition.kind})`
      )
      continue
    }
    if (suffix === "" && definition.kind === "histogram") {
      problems.push(`${where}: ${name} is a histogram: use ${name}_bucket, _sum or _count`)
      continue
    }
    references.push({ name, metric, suffix, index: m.index })
  }

  const allowed = (ref: Reference) =>
    new Set([
      ...definitions.get(ref.metric)!.labels,
      ...TARGET_LABELS,
      ...(ref.suffix === "_bucket" ? ["le"] : [])
    ])

  for (const ref of references) {
    const kind = definitions.get(ref.metric)!.kind
    const before = code.slice(0, ref.index)
    const inRate = /\b(rate|irate|increase)\(\s*$/.test(before)
    if ((kind === "counter" || ref.suffix !== "") && !inRate) {
      problems.push(`${where}: ${ref.name} only counts up: use it through rate() or increase()`)
    }
    if (kind === "gauge" && inRate)
      problems.push(`${where}: ${ref.name} is a gauge: rate() of it means nothing`)
    // Its selector, if it has one: `name{label op "value", ...}`.
    const selector = /^\s*\{([^}]*)\}/.exec(code.slice(ref.index + ref.name.length))
    for (const m of (selector?.[1] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
      if (!allowed(ref).has(m[1]!)) problems.push(`${where}: ${ref.name} has no label ${m[1]} (in {...})`)
    }
  }

  // `by (...)`/`without (...)` clauses: each label must be one every metric of the expression has.
  const kept = new Set<string>()
  let grouped = false
  for (const m of code.matchAll(/\b(by|without)\s*\(([^)]*)\)/g)) {
    const keys = m[2]!
      .split(",")
      .map((k) => k.trim())
      .filter((k) => k !== "")
    if (m[1] === "by") {
      grouped = true
      for (const k of keys) kept.add(k)
    }
    for (const key of keys) {
      for (const ref of references) {
        if (!allowed(ref).has(key))
          problems.push(`${where}: ${ref.name} has no label ${key} (in ${m[1]} (...))`)
      }
    }
    if (/histogram_quantile\(/.test(code) && m[1] === "by" && !keys.includes("le")) {
      problems.push(`${where}: histogram_quantile() over a sum without le: ${m[0]}`)
    }
  }
  if (/histogram_quantile\(/.test(code) && !references.some((r) => r.suffix === "_bucket")) {
    problems.push(`${where}: histogram_quantile() of no _bucket series`)
  }

  // `label_values(metric{...}, label)` (template variables).
  for (const m of code.matchAll(
    /label_values\(\s*(eventflow_[a-z0-9_]+)[^,]*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)/g
  )) {
    const ref = references.find((r) => r.name === m[1])
    if (ref !== undefined && !allowed(ref).has(m[2]!)) problems.push(`${where}: ${m[1]} has no label ${m[2]}`)
  }

  // `{{label}}` in the legend: a label the query keeps.
  for (const m of (legend ?? "").matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
    const key = m[1]!
    const ok = grouped ? kept.has(key) : references.every((r) => allowed(r).has(key))
    if (!ok) problems.push(`${where}: the legend's {{${key}}} is not a label of the result`)
  }
  return problems
}

/** What is wrong with the dashboard (empty when nothing is). */
const dashboardProblems = (
  dashboard: Dashboard,
  definitions: ReadonlyMap<string, Definition>
): Array<string> => {
  const problems: Array<string> = []
  const panels = allPanels(dashboard.panels)
  const ids = new Set<unknown>()
  for (const panel of panels) {
    const where = `panel ${String(panel.id)} "${String(panel.title)}"`
    if (typeof panel.id !== "number") problems.push(`${where}: no numeric id`)
    else if (ids.has(panel.id)) problems.push(`${where}: id ${panel.id} used twice`)
    ids.add(panel.id)
    if (typeof panel.title !== "string" || panel.title.trim() === "") problems.push(`${where}: no title`)
    if (panel.type === "row") continue
    if (panel.type !== "timeseries" && panel.type !== "stat") problems.push(`${where}: type ${panel.type}`)
    if (!usesDatasourceVariable(panel.datasource)) problems.push(`${where}: datasource is not ${DS_UID}`)
    const unit = panel.fieldConfig?.defaults?.unit
    if (typeof unit !== "string" || unit === "") problems.push(`${where}: no unit`)
    const targets = panel.targets ?? []
    if (targets.length === 0) problems.push(`${where}: no queries`)
    const refIds = new Set<string>()
    for (const target of targets) {
      const at = `${where} query ${target.refId}`
      if (target.refId === undefined || refIds.has(target.refId))
        problems.push(`${at}: missing or repeated refId`)
      refIds.add(target.refId ?? "")
      if (target.datasource !== undefined && !usesDatasourceVariable(target.datasource)) {
        problems.push(`${at}: datasource is not ${DS_UID}`)
      }
      if (typeof target.expr !== "string" || target.expr.trim() === "") problems.push(`${at}: no expr`)
      else problems.push(...exprProblems(definitions, at, target.expr, target.legendFormat))
    }
  }
  for (const variable of dashboard.templating?.list ?? []) {
    const query = typeof variable.query === "string" ? variable.query : variable.query?.query
    if (variable.type === "query" && typeof query === "string") {
      problems.push(...exprProblems(definitions, `variable ${variable.name}`, query))
    }
  }
  return problems
}

const exprsOf = (dashboard: Dashboard) =>
  allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ""))

// ------------------------------------------------------------------ the tests

const definitions = parseDefinitions(read("packages/telemetry/src/Metrics.ts"))
const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard

describe("Metrics.ts, read as text", () => {
  it("yields every metric definition with its kind and labels", () => {
    const source = read("packages/telemetry/src/Metrics.ts")
    expect(definitions.size).toBe([...source.matchAll(/\b(counter|histogram|gauge)\(\s*"/g)].length)
    expect(definitions.size).toBeGreaterThan(20)
    expect(definitions.get("eventflow_stream_lag_records")).toEqual({
      kind: "gauge",
      labels: ["pipeline", "topic", "partition"]
    })
    expect(definitions.get("eventflow_http_request_duration_seconds")).toEqual({
      kind: "histogram",
      labels: ["route", "method"]
    })
    expect(definitions.get("eventflow_ingest_produce_errors_total")).toEqual({ kind: "counter", labels: [] })
    for (const [name, definition] of definitions) {
      expect(name).toMatch(/^eventflow_[a-z0-9_]+$/)
      if (definition.kind === "counter") expect(name).toMatch(/_total$/)
    }
  })
})

describe("the Grafana dashboard", () => {
  it("is the EventFlow dashboard, with a Prometheus datasource variable", () => {
    expect(dashboard.uid).toBe("eventflow")
    expect(dashboard.title).toBe("EventFlow")
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36)
    const variables = dashboard.templating?.list ?? []
    expect(variables.find((v) => v.name === "datasource")).toMatchObject({
      type: "datasource",
      query: "prometheus"
    })
  })

  it("uses only metrics and labels Metrics.ts defines; every panel has an id, a title and the datasource variable", () => {
    expect(dashboardProblems(dashboard, definitions)).toEqual([])
  })

  it("has the rows and panels it is meant to have, with queries", () => {
    const panels = allPanels(dashboard.panels)
    expect(panels.filter((p) => p.type === "row").map((p) => p.title)).toEqual([
      "Ingest",
      "Stream engine",
      "Query",
      "Process"
    ])
    expect(panels.filter((p) => p.type !== "row").length).toBeGreaterThanOrEqual(40)
    const used = new Set(exprsOf(dashboard).flatMap((e) => e.match(/eventflow_[a-z0-9_]+/g) ?? []))
    for (const name of [
      "eventflow_http_requests_total",
      "eventflow_ingest_events_total",
      "eventflow_ingest_ack_duration_seconds_bucket",
      "eventflow_stream_lag_records",
      "eventflow_http_request_duration_seconds_bucket",
      "eventflow_process_cpu_seconds_total",
      "eventflow_process_gc_duration_seconds_bucket"
    ]) {
      expect(used, name).toContain(name)
    }
  })

  it("would catch a wrong metric name, a wrong label, a missing le or a bad datasource", () => {
    const broken = (edit: (d: any) => void) => {
      const copy = structuredClone(dashboard) as any
      edit(copy)
      return dashboardProblems(copy, definitions)
    }
    const lag = (d: any) =>
      allPanels(d.panels).find((p) => p.title === "Lag per pipeline, topic and partition") as any
    const ack = (d: any) => allPanels(d.panels).find((p) => p.title === "Ack latency (p50, p99)") as any
    const gc = (d: any) => allPanels(d.panels).find((p) => p.title === "GC pause p99 by kind") as any

    expect(
      broken((d) => {
        lag(d).targets[0].expr = lag(d).targets[0].expr.replace(
          "eventflow_stream_lag_records",
          "eventflow_stream_lag"
        )
      })
    ).toEqual([expect.stringContaining("eventflow_stream_lag is not defined in Metrics.ts")])
    expect(
      broken((d) => {
        lag(d).targets[0].expr = lag(d).targets[0].expr.replace("partition)", "shard)")
      })
    ).toContainEqual(expect.stringContaining("has no label shard (in by (...))"))
    expect(
      broken((d) => {
        ack(d).targets[0].expr = ack(d).targets[0].expr.replace('job=~"$job"', 'service=~"$job"')
      })
    ).toEqual([expect.stringContaining("has no label service (in {...})")])
    expect(
      broken((d) => {
        gc(d).targets[0].expr = gc(d).targets[0].expr.replace("kind, le", "kind")
      })
    ).toEqual([expect.stringContaining("without le")])
    expect(
      broken((d) => {
        ack(d).targets[0].expr = ack(d).targets[0].expr.replace("_bucket", "")
      })
    ).toContainEqual(expect.stringContaining("is a histogram"))
    expect(
      broken((d) => {
        gc(d).datasource = { type: "prometheus", uid: "prometheus" }
        gc(d).id = ack(d).id
      })
    ).toEqual([
      expect.stringContaining(`id ${ack(dashboard).id} used twice`),
      expect.stringContaining("datasource")
    ])
  })
})

describe("Prometheus", () => {
  it("scrapes /metrics of ingest, query and process every 5 s", () => {
    const config = parse(read("infra/monitoring/prometheus.yml"))
    expect(config.global.scrape_interval).toBe("5s")
    const jobs = Object.fromEntries(
      (config.scrape_configs as Array<any>).map((job) => [
        job.job_name,
        { path: job.metrics_path, targets: job.static_configs.flatMap((s: any) => s.targets) }
      ])
    )
    expect(jobs).toEqual({
      "eventflow-ingest": { path: "/metrics", targets: ["host.docker.internal:8080"] },
      "eventflow-query": { path: "/metrics", targets: ["host.docker.internal:8081"] },
      "eventflow-process": { path: "/metrics", targets: ["host.docker.internal:8082"] }
    })
  })
})

describe("Grafana provisioning", () => {
  it("provides the Prometheus datasource the dashboard expects and loads the dashboards folder", () => {
    const datasources = parse(read("infra/monitoring/grafana/provisioning/datasources/prometheus.yml"))
    expect(datasources.datasources).toContainEqual(
      expect.objectContaining({
        type: "prometheus",
        uid: "prometheus",
        url: "http://prometheus:9090",
        isDefault: true
      })
    )
    const variable = dashboard.templating?.list?.find((v) => v.name === "datasource")
    expect(variable?.current?.value).toBe("prometheus")
    const providers = parse(read("infra/monitoring/grafana/provisioning/dashboards/eventflow.yml"))
    expect(providers.providers).toContainEqual(
      expect.objectContaining({
        type: "file",
        options: expect.objectContaining({ path: "/var/lib/grafana/dashboards" })
      })
    )
  })
})

describe("docker-compose.yml, profile monitoring", () => {
  const compose = parse(read("infra/docker-compose.yml"))
  const services = compose.services as Record<string, any>
  const monitoring = ["prometheus", "grafana", "jaeger"]

  it("has prometheus, grafana and jaeger in the profile, and nothing else there", () => {
    for (const [name, service] of Object.entries(services)) {
      if (monitoring.includes(name)) expect(service.profiles, name).toEqual(["monitoring"])
      else expect(service.profiles, name).toBeUndefined()
    }
    expect(Object.keys(services)).toEqual(expect.arrayContaining(monitoring))
  })

  it("mounts files that exist, where Prometheus and Grafana read them", () => {
    const mounts: Record<string, Array<string>> = {}
    for (const name of monitoring) {
      for (const volume of (services[name].volumes ?? []) as Array<string>) {
        const [source, target] = volume.split(":") as [string, string]
        expect(source, `${name}: ${volume}`).toMatch(/^\.\.?\//)
        expect(existsSync(resolve(root, "infra", source)), `${name}: ${source} (from infra/)`).toBe(true)
        mounts[name] = [...(mounts[name] ?? []), `${source}:${target}`]
      }
    }
    expect(mounts.prometheus).toEqual(["./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml"])
    expect(mounts.grafana).toEqual([
      "./monitoring/grafana/provisioning:/etc/grafana/provisioning",
      "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards"
    ])
    expect(existsSync(resolve(root, "infra/monitoring/grafana/dashboards/eventflow.json"))).toBe(true)
    expect(services.prometheus.extra_hosts).toContain("host.docker.internal:host-gateway")
  })

  it("publishes its ports on 127.0.0.1 only", () => {
    const ports = monitoring.flatMap((name) => (services[name].ports ?? []) as Array<string>)
    expect(ports).toEqual(
      expect.arrayContaining([
        "127.0.0.1:9090:9090",
        "127.0.0.1:3000:3000",
        "127.0.0.1:16686:16686",
        "127.0.0.1:4318:4318"
      ])
    )
    for (const port of ports) expect(port).toMatch(/^127\.0\.0\.1:/)
  })
})
