/**
 * The smoke test CI runs: `eventflow dev` (embedded, its own data folder and port), then the CLI
 * with the `steady` scenario for 20 s at a modest rate, verification on: it must pass, count every
 * accepted event exactly once and leave its three report files.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "@eventflow/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Running, repoRoot, startEventflow, stop } from "../../packages/cli/test/support.ts"

const key = "loadtest-smoke-key-0123456789abcdef"

describe("npm run loadtest -- --scenario steady against eventflow dev", () => {
  let dir: string
  let port: number
  let dev: Running
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "eventflow-loadtest-"))
    port = await freePort()
    dev = await startEventflow(
      ["dev"],
      {
        EVENTFLOW_DATA_DIR: join(dir, "data"),
        EVENTFLOW_DEV_WRITE_KEY: key,
        EVENTFLOW_DASHBOARD_DIR: "off",
        EVENTFLOW_LOG_LEVEL: "warn"
      },
      port
    )
  })
  afterAll(async () => {
    if (dev) await stop(dev)
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it("passes, verifies exactly once and writes report.json, report.md and latency.svg", async () => {
    const out = join(dir, "report")
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(
          process.execPath,
          [
            "--import",
            "tsx",
            join(repoRoot, "loadtest/src/cli.ts"),
            "--scenario",
            "steady",
            "--duration",
            "20",
            "--rate",
            "500",
            "--drain-timeout",
            "30",
            "--target",
            `http://127.0.0.1:${port}`,
            "--out",
            out
          ],
          { cwd: repoRoot, env: { ...process.env, EVENTFLOW_LOADTEST_KEY: key }, timeout: 100_000 },
          (error, stdout, stderr) =>
            resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
        )
      }
    )
    const lines = stdout.trim().split("\n")
    const report = JSON.parse(lines.at(-1)!)
    expect(code, `${stdout}\n${stderr}\n${dev.output()}`).toBe(0)
    expect(report.pass).toBe(true)
    expect(report.failures).toEqual([])
    expect(report.run.events.sent).toBe(10_000)
    expect(report.run.requests.byStatus).toEqual({ "202": 200 })
    expect(report.verification.pass).toBe(true)
    expect(report.verification.expected).toBe(report.run.events.results.accepted)
    expect(report.verification.counted).toBe(report.verification.expected)
    expect(report.verification.difference).toBe(0)
    expect(report.verification.expected).toBeGreaterThan(9_000)
    expect(stderr).toMatch(/\d+s {2}sent [\d,]+ {2}acked [\d,]+ {2}p99 [\d,-]+ ms {2}in flight \d+/)
    for (const file of ["report.json", "report.md", "latency.svg"])
      expect(existsSync(join(out, file))).toBe(true)
    expect(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).runId).toBe(report.runId)
    expect(readFileSync(join(out, "report.md"), "utf8")).toContain("# Load test `steady`: PASS")
    // No secret in the report.
    expect(readFileSync(join(out, "report.json"), "utf8")).not.toContain(key)
  })

  it("says in a sentence, with exit status 2, that a target is unreachable or a flag is wrong", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          ["--import", "tsx", join(repoRoot, "loadtest/src/cli.ts"), ...args],
          { cwd: repoRoot, env: { ...process.env, EVENTFLOW_LOADTEST_KEY: key }, timeout: 30_000 },
          (error, _stdout, stderr) =>
            resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr })
        )
      })
    const closed = await freePort()
    const unreachable = await run(["--scenario", "steady", "--target", `http://127.0.0.1:${closed}`])
    expect(unreachable.code).toBe(2)
    expect(unreachable.stderr).toContain(`Cannot reach the target http://127.0.0.1:${closed}`)
    const badKey = await run(["--target", `http://127.0.0.1:${port}`, "--key", "wrong"])
    expect(badKey.code).toBe(2)
    expect(badKey.stderr).toContain("refused the write key")
    const badFlag = await run(["--rate", "0"])
    expect(badFlag.code).toBe(2)
    expect(badFlag.stderr).toContain("--rate (events per second) must be a number above zero")
  })
})
