import { type ChildProcess, execFile, spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { waitFor } from "@eventflow/testing"

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

/** Starts `eventflow <args>` as a real process and waits until /readyz answers 200. */
export const startEventflow = async (
  args: string[],
  env: Record<string, string>,
  port: number
): Promise<Running> => {
  const child = spawn(process.execPath, ["--import", "tsx", bin, ...args], {
    cwd: repoRoot,
    env: { ...inheritedEnv(), ...env, PORT: String(port) },
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
  let gone = false
  void exited.then(() => {
    gone = true
  })
  await waitFor(
    `eventflow ${args.join(" ")} to be ready`,
    async () => {
      if (gone) throw new Error(`eventflow exited before it was ready:\n${output}`)
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
  return { child, output: () => output, exited }
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
