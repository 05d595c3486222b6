/**
 * SQL is only ever parameterized: every statement of the sources is an @effect/sql tagged template
 * (its `${…}` are bound parameters), never text put together with values. This reads the sources
 * and fails on the ways around it: `sql.unsafe`, `sql.literal`, and node-postgres's `query` with a
 * template or concatenated string.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../..", import.meta.url))

const sources = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return name === "node_modules" ? [] : sources(path)
    return /\.(ts|mts|mjs|js)$/.test(name) ? [path] : []
  })

const files = [
  ...readdirSync(join(root, "packages")).flatMap((p) => {
    const src = join(root, "packages", p, "src")
    try {
      return sources(src)
    } catch {
      return []
    }
  }),
  ...sources(join(root, "loadtest", "src"))
]

/** What builds SQL from text instead of binding values. */
const hazards: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bsql\.unsafe\s*\(/, "sql.unsafe"],
  [/\bsql\.literal\s*\(/, "sql.literal"],
  [/\.query\s*\(\s*`[^`]*\$\{/, "query() with an interpolated template"],
  [/\.query\s*\(\s*["'][^"']*["']\s*\+/, "query() with a concatenated string"]
]

describe("SQL is only parameterized", () => {
  it("reads every source file", () => {
    expect(files.length).toBeGreaterThan(50)
    // The scan sees the statements it vouches for.
    const statements = files.reduce(
      (n, file) => n + (readFileSync(file, "utf8").match(/\bsql(<[^>]*>)?`/g)?.length ?? 0),
      0
    )
    expect(statements).toBeGreaterThan(50)
  })

  it("has no statement made of text", () => {
    const found: string[] = []
    for (const file of files) {
      const text = readFileSync(file, "utf8")
      for (const [pattern, what] of hazards) {
        if (pattern.test(text)) found.push(`${relative(root, file)}: ${what}`)
      }
    }
    expect(found).toEqual([])
  })

  it("recognises each hazard (the check itself can fail)", () => {
    // Source text: `#{` stands for a template's dollar-brace.
    const source = (text: string) => text.replaceAll("#{", "$" + "{")
    const samples = [
      "yield* sql.unsafe(`SELECT #{x}`)",
      "sql.literal(name)",
      "await client.query(`SELECT * FROM t WHERE id = #{id}`)",
      "await client.query('SELECT * FROM t WHERE id = ' + id)"
    ].map(source)
    samples.forEach((sample, i) => {
      expect(hazards[i]![0].test(sample)).toBe(true)
    })
    const safe = source("yield* sql`SELECT * FROM t WHERE id = #{id}`")
    expect(hazards.some(([pattern]) => pattern.test(safe))).toBe(false)
  })
})
