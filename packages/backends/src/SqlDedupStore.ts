/**
 * DedupStore on SQL (the embedded mode's PGlite), with the protocol and outcomes of the Redis one:
 * a row per identity holding `p:<token>` (pending) or `d` (done) and the time it expires.
 */
import { randomUUID } from "node:crypto"
import { SqlClient } from "@effect/sql"
import {
  BackendUnavailable,
  type ClaimOutcome,
  DedupStore,
  type DedupWindows,
  type EventIdentity,
  identityKey
} from "@eventflow/core"
import { Duration, Effect, Layer, Schedule } from "effect"

const unavailable = (cause: unknown) =>
  new BackendUnavailable({
    backend: "dedup",
    message: `the dedup store is unavailable: ${String(cause)}`,
    cause
  })

export const makeSqlDedupStore = (windows: DedupWindows) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS eventflow_dedup (
      key text PRIMARY KEY,
      state text NOT NULL,
      expires_at bigint NOT NULL
    )`.pipe(Effect.mapError(unavailable))
    // Expired rows are dead weight: sweep them every minute.
    yield* Effect.suspend(() => sql`DELETE FROM eventflow_dedup WHERE expires_at <= ${Date.now()}`).pipe(
      Effect.catchAll(() => Effect.void),
      Effect.repeat(Schedule.spaced(Duration.minutes(1))),
      Effect.forkScoped
    )
    const keysOf = (identities: ReadonlyArray<EventIdentity>) => identities.map((i) => identityKey("", i))

    return DedupStore.of({
      claim: (identities) =>
        Effect.gen(function* () {
          const token = `p:${randomUUID()}`
          const keys = keysOf(identities)
          const now = Date.now()
          const rows = yield* sql<{ key: string; claimed: boolean; state: string | null }>`
            WITH input AS (SELECT DISTINCT key FROM unnest(${keys}::text[]) AS t(key)),
            claimed AS (
              INSERT INTO eventflow_dedup (key, state, expires_at)
              SELECT key, ${token}, ${now + windows.pendingMillis} FROM input
              ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, expires_at = EXCLUDED.expires_at
                WHERE eventflow_dedup.expires_at <= ${now}
              RETURNING key
            )
            SELECT input.key, claimed.key IS NOT NULL AS claimed, existing.state
            FROM input
            LEFT JOIN claimed ON claimed.key = input.key
            LEFT JOIN eventflow_dedup existing ON existing.key = input.key`.pipe(Effect.mapError(unavailable))
          const byKey = new Map(rows.map((row) => [row.key, row]))
          const outcomes = keys.map((key): ClaimOutcome => {
            const row = byKey.get(key)
            if (row === undefined || row.claimed) return "claimed"
            return row.state === "d" ? "duplicate" : "pending"
          })
          return { token, outcomes }
        }).pipe(
          Effect.withSpan("SqlDedupStore.claim", {
            captureStackTrace: false,
            attributes: { keys: identities.length }
          })
        ),
      commit: (_token, identities) =>
        sql`
          INSERT INTO eventflow_dedup (key, state, expires_at)
          SELECT key, 'd', ${Date.now() + windows.doneMillis} FROM unnest(${keysOf(identities)}::text[]) AS t(key)
          ON CONFLICT (key) DO UPDATE SET state = 'd', expires_at = EXCLUDED.expires_at`.pipe(
          Effect.asVoid,
          Effect.mapError(unavailable),
          Effect.withSpan("SqlDedupStore.commit", {
            captureStackTrace: false,
            attributes: { keys: identities.length }
          })
        ),
      release: (token, identities) =>
        sql`DELETE FROM eventflow_dedup WHERE key = ANY(${keysOf(identities)}::text[]) AND state = ${token}`.pipe(
          Effect.asVoid,
          Effect.mapError(unavailable),
          Effect.withSpan("SqlDedupStore.release", {
            captureStackTrace: false,
            attributes: { keys: identities.length }
          })
        ),
      ping: sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(unavailable))
    })
  })

export const layerSqlDedup = (windows: DedupWindows) => Layer.scoped(DedupStore, makeSqlDedupStore(windows))
