import { createConnection, type Socket } from "node:net"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { servePgliteWire } from "@eventflow/backends"
import { tempDir } from "@eventflow/testing"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

describe("PGlite over the wire to many clients", () => {
  const dir = tempDir("wire")
  let db: PGlite
  let server: { close: () => Promise<void> }
  const pools: pg.Pool[] = []
  const pool = () => {
    const p = new pg.Pool({ host: dir, port: 5432, user: "postgres", database: "postgres", max: 4 })
    pools.push(p)
    return p
  }

  beforeAll(async () => {
    db = await PGlite.create()
    server = await servePgliteWire(db, join(dir, ".s.PGSQL.5432"))
    await db.exec("CREATE TABLE t (n int PRIMARY KEY, who text)")
  }, 60_000)

  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()))
    await server.close()
    await db.close()
  })

  it("keeps the parameterized queries of concurrent clients apart", async () => {
    const a = pool()
    const b = pool()
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        (i % 2 === 0 ? a : b).query("SELECT $1::int * 2 AS doubled, $2::text AS who", [i, `c${i}`])
      )
    )
    expect(results.map((r) => [r.rows[0].doubled, r.rows[0].who])).toEqual(
      Array.from({ length: 400 }, (_, i) => [i * 2, `c${i}`])
    )
  })

  it("runs a client's messages up to its Sync as one unit, even when they arrive in pieces", async () => {
    const a = await rawClient(dir)
    const b = await rawClient(dir)
    // A parses and binds, then B runs a whole query, then A executes: A must get its own value.
    a.socket.write(Buffer.concat([parse("SELECT $1::text AS v"), bind("from-a")]))
    await new Promise((r) => setTimeout(r, 50))
    b.socket.write(Buffer.concat([parse("SELECT $1::text AS v"), bind("from-b"), execute(), sync()]))
    await new Promise((r) => setTimeout(r, 50))
    a.socket.write(Buffer.concat([execute(), sync()]))
    expect(await b.nextValue()).toBe("from-b")
    expect(await a.nextValue()).toBe("from-a")
    a.socket.destroy()
    b.socket.destroy()
  })

  it("gives a transaction the database until it ends, then lets the others in", async () => {
    const a = pool()
    const b = pool()
    const tx = await a.connect()
    await tx.query("BEGIN")
    await tx.query("INSERT INTO t VALUES (1, 'tx')")
    let otherDone = false
    const other = b.query("INSERT INTO t VALUES (2, 'other')").then(() => {
      otherDone = true
    })
    await new Promise((r) => setTimeout(r, 100))
    // The other client waits: it would otherwise run inside this transaction's session.
    expect(otherDone).toBe(false)
    await tx.query("COMMIT")
    tx.release()
    await other
    expect((await b.query("SELECT n, who FROM t ORDER BY n")).rows).toEqual([
      { n: 1, who: "tx" },
      { n: 2, who: "other" }
    ])
  })

  it("rolls back the transaction of a client that goes away", async () => {
    const client = new pg.Client({ host: dir, port: 5432, user: "postgres", database: "postgres" })
    client.on("error", () => {})
    await client.connect()
    await client.query("BEGIN")
    await client.query("INSERT INTO t VALUES (3, 'lost')")
    ;(client as unknown as { connection: { stream: { destroy: () => void } } }).connection.stream.destroy()
    const after = await pool().query("SELECT count(*)::int AS n FROM t WHERE n = 3")
    expect(after.rows[0].n).toBe(0)
  })
})

// Just enough of the PostgreSQL wire protocol to split one client's messages across writes.
const message = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5)
  head.write(type, 0)
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}
const cstring = (text: string) => Buffer.from(`${text}\0`)
const int16 = (n: number) => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}
const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const parse = (sql: string) => message("P", Buffer.concat([cstring(""), cstring(sql), int16(0)]))
const bind = (value: string) =>
  message(
    "B",
    Buffer.concat([
      cstring(""),
      cstring(""),
      int16(0),
      int16(1),
      int32(value.length),
      Buffer.from(value),
      int16(0)
    ])
  )
const execute = () => message("E", Buffer.concat([cstring(""), int32(0)]))
const sync = () => message("S", Buffer.alloc(0))

const rawClient = async (dir: string) => {
  const socket: Socket = createConnection(join(dir, ".s.PGSQL.5432"))
  let received = Buffer.alloc(0)
  const waiters: Array<() => void> = []
  socket.on("data", (chunk) => {
    received = Buffer.concat([received, chunk])
    for (const wake of waiters.splice(0)) wake()
  })
  // Reads whole backend messages up to ReadyForQuery; returns the first column of the first DataRow.
  const untilReady = async (): Promise<string | undefined> => {
    let value: string | undefined
    while (true) {
      while (received.length >= 5 && received.length >= 1 + received.readInt32BE(1)) {
        const length = 1 + received.readInt32BE(1)
        const type = String.fromCharCode(received[0]!)
        if (type === "D" && value === undefined) {
          const size = received.readInt32BE(7)
          value = received.subarray(11, 11 + size).toString()
        }
        received = received.subarray(length)
        if (type === "Z") return value
      }
      await new Promise<void>((wake) => waiters.push(wake))
    }
  }
  const startup = Buffer.concat([
    int32(196608),
    cstring("user"),
    cstring("postgres"),
    cstring("database"),
    cstring("postgres"),
    Buffer.from([0])
  ])
  socket.write(Buffer.concat([int32(startup.length + 4), startup]))
  await untilReady()
  return { socket, nextValue: untilReady }
}
