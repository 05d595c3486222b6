/**
 * The monitoring stack in infra/monitoring (Prometheus, Grafana, Jaeger) is never run here (no
 * Docker on the development machines, none in CI), so it is checked statically: every metric and
 * label the Grafana dashboard's PromQL and the alerting rules' expressions use is one that
 * `src/Metrics.ts` defines, the panels and the rules are well formed, Prometheus scrapes the three
 * services and loads the rules, and the compose services mount files that exist.
 *
 * Metrics.ts is read as text (not imported): its definitions are `counter("name", ...)`,
 * `histogram("name", ...)` and `gauge("name", ...)` calls, labelled with `labelled(metric, "key", ...)`.
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, posix, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..")
const read = (path: string) => readFileSync(resolve(root, path), "utf8")

const DASHBOARD = "infra/monitoring/grafana/dashboards/eventflow.json"
const ALERTS = "infra/monitoring/alerts.yml"
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

/** The index of the parenthesis that opens the one at `close` (in text whose strings are blanked). */
const opening = (text: string, close: number): number => {
  let depth = 0
  for (let i = close; i >= 0; i--) {
    if (text[i] === ")") depth++
    else if (text[i] === "(" && --depth === 0) return i
  }
  throw new Error(`unbalanced parenthesis at ${close}`)
}

/**
 * What a `by (...)`/`without (...)` clause applies to: the aggregation's argument, after the clause
 * (`sum by (x) (...)`) or before it (`sum (...) by (x)`); [start, end) in `code`.
 */
const clauseScope = (code: string, start: number, end: number): [number, number] => {
  const after = /^\s*\(/.exec(code.slice(end))
  if (after !== null) {
    const open = end + after[0].length - 1
    return [open, closing(code, open)]
  }
  const before = /\)\s*$/.exec(code.slice(0, start))
  if (before !== null) return [opening(code, before.index), before.index + 1]
  return [0, code.length]
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

// ------------------------------------------------------------------ PromQL, parsed

/**
 * A small PromQL parser, enough to say whether an expression parses, which series it selects, and
 * which labels its result keeps (for the `{{ $labels.x }}` of an alert's annotations).
 */
type Node =
  | { readonly type: "number" }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "selector"; readonly name: string }
  | { readonly type: "paren" | "unary" | "range"; readonly expr: Node }
  | {
      readonly type: "aggregation"
      readonly op: string
      readonly by?: ReadonlyArray<string> | undefined
      readonly without?: ReadonlyArray<string> | undefined
      readonly args: ReadonlyArray<Node>
    }
  | { readonly type: "call"; readonly fn: string; readonly args: ReadonlyArray<Node> }
  | {
      readonly type: "binary"
      readonly op: string
      readonly bool: boolean
      readonly on?: ReadonlyArray<string> | undefined
      readonly ignoring?: ReadonlyArray<string> | undefined
      readonly group?: "left" | "right" | undefined
      readonly include: ReadonlyArray<string>
      readonly left: Node
      readonly right: Node
    }

interface Token {
  readonly kind: "ident" | "number" | "duration" | "string" | "matchers" | "range" | "op"
  readonly text: string
  readonly at: number
}

const AGGREGATIONS = new Set([
  ...["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"],
  ...["bottomk", "topk", "quantile", "limitk", "limit_ratio"]
])
const PRECEDENCE = new Map<string, number>([
  ...(["or"].map((op) => [op, 1]) as Array<[string, number]>),
  ...(["and", "unless"].map((op) => [op, 2]) as Array<[string, number]>),
  ...(["==", "!=", "<=", "<", ">=", ">"].map((op) => [op, 3]) as Array<[string, number]>),
  ...(["+", "-"].map((op) => [op, 4]) as Array<[string, number]>),
  ...(["*", "/", "%", "atan2"].map((op) => [op, 5]) as Array<[string, number]>),
  ["^", 6]
])
const COMPARISONS = new Set(["==", "!=", "<=", "<", ">=", ">"])

