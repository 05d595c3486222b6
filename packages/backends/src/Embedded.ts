/**
 * The embedded database: PGlite (Postgres compiled to WebAssembly) with its data under the data
 * directory, served on a Unix socket so that the same @effect/sql-pg client code runs on it as on
 * PostgreSQL (see PgliteWire.ts). One process owns a data directory; other commands (`eventflow keys …`) attach to
 * the owner's socket while it runs.
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { PGlite } from "@electric-sql/pglite"
import { Data, Effect, Layer } from "effect"
import { servePgliteWire } from "./PgliteWire.ts"

export class DataDirError extends Data.TaggedError("DataDirError")<{ readonly message: string }> {}

interface ServerFile {
  readonly pid: number
  readonly socketDir: string
}

const SOCKET_PORT = 5432
const SERVER_FILE = "server.json"

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The owner of a data directory, when a live process holds it. */
export const runningOwner = (dataDir: string): ServerFile | undefined => {
  const file = join(resolve(dataDir), SERVER_FILE)
  if (!existsSync(file)) return undefined
  try {
    const owner = JSON.parse(readFileSync(file, "utf8")) as ServerFile
    return alive(owner.pid) && owner.pid !== process.pid ? owner : undefined
  } catch {
    return undefined
  }
}

/** Unix socket paths are limited to about 100 bytes; a deep data directory gets its socket in the temp folder. */
const socketDirFor = (dataDir: string): string => {
  const direct = join(dataDir, "run")
  if (join(direct, `.s.PGSQL.${SOCKET_PORT}`).length <= 100) return direct
  const digest = createHash("sha256").update(dataDir).digest("hex").slice(0, 16)
  return join(tmpdir(), `eventflow-${digest}`)
}

const clientLayer = (socketDir: string) =>
  PgClient.layer({
    host: socketDir,
    port: SOCKET_PORT,
    username: "postgres",
    database: "postgres",
    maxConnections: 8,
    applicationName: "eventflow"
  })

/** Starts PGlite on the data directory and serves it on a Unix socket for the life of the scope. */
const serve = (dataDir: string) =>
  Effect.gen(function* () {
    const socketDir = socketDirFor(dataDir)
    mkdirSync(join(dataDir, "pg"), { recursive: true })
    mkdirSync(socketDir, { recursive: true })
    rmSync(join(socketDir, `.s.PGSQL.${SOCKET_PORT}`), { force: true })
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => PGlite.create(join(dataDir, "pg")),
        catch: (cause) =>
          new DataDirError({ message: `cannot open the embedded database in ${dataDir}: ${cause}` })
      }),
      (db) => Effect.promise(() => db.close())
    ).pipe(Effect.withSpan("Embedded.open"))
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => servePgliteWire(db, join(socketDir, `.s.PGSQL.${SOCKET_PORT}`)),
        catch: (cause) => new DataDirError({ message: `cannot serve the embedded database: ${cause}` })
      }),
      (server) => Effect.promise(() => server.close())
    )
    const serverFile = join(dataDir, SERVER_FILE)
    yield* Effect.acquireRelease(
      Effect.sync(() => writeFileSync(serverFile, JSON.stringify({ pid: process.pid, socketDir }))),
      () => Effect.sync(() => rmSync(serverFile, { force: true }))
    )
    return socketDir
  })

/**
 * The SqlClient of the embedded mode. `own`: this process opens the data directory and fails when
 * another process holds it; `attach`: connect to the process that holds it, else open it.
 */
export const layerEmbeddedSql = (dataDirInput: string, mode: "own" | "attach") =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const dataDir = resolve(dataDirInput)
      mkdirSync(dataDir, { recursive: true })
      const owner = runningOwner(dataDir)
      if (owner !== undefined) {
        if (mode === "own") {
          return yield* new DataDirError({
            message: `the data directory ${dataDir} is in use by process ${owner.pid}; stop it or set EVENTFLOW_DATA_DIR`
          })
        }
        return clientLayer(owner.socketDir)
      }
      return clientLayer(yield* serve(dataDir))
    })
  )
