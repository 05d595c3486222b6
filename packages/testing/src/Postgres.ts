/**
 * A private PostgreSQL cluster on a free port of 127.0.0.1, so that a test can stop it, restart it
 * on the same port with the same data, or serve TLS, without touching the shared one. Made with the
 * machine's own initdb and pg_ctl; as root, they run as the `postgres` user (PostgreSQL refuses root).
 */
import { execFile, execFileSync, spawnSync } from "node:child_process"
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "./Net.ts"
import { findProgram } from "./Programs.ts"

const DEBIAN_VERSIONS = "/usr/lib/postgresql"

/**
 * The folder of initdb and pg_ctl: TEST_PG_BINDIR, else `pg_config --bindir`, else the newest of
 * Debian's versioned folders, else wherever initdb is on PATH.
 */
export const postgresBinDir = (): string | undefined => {
  const has = (dir: string) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))
  const candidates: string[] = []
  if (process.env.TEST_PG_BINDIR) candidates.push(process.env.TEST_PG_BINDIR)
  if (findProgram("pg_config") !== undefined) {
    try {
      candidates.push(execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim())
    } catch {}
  }
  if (existsSync(DEBIAN_VERSIONS)) {
    const versions = readdirSync(DEBIAN_VERSIONS)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
    candidates.push(...versions.map((v) => join(DEBIAN_VERSIONS, v, "bin")))
  }
  const onPath = findProgram("initdb")
  if (onPath !== undefined) candidates.push(join(onPath, ".."))
  return candidates.find(has)
}

const isRoot = () => process.getuid?.() === 0

/** What is missing to run a private PostgreSQL. */
export const postgresMissing = (): ReadonlyArray<string> => {
  const missing: string[] = []
  if (postgresBinDir() === undefined)
    missing.push("PostgreSQL's initdb and pg_ctl (apt-get install postgresql)")
  if (isRoot() && findProgram("runuser") === undefined) missing.push("runuser (util-linux)")
  if (isRoot() && spawnSync("id", ["-u", "postgres"]).status !== 0) missing.push("a `postgres` user")
  return missing
}

export interface PostgresCluster {
  readonly port: number
  /** The data directory (kept across stop and start). */
  readonly dataDir: string
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (trust authentication). */
  readonly url: string
  readonly running: () => boolean
  /** Starts it again on the same port with the same data; waits until it accepts connections. */
  readonly start: () => Promise<void>
  /** Stops it: `fast` (the default) ends sessions and checkpoints; `immediate` is a crash. */
  readonly stop: (mode?: "fast" | "immediate") => Promise<void>
  readonly restart: () => Promise<void>
  /** Stops it and deletes its files. */
  readonly cleanup: () => Promise<void>
}

export interface PostgresClusterOptions {
  /** Created at the first start (default `postgres`, which always exists). */
  readonly database?: string
  /** Serve TLS (`ssl = on`) with this certificate and key (e.g. from makeCertificates). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string }
  /** More postgresql.conf lines, `name = value`. */
  readonly settings?: Readonly<Record<string, string>>
}

const quote = (value: string) => `'${value.replaceAll("'", "''")}'`

export const startPostgresCluster = async (
  options: PostgresClusterOptions = {}
): Promise<PostgresCluster> => {
  const bin = postgresBinDir()
  if (bin === undefined) throw new Error("PostgreSQL's initdb and pg_ctl are not installed")
  const root = isRoot()
  const owner = root
    ? {
        uid: Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()),
        gid: Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
      }
    : undefined
  const own = (path: string) => {
    if (owner !== undefined) chownSync(path, owner.uid, owner.gid)
  }
  // As root the cluster belongs to `postgres`: its folder too (mkdtemp makes it 0700).
  const dir = mkdtempSync(join(tmpdir(), "eventflow-pg-"))
  own(dir)
  const dataDir = join(dir, "data")
  const logFile = join(dir, "postgres.log")
  const command = (program: string, args: ReadonlyArray<string>): [string, string[]] =>
    root
      ? ["runuser", ["-u", "postgres", "--", join(bin, program), ...args]]
      : [join(bin, program), [...args]]
  const run = (program: string, args: ReadonlyArray<string>) =>
    new Promise<void>((resolve, reject) => {
      const [file, argv] = command(program, args)
      execFile(file, argv, { cwd: dir, timeout: 120_000 }, (error, stdout, stderr) =>
        error === null
          ? resolve()
          : reject(new Error(`${program} ${args.join(" ")} failed: ${error.message}\n${stdout}${stderr}`))
      )
    })

  await run("initdb", [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--no-locale",
    "--no-sync"
  ])
  const port = await freePort()
  const conf: Record<string, string> = {
    port: String(port),
    listen_addresses: quote("127.0.0.1"),
    unix_socket_directories: quote(dir),
    fsync: "off",
    synchronous_commit: "off",
    full_page_writes: "off",
    max_connections: "50",
    ...options.settings
  }
  if (options.tls !== undefined) {
    // The key must belong to the server's user and be readable by it alone.
    for (const [from, to] of [
      [options.tls.certFile, "server.crt"],
      [options.tls.keyFile, "server.key"]
    ] as const) {
      copyFileSync(from, join(dataDir, to))
      chmodSync(join(dataDir, to), 0o600)
      own(join(dataDir, to))
    }
    Object.assign(conf, { ssl: "on", ssl_cert_file: quote("server.crt"), ssl_key_file: quote("server.key") })
  }
  appendFileSync(
    join(dataDir, "postgresql.conf"),
    `\n# EventFlow test cluster\n${Object.entries(conf)
      .map(([name, value]) => `${name} = ${value}`)
      .join("\n")}\n`
  )

  let running = false
  const stopNow = () => {
    if (!running) return
    const [file, argv] = command("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"])
    spawnSync(file, argv, { stdio: "ignore", timeout: 30_000 })
    running = false
  }
  // pg_ctl leaves the server running on its own: do not leave it behind if the tests end abruptly.
  process.once("exit", stopNow)

  const start = async () => {
    if (running) return
    await run("pg_ctl", ["-D", dataDir, "-l", logFile, "-w", "-t", "60", "start"])
    running = true
  }
  const stop = async (mode: "fast" | "immediate" = "fast") => {
    if (!running) return
    await run("pg_ctl", ["-D", dataDir, "-m", mode, "-w", "-t", "60", "stop"])
    running = false
  }

  await start()
  const database = options.database ?? "postgres"
  if (database !== "postgres") {
    const createdb = join(bin, "createdb")
    execFileSync(createdb, ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", database])
  }
  return {
    port,
    dataDir,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    running: () => running,
    start,
    stop,
    restart: async () => {
      await stop()
      await start()
    },
    cleanup: async () => {
      await stop("immediate").catch(() => stopNow())
      process.off("exit", stopNow)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