const tokenize = (expr: string): Array<Token> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < expr.length) {
    const rest = expr.slice(i)
    const space = /^(?:\s+|#[^\n]*)/.exec(rest)
    if (space !== null) {
      i += space[0].length
      continue
    }
    const c = expr[i]!
    if (c === '"' || c === "'" || c === "`" || c === "{" || c === "[") {
      // A string, a selector's matchers or a range: up to its end, strings inside skipped.
      const end = c === "{" ? "}" : c === "[" ? "]" : c
      let j = i + 1
      for (; j < expr.length && expr[j] !== end; j++) {
        const q = expr[j]!
        if (c === "`") continue
        if (q === "\\") j++
        else if (c === "{" && (q === '"' || q === "'" || q === "`")) {
          for (j++; j < expr.length && expr[j] !== q; j++) if (expr[j] === "\\" && q !== "`") j++
        }
      }
      if (j >= expr.length) throw new Error(`${c} at offset ${i} is never closed`)
      const kind = c === "{" ? "matchers" : c === "[" ? "range" : "string"
      tokens.push({ kind, text: kind === "string" ? expr.slice(i, j + 1) : expr.slice(i + 1, j), at: i })
      i = j + 1
      continue
    }
    const match = (kind: Token["kind"], re: RegExp) => {
      const m = re.exec(rest)
      if (m === null) return false
      tokens.push({ kind, text: m[0], at: i })
      i += m[0].length
      return true
    }
    if (
      !match("duration", /^(?:\d+(?:ms|[smhdwy]))+(?![a-zA-Z0-9_])/) &&
      !match("number", /^(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![a-zA-Z0-9_])/) &&
      !match("ident", /^[a-zA-Z_:][a-zA-Z0-9_:]*/) &&
      !match("op", /^(?:==|!=|>=|<=|[-+*/%^<>(),@])/)
    ) {
      throw new Error(`unexpected ${JSON.stringify(c)} at offset ${i}`)
    }
  }
  return tokens
}

const parsePromql = (expr: string): Node => {
  const tokens = tokenize(expr)
  let i = 0
  const peek = (): Token | undefined => tokens[i]
  const fail = (what: string, token = peek()): never => {
    throw new Error(
      token === undefined ? `${what} at the end` : `${what} at "${token.text}" (offset ${token.at})`
    )
  }
  const next = (): Token => tokens[i++] ?? fail("unexpected end")
  const is = (text: string, token = peek()) =>
    token !== undefined && (token.kind === "op" || token.kind === "ident") && token.text === text
  const accept = (text: string) => is(text) && ++i > 0
  const expect = (text: string) => accept(text) || fail(`expected ${text}`)
  const list = <A>(item: () => A): Array<A> => {
    expect("(")
    const items: Array<A> = []
    while (!accept(")")) {
      items.push(item())
      if (!accept(",")) {
        expect(")")
        break
      }
    }
    return items
  }
  const labelList = () =>
    list(() => {
      const token = next()
      return token.kind === "ident" ? token.text : fail("expected a label name", token)
    })

  const binary = (min: number): Node => {
    let left = unary()
    for (;;) {
      const token = peek()
      const precedence =
        token?.kind === "op" || token?.kind === "ident" ? PRECEDENCE.get(token.text) : undefined
      if (token === undefined || precedence === undefined || precedence < min) return left
      i++
      const bool = accept("bool")
      const on = accept("on") ? labelList() : undefined
      const ignoring = on === undefined && accept("ignoring") ? labelList() : undefined
      const group = accept("group_left") ? "left" : accept("group_right") ? "right" : undefined
      const include = group !== undefined && is("(") ? labelList() : []
      const right = binary(token.text === "^" ? precedence : precedence + 1)
      left = { type: "binary", op: token.text, bool, on, ignoring, group, include, left, right }
    }
  }
  const unary = (): Node =>
    accept("-") || accept("+") ? { type: "unary", expr: binary(6) } : postfix(primary())
  const postfix = (node: Node): Node => {
    for (;;) {
      const token = peek()
      if (token?.kind === "range") {
        i++
        node = { type: "range", expr: node }
      } else if (is("offset")) {
        i++
        accept("-")
        if (next().kind !== "duration") fail("expected a duration after offset", tokens[i - 1])
      } else if (accept("@")) {
        const at = next()
        if (at.kind === "ident") list(() => binary(0))
        else if (at.kind !== "number") fail("expected a time after @", at)
      } else return node
    }
  }
  const primary = (): Node => {
    const token = next()
    if (token.kind === "number") return { type: "number" }
    if (token.kind === "string") return { type: "string", value: token.text.slice(1, -1) }
    if (token.kind === "matchers") return { type: "selector", name: "" }
    if (is("(", token)) {
      const expr = binary(0)
      expect(")")
      return { type: "paren", expr }
    }
    if (token.kind !== "ident") return fail("unexpected", token)
    if (/^(?:inf|nan)$/i.test(token.text)) return { type: "number" }
    if (AGGREGATIONS.has(token.text)) {
      let by: Array<string> | undefined
      let without: Array<string> | undefined
      const clause = () => {
        if (accept("by")) by = labelList()
        else if (accept("without")) without = labelList()
      }
      clause()
      const args = list(() => binary(0))
      if (by === undefined && without === undefined) clause()
      return { type: "aggregation", op: token.text, by, without, args }
    }
    if (is("(")) return { type: "call", fn: token.text, args: list(() => binary(0)) }
    if (peek()?.kind === "matchers") i++
    return { type: "selector", name: token.text }
  }

  const root = binary(0)
  if (i < tokens.length) fail("unexpected")
  return root
}

