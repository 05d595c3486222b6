import { type ChildProcess, execFile, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { SqlClient } from "@effect/sql"
import { layerEmbeddedSql } from "@eventflow/backends"
import { waitFor } from "@eventflow/testing"
import { Effect } from "effect"
import { expect } from "vitest"

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../..")
const bin = join(repoRoot, "packages/cli/src/bin.ts")

/** The test's environment without EventFlow's own settings, so each test sets exactly what it means. */
const inheritedEnv = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        !name.startsWith("EVENTFLOW_") &&
        !["KAFKA_BROKERS", "REDIS_URL", "DATABASE_URL", "PORT"].includes(name)
    )
  )

export interface Running {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/** Spawns `eventflow <args>` as a real process, collecting what it prints. */
export const spawnEventflow = (args: string[], env: Record<string, string>): Running => {
  const child = spawn(process.execPath, ["--import", "tsx", bin, ...args], {
    cwd: repoRoot,
    // A port of its own unless the test names one (`eventflow process` serves /metrics too).
    env: { ...inheritedEnv(), PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (chunk) => {
    output += chunk
  })
  child.stderr!.on("data", (chunk) => {
    output += chunk
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, output: () => output, exited }
}

/** Starts `eventflow <args>` as a real process and waits until /readyz answers 200. */
export const startEventflow = async (
  args: string[],
  env: Record<string, string>,
  port: number
): Promise<Running> => {
  const running = spawnEventflow(args, { ...env, PORT: String(port) })
  const { child, exited, output } = running
  let gone = false
  void exited.then(() => {
    gone = true
  })
  await waitFor(
    `eventflow ${args.join(" ")} to be ready`,
    async () => {
      if (gone) throw new Error(`eventflow exited before it was ready:\n${output()}`)
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200
      } catch {
        return false
      }
    },
    90_000
  ).catch((error: Error) => {
    child.kill("SIGKILL")
    throw error
  })
  return running
}

export const stop = async (running: Running, signal: NodeJS.Signals = "SIGTERM") => {
  if (running.child.exitCode === null) running.child.kill(signal)
  return running.exited
}

/** Runs `eventflow <args>` to its end. */
export const runEventflow = (args: string[], env: Record<string, string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", bin, ...args],
      { cwd: repoRoot, env: { ...inheritedEnv(), ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
      }
    )
  })

export const postEvents = async (port: number, key: string, body: unknown) => {
  const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body)
  })
  return { status: response.status, body: (await response.json()) as any }
}

/**
 * Sends the batches at once, sends SIGTERM while they are in flight, and checks that the process
 * exits 0 and that every request it took was answered in full with 202, never cut off.
 * Returns how many events were accepted.
 */
export const terminateUnderLoad = async (
  running: Running,
  port: number,
  key: string,
  batches: ReadonlyArray<ReadonlyArray<unknown>>,
  delayMs: number
): Promise<number> => {
  const inFlight = batches.map((batch) => postEvents(port, key, batch).catch((error: Error) => error))
  await new Promise((r) => setTimeout(r, delayMs))
  running.child.kill("SIGTERM")
  const answers = await Promise.all(inFlight)
  expect(await running.exited).toBe(0)
  const answered = answers.filter((a): a is { status: number; body: any } => !(a instanceof Error))
  expect(answered.length).toBeGreaterThan(0)
  for (const answer of answered) expect([answer.status, answer.body.detail]).toEqual([202, undefined])
  return answered.reduce((sum, a) => sum + a.body.accepted, 0)
}

/** The records of `events.default` in an embedded data directory (attached to while it runs). */
export const countRecords = (dataDir: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{
        n: string
      }>`SELECT count(*) AS n FROM eventflow_records WHERE topic = 'events.default'`
      return Number(rows[0]!.n)
    }).pipe(Effect.provide(layerEmbeddedSql(dataDir, "attach")), Effect.scoped)
  )
