/**
 * `eventflow dev` as a user runs it: a real process on embedded backends. Accepted events and
 * dedup state survive kill -9; SIGTERM answers the requests in flight before it exits; the keys
 * commands work against the running server.
 */

import { SqlClient } from "@effect/sql"
import { layerEmbeddedSql } from "@eventflow/backends"
import { freePort, tempDir } from "@eventflow/testing"
import { Effect } from "effect"
import { describe, expect, it, onTestFinished } from "vitest"
import { postEvents, runEventflow, startEventflow, stop, terminateUnderLoad } from "./support.ts"

const event = (id: string) => ({
  specversion: "1.0",
  id,
  source: "/laptop",
  type: "demo.created",
  data: { n: id }
})

const countRecords = (dataDir: string) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{
        n: string
      }>`SELECT count(*) AS n FROM eventflow_records WHERE topic = 'events.default'`
      return Number(rows[0]!.n)
    }).pipe(Effect.provide(layerEmbeddedSql(dataDir, "attach")), Effect.scoped)
  )

describe("eventflow dev (embedded)", () => {
  it("keeps accepted events and dedup state through kill -9 and a restart", async () => {
    const dataDir = tempDir("dev")
    const port = await freePort()
    const env = { EVENTFLOW_DATA_DIR: dataDir, EVENTFLOW_DEV_WRITE_KEY: "dev-key-for-tests" }
    const first = await startEventflow(["dev"], env, port)
    onTestFinished(() => {
      first.child.kill("SIGKILL")
    })
    expect(first.output()).toContain("Dev write key (any source): dev-key-for-tests")
    const accepted = await postEvents(port, "dev-key-for-tests", [event("a"), event("b")])
    expect(accepted.body).toMatchObject({ accepted: 2, duplicate: 0 })
    expect(await stop(first, "SIGKILL")).toBeNull()

    const second = await startEventflow(["dev"], env, port)
    onTestFinished(() => {
      second.child.kill("SIGKILL")
    })
    const again = await postEvents(port, "dev-key-for-tests", [event("a"), event("b"), event("c")])
    expect(again.body.results.map((r: { status: string }) => r.status)).toEqual([
      "duplicate",
      "duplicate",
      "accepted"
    ])
    expect(await countRecords(dataDir)).toBe(3)
    expect(await stop(second)).toBe(0)
  })

  it("on SIGTERM answers every request in flight, stores what it accepted, and exits 0", async () => {
    const dataDir = tempDir("drain")
    const port = await freePort()
    const env = { EVENTFLOW_DATA_DIR: dataDir, EVENTFLOW_DEV_WRITE_KEY: "k" }
    const running = await startEventflow(["dev"], env, port)
    onTestFinished(() => {
      running.child.kill("SIGKILL")
    })
    const batches = Array.from({ length: 20 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => event(`${b}-${i}`))
    )
    const acceptedCount = await terminateUnderLoad(running, port, "k", batches, 30)
    expect(await countRecords(dataDir)).toBe(acceptedCount)
  })

  it("manages write keys while the server runs: create, use, list, revoke", async () => {
    const dataDir = tempDir("keys")
    const port = await freePort()
    const env = { EVENTFLOW_DATA_DIR: dataDir, EVENTFLOW_KEY_CACHE_TTL: "0 millis" }
    const running = await startEventflow(["dev"], env, port)
    try {
      const created = await runEventflow(["keys", "create", "--source", "/app*", "--json"], env)
      expect(created.code).toBe(0)
      const key = JSON.parse(created.stdout) as { id: string; key: string; source: string }
      expect(key.source).toBe("/app*")
      const ok = await postEvents(port, key.key, { ...event("k1"), source: "/app/web" })
      expect(ok.body.accepted).toBe(1)
      const forbidden = await postEvents(port, key.key, event("k2"))
      expect([forbidden.status, forbidden.body.detail]).toEqual([
        403,
        "this write key may write events of source '/app*', not '/laptop'"
      ])

      const listed = await runEventflow(["keys", "list", "--json"], env)
      const rows = listed.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line))
      expect(rows.map((r) => [r.source, r.revokedAt])).toEqual([
        ["*", null],
        ["/app*", null]
      ])
      expect(listed.stdout).not.toContain(key.key)

      expect((await runEventflow(["keys", "revoke", key.id], env)).stdout).toBe(
        `Revoked write key ${key.id}.\n`
      )
      const revoked = await postEvents(port, key.key, { ...event("k3"), source: "/app/web" })
      expect(revoked.status).toBe(401)
      const again = await runEventflow(["keys", "revoke", key.id], env)
      expect([again.code, again.stderr]).toEqual([
        1,
        `eventflow: there is no active write key with id ${key.id}\n`
      ])
    } finally {
      await stop(running)
    }
  })

  it("refuses a second server on the same data directory with a plain sentence", async () => {
    const dataDir = tempDir("twice")
    const port = await freePort()
    const env = { EVENTFLOW_DATA_DIR: dataDir }
    const running = await startEventflow(["dev"], env, port)
    try {
      const second = await runEventflow(["dev"], { ...env, PORT: String(await freePort()) })
      expect(second.code).toBe(1)
      expect(second.stderr).toMatch(
        /^eventflow: the data directory .* is in use by process \d+; stop it or set EVENTFLOW_DATA_DIR\n$/
      )
    } finally {
      await stop(running)
    }
  })
})