/** Every node of an expression, depth first. */
const nodesOf = (node: Node): Array<Node> => {
  const children =
    node.type === "paren" || node.type === "unary" || node.type === "range"
      ? [node.expr]
      : node.type === "aggregation" || node.type === "call"
        ? // label_values(metric, label): the label is no series.
          node.type === "call" && node.fn === "label_values"
          ? node.args.slice(0, 1)
          : node.args
        : node.type === "binary"
          ? [node.left, node.right]
          : []
  return [node, ...children.flatMap(nodesOf)]
}

/** What `up` has: only the labels Prometheus adds to every target. */
const UP: Definition = { kind: "gauge", labels: [] }

/** The metric a series name belongs to, and its `_bucket`/`_sum`/`_count` suffix if it has one. */
const metricOf = (definitions: ReadonlyMap<string, Definition>, name: string) => {
  const suffix = SUFFIXES.find((s) => name.endsWith(s) && !definitions.has(name)) ?? ""
  return { metric: name.slice(0, name.length - suffix.length), suffix }
}

/** The labels a series of this name has (Metrics.ts's, job and instance, le for a bucket). */
const seriesLabels = (definitions: ReadonlyMap<string, Definition>, name: string): Set<string> => {
  const { metric, suffix } = metricOf(definitions, name)
  const definition = name === "up" ? UP : definitions.get(metric)
  return new Set([
    ...(definition?.labels ?? []),
    ...TARGET_LABELS,
    ...(suffix === "_bucket" && definition?.kind === "histogram" ? ["le"] : [])
  ])
}

/** The labels every series of the expression's result has; null for a scalar. */
const resultLabels = (
  node: Node,
  definitions: ReadonlyMap<string, Definition>
): ReadonlySet<string> | null => {
  const of = (n: Node) => resultLabels(n, definitions)
  const minus = (labels: ReadonlySet<string> | null, drop: ReadonlyArray<string>) =>
    new Set([...(labels ?? [])].filter((l) => !drop.includes(l)))
  switch (node.type) {
    case "number":
    case "string":
      return null
    case "selector":
      return seriesLabels(definitions, node.name)
    case "paren":
    case "unary":
    case "range":
      return of(node.expr)
    case "aggregation":
      // topk and co. pick series and keep all their labels; by (...) only groups them.
      if (["topk", "bottomk", "limitk", "limit_ratio"].includes(node.op)) return of(node.args.at(-1)!)
      if (node.by !== undefined) return new Set(node.by)
      if (node.without !== undefined) return minus(of(node.args.at(-1)!), node.without)
      return new Set()
    case "call": {
      if (["time", "pi", "scalar"].includes(node.fn)) return null
      if (["vector", "absent", "absent_over_time"].includes(node.fn)) return new Set()
      if (node.fn === "histogram_quantile") return minus(of(node.args[1]!), ["le"])
      const vector = node.args.map(of).find((labels) => labels !== null) ?? null
      const target = node.args[1]
      if (["label_replace", "label_join"].includes(node.fn) && target?.type === "string") {
        return new Set([...(vector ?? []), target.value])
      }
      return vector
    }
    case "binary": {
      const left = of(node.left)
      const right = of(node.right)
      if (left === null || right === null) return left ?? right
      if (node.op === "and" || node.op === "unless") return left
      if (node.op === "or") return new Set([...left].filter((l) => right.has(l)))
      if (node.group === "left") return new Set([...left, ...node.include])
      if (node.group === "right") return new Set([...right, ...node.include])
      if (node.on !== undefined) return new Set(node.on)
      return minus(left, node.ignoring ?? [])
    }
  }
}

