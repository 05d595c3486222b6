/**
 * `eventflow dev` as a user runs it: a real process on embedded backends. Accepted events and
 * dedup state survive kill -9; SIGTERM answers the requests in flight before it exits; the keys
 * commands work against the running server.
 */

import { freePort, tempDir, waitFor } from "@eventflow/testing"
import { describe, expect, it, onTestFinished } from "vitest"
import {
  countRecords,
  postEvents,
  runEventflow,
  startEventflow,
  stop,
  terminateUnderLoad
} from "./support.ts"

const event = (id: string) => ({
  specversion: "1.0",
  id,
  source: "/laptop",
  type: "demo.created",
  data: { n: id }
})

describe("eventflow dev (embedded)", () => {
  it("runs the example pipelines: events posted, then eventflow query shows the exact count per type", async () => {
    const dataDir = tempDir("dev-query")
    const port = await freePort()
    const env = { EVENTFLOW_DATA_DIR: dataDir, EVENTFLOW_DEV_WRITE_KEY: "dev-key-for-tests" }
    const running = await startEventflow(["dev"], env, port)
    onTestFinished(() => {
      running.child.kill("SIGKILL")
    })
    const types = { "page.viewed": 37, "cart.added": 11, "order.placed": 5 }
    const events = Object.entries(types).flatMap(([type, n]) =>
      Array.from({ length: n }, (_, i) => ({
        specversion: "1.0",
        id: `${type}-${i}`,
        source: "/shop",
        type,
        subject: `user${i % 4}`,
        time: "2026-11-27T10:15:30Z"
      }))
    )
    // Posted in two requests, with a repeat of the first (duplicates must not count).
    expect((await postEvents(port, "dev-key-for-tests", events.slice(0, 30))).body.accepted).toBe(30)
    expect((await postEvents(port, "dev-key-for-tests", events)).body).toMatchObject({
      accepted: events.length - 30,
      duplicate: 30
    })
    let lines: Array<{ key: string; values: { events: number } }> = []
    await waitFor("eventflow query to show every event", async () => {
      const result = await runEventflow(["query", "events-per-type", "--json"], env)
      if (result.code !== 0) return false
      lines = result.stdout
        .trim()
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l))
      return lines.reduce((n, l) => n + l.values.events, 0) === events.length
    })
    expect(Object.fromEntries(lines.map((l) => [l.key, l.values.events]))).toEqual(types)
    expect(lines[0]).toMatchObject({
      pipeline: "events-per-type",
      windowStart: "2026-11-27T10:15:00.000Z",
      windowEnd: "2026-11-27T10:16:00.000Z",
      final: false
    })
    const sessions = await runEventflow(["query", "user-sessions", "--key", "user1", "--json"], env)
    expect(
      sessions.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).values.events)
    ).toEqual([13])

    // A replay while the server runs: the rows are rebuilt from the log, with progress, and equal.
    const replayed = await runEventflow(["replay", "events-per-type"], env)
    expect(replayed.code, replayed.stderr).toBe(0)
    expect(replayed.stdout).toContain(
      `replay events-per-type: ${events.length} / ${events.length} records (100%)`
    )
    expect(replayed.stdout).toContain("replay events-per-type: done")
    const again = await runEventflow(["query", "events-per-type", "--json"], env)
    const counts = again.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { key: string; values: { events: number } })
    expect(Object.fromEntries(counts.map((l) => [l.key, l.values.events]))).toEqual(types)
    expect(await stop(running)).toBe(0)
  })

  it("keeps accepted events and dedup state through kill -9 and a restart", async () => {
    const dataDir = tempDir("dev")
    const port = await freePort()
    const env = { EVENTFLOW_DATA_DIR: dataDir, EVENTFLOW_DEV_WRITE_KEY: "dev-key-for-tests" }
    const first = await startEventflow(["dev"], env, port)
    onTestFinished(() => {
      first.child.kill("SIGKILL")
    })
    expect(first.output()).toContain("Dev write key (any source): the one EVENTFLOW_DEV_WRITE_KEY sets")
    // Never the key itself.
    expect(first.output()).not.toContain("dev-key-for-tests")
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
