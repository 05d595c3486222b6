import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { layer as withLayer } from "@effect/vitest"
import { layerEmbeddedSql, layerSqlWriteKeys, makeSqlWriteKeys } from "@eventflow/backends"
import { WriteKeys } from "@eventflow/core"
import { describeWithServices, serviceUrls, tempDir } from "@eventflow/testing"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"

const contract = (sql: Layer.Layer<SqlClient.SqlClient, unknown>) => {
  const layer = layerSqlWriteKeys({ cacheTtl: Duration.zero }).pipe(Layer.provideMerge(sql))
  withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("creates a key, stores only its hash, verifies it, and revokes it", () =>
      Effect.gen(function* () {
        const keys = yield* WriteKeys
        const sql = yield* SqlClient.SqlClient
        const source = `/test/${Date.now()}`
        const created = yield* keys.create({ source, description: "ci" })
        expect(created.key).toMatch(/^efk_[0-9a-f]{12}_/)
        const stored = yield* sql<{
          key_hash: Uint8Array
        }>`SELECT key_hash FROM eventflow_write_keys WHERE id = ${created.id}`
        expect(Buffer.from(stored[0]!.key_hash).toString("utf8")).not.toContain(created.key)
        expect(Buffer.from(stored[0]!.key_hash)).toHaveLength(32)

        const verified = yield* keys.verify(created.key)
        expect(Option.map(verified, (k) => [k.id, k.source])).toEqual(Option.some([created.id, source]))
        const last = created.key.at(-1) === "A" ? "B" : "A"
        expect(Option.isNone(yield* keys.verify(`${created.key.slice(0, -1)}${last}`))).toBe(true)
        expect(Option.isNone(yield* keys.verify("efk_000000000000_nope"))).toBe(true)

        const listed = (yield* keys.list).find((k) => k.id === created.id)
        expect(listed).toMatchObject({ source, description: "ci", revokedAt: null })

        expect(yield* keys.revoke(created.id)).toBe(true)
        expect(yield* keys.revoke(created.id)).toBe(false)
        expect(Option.isNone(yield* keys.verify(created.key))).toBe(true)
        expect((yield* keys.list).find((k) => k.id === created.id)?.revokedAt).toBeInstanceOf(Date)
      })
    )

    it.effect("accepts a chosen key (the dev key) and recreating it is idempotent", () =>
      Effect.gen(function* () {
        const keys = yield* WriteKeys
        const chosen = `dev-key-${Date.now()}`
        const first = yield* keys.create({ source: "*", key: chosen })
        const again = yield* keys.create({ source: "*", key: chosen })
        expect(again.id).toBe(first.id)
        expect(Option.isSome(yield* keys.verify(chosen))).toBe(true)
      })
    )

    it.effect("keeps a key's own rate limit: set at creation, changed, back to the default", () =>
      Effect.gen(function* () {
        const keys = yield* WriteKeys
        const chosen = `limited-key-${Date.now()}`
        const created = yield* keys.create({ source: "/lim", key: chosen, limit: { rate: 2.5, burst: 10 } })
        expect([created.rateLimit, created.rateBurst]).toEqual([2.5, 10])
        const verified = yield* keys.verify(chosen)
        expect(Option.map(verified, (k) => [k.rateLimit, k.rateBurst])).toEqual(Option.some([2.5, 10]))
        // Recreating the key (the dev key at each start) keeps its limit.
        const again = yield* keys.create({ source: "/lim", key: chosen })
        expect([again.rateLimit, again.rateBurst]).toEqual([2.5, 10])

        expect(yield* keys.setLimit(created.id, { rate: 0, burst: null })).toBe(true)
        expect((yield* keys.list).find((k) => k.id === created.id)).toMatchObject({
          rateLimit: 0,
          rateBurst: null
        })
        expect(yield* keys.setLimit(created.id, null)).toBe(true)
        const back = yield* keys.verify(chosen)
        expect(Option.map(back, (k) => [k.rateLimit, k.rateBurst])).toEqual(Option.some([null, null]))
        expect(yield* keys.setLimit("000000000000", { rate: 1, burst: null })).toBe(false)

        const plain = yield* keys.create({ source: "/plain" })
        expect([plain.rateLimit, plain.rateBurst]).toEqual([null, null])
      })
    )
  })
}

await describeWithServices(["postgres"], "SqlWriteKeys on the real PostgreSQL", () => {
  contract(PgClient.layer({ url: Redacted.make(serviceUrls.postgres) }))
})

describe("SqlWriteKeys on embedded PGlite", () => {
  contract(layerEmbeddedSql(tempDir("keys"), "own"))

  it("adds the limit columns to a table of an earlier version, keeping its keys", async () => {
    const id = "0123456789ab"
    const info = await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        // The table as the first release created it.
        yield* sql`CREATE TABLE eventflow_write_keys (
          id text PRIMARY KEY,
          source text NOT NULL,
          key_hash bytea NOT NULL,
          description text,
          created_at timestamptz NOT NULL DEFAULT now(),
          revoked_at timestamptz
        )`
        yield* sql`INSERT INTO eventflow_write_keys (id, source, key_hash) VALUES (${id}, '/old', ${Buffer.alloc(32)})`
        const keys = yield* makeSqlWriteKeys({ cacheTtl: Duration.zero })
        expect(yield* keys.setLimit(id, { rate: 3, burst: 7 })).toBe(true)
        return (yield* keys.list).find((k) => k.id === id)
      }).pipe(Effect.provide(layerEmbeddedSql(tempDir("keys-old"), "own")), Effect.scoped)
    )
    expect(info).toMatchObject({ source: "/old", rateLimit: 3, rateBurst: 7 })
  })
})