/** An alert's expression must filter (a comparison without bool), or it fires for every series. */
const isCondition = (node: Node): boolean =>
  node.type === "paren"
    ? isCondition(node.expr)
    : node.type === "binary" &&
      (COMPARISONS.has(node.op)
        ? !node.bool
        : node.op === "and" || node.op === "unless"
          ? isCondition(node.left)
          : node.op === "or" && isCondition(node.left) && isCondition(node.right))

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
  // EventFlow's metrics, and `up` (Prometheus's own, one per target, labelled job and instance).
  for (const m of code.matchAll(/eventflow_[a-z0-9_]+|\bup\b(?!\s*\()/g)) {
    const name = m[0]
    const { metric, suffix } = metricOf(definitions, name)
    const definition = name === "up" ? UP : definitions.get(metric)
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

  const allowed = (ref: Reference) => seriesLabels(definitions, ref.name)

  for (const ref of references) {
    const kind = ref.name === "up" ? UP.kind : definitions.get(ref.metric)!.kind
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

  // `by (...)`/`without (...)` clauses: each label must be one every metric they aggregate has.
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
    const [start, end] = clauseScope(code, m.index, m.index + m[0].length)
    const scope = references.filter((r) => r.index >= start && r.index < end)
    for (const key of keys) {
      for (const ref of scope) {
        if (!allowed(ref).has(key))
          problems.push(`${where}: ${ref.name} has no label ${key} (in ${m[1]} (...))`)
      }
    }
    if (
      /histogram_quantile\(/.test(code) &&
      m[1] === "by" &&
      !keys.includes("le") &&
      scope.some((r) => r.suffix === "_bucket")
    ) {
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

  // Parsed: it must parse, select no other metric, and match `on (...)` labels both sides have.
  let root: Node
  try {
    root = parsePromql(expr)
  } catch (error) {
    problems.push(`${where}: does not parse: ${(error as Error).message}`)
    return problems
  }
  for (const node of nodesOf(root)) {
    if (node.type === "selector" && !/^eventflow_/.test(node.name) && node.name !== "up") {
      problems.push(`${where}: ${node.name || "{...}"} is not a metric EventFlow exports (nor up)`)
    }
    if (node.type === "binary" && node.on !== undefined) {
      const sides = [resultLabels(node.left, definitions), resultLabels(node.right, definitions)]
      for (const key of node.on) {
        if (sides.some((labels) => labels !== null && !labels.has(key)))
          problems.push(`${where}: on (${key}): a side of ${node.op} has no label ${key}`)
      }
    }
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

// ------------------------------------------------------------------ the alerting rules

interface Rule {
  readonly alert?: unknown
  readonly expr?: unknown
  readonly for?: unknown
  readonly labels?: Record<string, unknown>
  readonly annotations?: Record<string, unknown>
}
interface RuleFile {
  readonly groups?: ReadonlyArray<{ readonly name?: unknown; readonly rules?: ReadonlyArray<Rule> }>
}

const SEVERITIES = ["page", "ticket"]
const RULE_KEYS = ["alert", "expr", "for", "keep_firing_for", "labels", "annotations"]

/** What is wrong with the alerting rules (empty when nothing is). */
const alertProblems = (file: RuleFile, definitions: ReadonlyMap<string, Definition>): Array<string> => {
  const problems: Array<string> = []
  const groups = file?.groups ?? []
  if (groups.length === 0) problems.push("no groups")
  const groupNames = new Set<unknown>()
  const alertNames = new Set<unknown>()
  for (const group of groups) {
    const at = `group ${String(group.name)}`
    if (typeof group.name !== "string" || group.name === "") problems.push(`${at}: no name`)
    else if (groupNames.has(group.name)) problems.push(`${at}: name used twice`)
    groupNames.add(group.name)
    if ((group.rules ?? []).length === 0) problems.push(`${at}: no rules`)
    for (const [i, rule] of (group.rules ?? []).entries()) {
      if (typeof rule.alert !== "string") {
        problems.push(`${at} rule ${i + 1}: no alert name (only alerting rules here)`)
        continue
      }
      const where = `alert ${rule.alert}`
      if (!/^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)*$/.test(rule.alert)) problems.push(`${where}: not CamelCase`)
      if (alertNames.has(rule.alert)) problems.push(`${where}: name used twice`)
      alertNames.add(rule.alert)
      for (const key of Object.keys(rule))
        if (!RULE_KEYS.includes(key)) problems.push(`${where}: unknown key ${key}`)
      if (typeof rule.for !== "string" || !/^(?:\d+(?:ms|[smhdwy]))+$/.test(rule.for))
        problems.push(`${where}: for is ${String(rule.for)}, not a duration`)
      if (!SEVERITIES.includes(rule.labels?.severity as string))
        problems.push(
          `${where}: severity is ${String(rule.labels?.severity)}, not ${SEVERITIES.join(" or ")}`
        )
      for (const key of ["summary", "description"]) {
        const text = rule.annotations?.[key]
        if (typeof text !== "string" || text.trim() === "") problems.push(`${where}: no ${key}`)
      }
      if (typeof rule.expr !== "string" || rule.expr.trim() === "") {
        problems.push(`${where}: no expr`)
        continue
      }
      problems.push(...exprProblems(definitions, where, rule.expr))
      let root: Node
      try {
        root = parsePromql(rule.expr)
      } catch {
        continue // exprProblems said why
      }
      if (!isCondition(root))
        problems.push(`${where}: the expr compares nothing, so it fires for every series it returns`)
      // Its annotations: `{{ $labels.x }}` only for a label every series of the result has.
      const kept = resultLabels(root, definitions) ?? new Set<string>()
      for (const [key, text] of Object.entries(rule.annotations ?? {})) {
        if (typeof text !== "string") continue
        if (text.split("{{").length !== text.split("}}").length)
          problems.push(`${where}: ${key}: {{ }} unbalanced`)
        for (const m of text.matchAll(/\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)/g)) {
          if (!kept.has(m[1]!)) {
            const keeps = [...kept].sort().join(", ") || "no label"
            problems.push(`${where}: ${key} uses $labels.${m[1]}, a label the expr drops (it keeps ${keeps})`)
          }
        }
      }
    }
  }
  return problems
}

// ------------------------------------------------------------------ the tests

const definitions = parseDefinitions(read("packages/telemetry/src/Metrics.ts"))
const dashboard = JSON.parse(read(DASHBOARD)) as Dashboard
const alerts = parse(read(ALERTS)) as RuleFile

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

describe("PromQL, parsed", () => {
  it("keeps the labels Prometheus would keep", () => {
    const labels = (expr: string) => [...(resultLabels(parsePromql(expr), definitions) ?? [])].sort()
    expect(labels('up{job=~"eventflow-.*"} == 0')).toEqual(["instance", "job"])
    expect(
      labels("sum by (pipeline) (max by (pipeline, topic, partition) (eventflow_stream_lag_records))")
    ).toEqual(["pipeline"])
    expect(
      labels(
        "histogram_quantile(0.99, sum(rate(eventflow_ingest_dedup_duration_seconds_bucket[5m])) by (operation, le))"
      )
    ).toEqual(["operation"])
    expect(labels("sum without (instance) (rate(eventflow_stream_records_total[5m]))")).toEqual([
      "job",
      "pipeline"
    ])
    expect(
      labels("eventflow_process_heap_used_bytes / on (instance) eventflow_process_heap_limit_bytes")
    ).toEqual(["instance"])
    expect(
      labels("sum by (job) (rate(eventflow_http_requests_total[5m])) > 0 and on (job) vector(1)")
    ).toEqual(["job"])
    expect(labels("time() - eventflow_process_start_time_seconds")).toEqual(["instance", "job"])
    expect(labels("max(eventflow_query_sse_clients) > 100")).toEqual([])
    expect(resultLabels(parsePromql("2 * 3 ^ -1"), definitions)).toBeNull()
  })

  it("says where an expression does not parse", () => {
    expect(() => parsePromql("sum(rate(eventflow_stream_records_total[5m])")).toThrow(/expected \)/)
    expect(() => parsePromql('up{job="x" == 0')).toThrow(/never closed/)
    expect(() => parsePromql("up == == 0")).toThrow(/unexpected at "=="/)
    expect(() => parsePromql("rate(up[5m]) offset 1h @ 1700000000 > bool 0")).not.toThrow()
  })
})

describe("the alerting rules (alerts.yml)", () => {
  const rules = (alerts.groups ?? []).flatMap((g) => g.rules ?? [])

  // Each rule: a unique CamelCase name, an expr that parses and compares, for, severity page or
  // ticket, a summary and a description whose {{ $labels.x }} are labels the expr keeps.
  it("use only metrics and labels Metrics.ts defines (or up), and every rule is complete", () => {
    expect(alertProblems(alerts, definitions)).toEqual([])
  })

  it("has the alerts an operator needs, paging for lost, refused or unprocessed events", () => {
    const severities = Object.fromEntries(rules.map((r) => [r.alert, r.labels?.severity]))
    expect(severities).toMatchObject({
      EventFlowTargetDown: "page",
      IngestErrors: "page",
      IngestProduceErrors: "page",
      DedupErrors: "page",
      PipelineStalled: "page",
      IngestAckLatencyHigh: "ticket",
      ConsumerLagHigh: "ticket",
      ConsumerLagGrowing: "ticket",
      CheckpointFailures: "ticket",
      CheckpointSlow: "ticket",
      StreamDlqRecords: "ticket",
      StreamLateEvents: "ticket",
      EventLoopBlocked: "ticket",
      HeapNearLimit: "ticket"
    })
    const expr = (name: string) => String(rules.find((r) => r.alert === name)?.expr)
    expect(expr("EventFlowTargetDown")).toContain('up{job=~"eventflow-.*"} == 0')
    expect(expr("IngestErrors")).toContain('route="/v1/events", status=~"5.."')
    expect(expr("PipelineStalled")).toContain("unless on (pipeline)")
    expect(expr("HeapNearLimit")).toContain("(eventflow_process_heap_limit_bytes > 0)")
  })

  it("would catch a wrong metric or label, a dropped label in an annotation, a bad expr or an incomplete rule", () => {
    const broken = (edit: (rule: (name: string) => any) => void) => {
      const copy = structuredClone(alerts) as any
      const rule = (name: string) =>
        copy.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === name) as any
      edit(rule)
      return alertProblems(copy, definitions)
    }
    const replace = (name: string, from: string, to: string) => (rule: (name: string) => any) => {
      expect(rule(name).expr).toContain(from)
      rule(name).expr = rule(name).expr.replace(from, to)
    }

    expect(
      broken(replace("PipelineStalled", "eventflow_stream_lag_records", "eventflow_stream_lag"))
    ).toEqual(["alert PipelineStalled: eventflow_stream_lag is not defined in Metrics.ts"])
    expect(broken(replace("EventLoopBlocked", 'quantile="0.99"', 'q="0.99"'))).toEqual([
      "alert EventLoopBlocked: eventflow_process_event_loop_delay_seconds has no label q (in {...})"
    ])
    expect(broken(replace("CheckpointFailures", "(pipeline, outcome)", "(pipeline, reason)"))).toEqual([
      "alert CheckpointFailures: eventflow_stream_checkpoints_total has no label reason (in by (...))",
      "alert CheckpointFailures: summary uses $labels.outcome, a label the expr drops (it keeps pipeline, reason)",
      "alert CheckpointFailures: description uses $labels.outcome, a label the expr drops (it keeps pipeline, reason)"
    ])
    expect(broken(replace("IngestErrors", "sum by (job)", "sum"))).toEqual([
      "alert IngestErrors: summary uses $labels.job, a label the expr drops (it keeps no label)",
      "alert IngestErrors: description uses $labels.job, a label the expr drops (it keeps no label)"
    ])
    expect(broken(replace("CheckpointSlow", "(pipeline, le)", "(pipeline)"))).toEqual([
      "alert CheckpointSlow: histogram_quantile() over a sum without le: by (pipeline)"
    ])
    expect(
      broken(
        replace(
          "IngestProduceErrors",
          "rate(eventflow_ingest_produce_errors_total[5m])",
          "eventflow_ingest_produce_errors_total"
        )
      )
    ).toEqual([
      "alert IngestProduceErrors: eventflow_ingest_produce_errors_total only counts up: use it through rate() or increase()"
    ])
    expect(
      broken(
        replace(
          "HeapNearLimit",
          "eventflow_process_heap_used_bytes",
          "rate(eventflow_process_heap_used_bytes[5m])"
        )
      )
    ).toEqual([
      "alert HeapNearLimit: eventflow_process_heap_used_bytes is a gauge: rate() of it means nothing"
    ])
    expect(broken(replace("EventFlowTargetDown", "up{", "upp{"))).toEqual([
      "alert EventFlowTargetDown: upp is not a metric EventFlow exports (nor up)"
    ])
    expect(broken(replace("EventFlowTargetDown", "job=~", "service=~"))).toEqual([
      "alert EventFlowTargetDown: up has no label service (in {...})"
    ])
    expect(broken(replace("PipelineStalled", "on (pipeline)", "on (instance)"))).toEqual([
      "alert PipelineStalled: on (instance): a side of unless has no label instance"
    ])
    expect(broken(replace("DedupErrors", " > 0", ""))).toEqual([
      "alert DedupErrors: the expr compares nothing, so it fires for every series it returns"
    ])
    expect(broken(replace("CheckpointSlow", "[5m]))", "[5m])"))).toEqual([
      expect.stringMatching(/^alert CheckpointSlow: does not parse: expected \)/)
    ])
    expect(
      broken((rule) => {
        rule("HeapNearLimit").labels.severity = "critical"
        delete rule("HeapNearLimit").for
        delete rule("EventLoopBlocked").annotations.description
        rule("EventLoopBlocked").alert = "HeapNearLimit"
        rule("CheckpointSlow").alert = "checkpoint_slow"
      })
    ).toEqual([
      "alert checkpoint_slow: not CamelCase",
      "alert HeapNearLimit: no description", // EventLoopBlocked, renamed
      "alert HeapNearLimit: name used twice",
      "alert HeapNearLimit: for is undefined, not a duration",
      "alert HeapNearLimit: severity is critical, not page or ticket"
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
    expect(mounts.prometheus).toEqual([
      "./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml",
      "./monitoring/alerts.yml:/etc/prometheus/alerts.yml"
    ])
    expect(mounts.grafana).toEqual([
      "./monitoring/grafana/provisioning:/etc/grafana/provisioning",
      "./monitoring/grafana/dashboards:/var/lib/grafana/dashboards"
    ])
    expect(existsSync(resolve(root, "infra/monitoring/grafana/dashboards/eventflow.json"))).toBe(true)
    expect(services.prometheus.extra_hosts).toContain("host.docker.internal:host-gateway")
  })

  it("mounts alerts.yml where prometheus.yml's rule_files points", () => {
    const mounts = ((services.prometheus.volumes ?? []) as Array<string>).map((volume) => {
      const [source, target] = volume.split(":") as [string, string]
      return { source: resolve(root, "infra", source), target }
    })
    const config = mounts.find((m) => m.source === resolve(root, "infra/monitoring/prometheus.yml"))
    expect(config?.target).toBe("/etc/prometheus/prometheus.yml") // where the image reads its config
    const ruleFiles = parse(read("infra/monitoring/prometheus.yml")).rule_files as Array<string>
    expect(ruleFiles.length).toBeGreaterThan(0)
    for (const file of ruleFiles) {
      // Prometheus reads a relative path from the config file's folder.
      const target = posix.resolve(posix.dirname(config!.target), file)
      expect(mounts.find((m) => m.target === target)?.source, `${file} (${target} in the container)`).toBe(
        resolve(root, ALERTS)
      )
    }
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
