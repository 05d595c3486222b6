import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort, reachable } from "./Net.ts"

export const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/**
 * A private redis-server on a free port, so a test can stop it without touching the shared one;
 * `restart` starts it again on the same port (empty: it keeps nothing).
 */
export const startRedis = async (): Promise<{
  url: string
  port: number
  stop: () => Promise<void>
  restart: () => Promise<void>
}> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), "eventflow-redis-"))
  let child: ChildProcess
  const launch = async () => {
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
      { stdio: "ignore" }
    )
    await waitFor(`redis-server on port ${port}`, () => reachable("127.0.0.1", port, 200), 10_000)
  }
  await launch()
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill("SIGKILL")
    })
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    restart: async () => {
      await stop()
      await launch()
    }
  }
}

export const tempDir = (label: string) => mkdtempSync(join(tmpdir(), `eventflow-${label}-`))
