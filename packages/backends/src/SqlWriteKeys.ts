/** WriteKeys in Postgres (distributed) or PGlite (embedded): same SQL through @effect/sql. */

import { SqlClient } from "@effect/sql"
import {
  BackendUnavailable,
  generateWriteKey,
  hashWriteKey,
  type WriteKeyInfo,
  type WriteKeyLimit,
  WriteKeys,
  writeKeyId,
  writeKeyMatches
} from "@eventflow/core"
import { Config, Duration, Effect, Layer, Option } from "effect"

interface KeyRow {
  readonly id: string
  readonly source: string
  readonly key_hash: Uint8Array
  readonly description: string | null
  readonly created_at: Date
  readonly revoked_at: Date | null
  readonly rate_limit: number | null
  readonly rate_burst: number | null
}

const unavailable = (cause: unknown) =>
  new BackendUnavailable({
    backend: "keys",
    message: `the key store is unavailable: ${String(cause)}`,
    cause
  })

const toInfo = (row: KeyRow): WriteKeyInfo => ({
  id: row.id,
  source: row.source,
  createdAt: new Date(row.created_at),
  revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  description: row.description,
  rateLimit: row.rate_limit === null ? null : Number(row.rate_limit),
  rateBurst: row.rate_burst === null ? null : Number(row.rate_burst)
})

export const migrateWriteKeys = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(
    Effect.gen(function* () {
      // Several instances may start at once: serialize their DDL.
      yield* sql`SELECT pg_advisory_xact_lock(7419000001)`
      yield* sql`CREATE TABLE IF NOT EXISTS eventflow_write_keys (
        id text PRIMARY KEY,
        source text NOT NULL,
        key_hash bytea NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`
      // Added after the first release: a key's own rate limit (null: the default; rate 0: none).
      yield* sql`ALTER TABLE eventflow_write_keys ADD COLUMN IF NOT EXISTS rate_limit double precision`
      yield* sql`ALTER TABLE eventflow_write_keys ADD COLUMN IF NOT EXISTS rate_burst integer`
    })
  )
})

export interface WriteKeyCacheOptions {
  /** How long a verified key (or an unknown one) is remembered; a revocation takes effect within it. */
  readonly cacheTtl: Duration.Duration
}

export const makeSqlWriteKeys = (options: WriteKeyCacheOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* migrateWriteKeys.pipe(Effect.mapError(unavailable))
    const ttl = Duration.toMillis(options.cacheTtl)
    const cache = new Map<string, { readonly row: KeyRow | undefined; readonly until: number }>()

    const fetchRow = (id: string) =>
      sql<KeyRow>`SELECT * FROM eventflow_write_keys WHERE id = ${id}`.pipe(
        Effect.map((rows) => rows[0]),
        Effect.mapError(unavailable)
      )

    const cachedRow = (id: string) =>
      Effect.suspend(() => {
        const now = Date.now()
        const hit = cache.get(id)
        if (hit !== undefined && hit.until > now) return Effect.succeed(hit.row)
        return fetchRow(id).pipe(
          Effect.tap((row) =>
            Effect.sync(() => {
              if (cache.size >= 10_000) cache.clear()
              cache.set(id, { row, until: now + ttl })
            })
          )
        )
      })

    return WriteKeys.of({
      create: ({ source, description, key, limit }) =>
        Effect.gen(function* () {
          const secret = key ?? generateWriteKey()
          const id = writeKeyId(secret)
          // Recreating a key (the dev key at each start) keeps the limit it was given, unless one is given now.
          const rows = yield* sql<KeyRow>`
            INSERT INTO eventflow_write_keys (id, source, key_hash, description, rate_limit, rate_burst)
            VALUES (${id}, ${source}, ${hashWriteKey(secret)}, ${description ?? null},
              ${limit?.rate ?? null}, ${limit?.burst ?? null})
            ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, revoked_at = NULL,
              rate_limit = CASE WHEN ${limit !== undefined}::boolean THEN EXCLUDED.rate_limit
                ELSE eventflow_write_keys.rate_limit END,
              rate_burst = CASE WHEN ${limit !== undefined}::boolean THEN EXCLUDED.rate_burst
                ELSE eventflow_write_keys.rate_burst END
            RETURNING *`.pipe(Effect.mapError(unavailable))
          cache.delete(id)
          return { ...toInfo(rows[0]!), key: secret }
        }).pipe(Effect.withSpan("WriteKeys.create", { captureStackTrace: false })),
      list: sql<KeyRow>`SELECT * FROM eventflow_write_keys ORDER BY created_at, id`.pipe(
        Effect.map((rows) => rows.map(toInfo)),
        Effect.mapError(unavailable),
        Effect.withSpan("WriteKeys.list", { captureStackTrace: false })
      ),
      revoke: (id) =>
        sql`UPDATE eventflow_write_keys SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL RETURNING id`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.tap(() => Effect.sync(() => cache.delete(id))),
          Effect.mapError(unavailable),
          Effect.withSpan("WriteKeys.revoke", { captureStackTrace: false })
        ),
      setLimit: (id, limit: WriteKeyLimit | null) =>
        sql`UPDATE eventflow_write_keys SET rate_limit = ${limit?.rate ?? null},
              rate_burst = ${limit?.burst ?? null}
            WHERE id = ${id} RETURNING id`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.tap(() => Effect.sync(() => cache.delete(id))),
          Effect.mapError(unavailable),
          Effect.withSpan("WriteKeys.setLimit", { captureStackTrace: false })
        ),
      verify: (presented) =>
        cachedRow(writeKeyId(presented)).pipe(
          Effect.map((row) =>
            row !== undefined && row.revoked_at === null && writeKeyMatches(presented, row.key_hash)
              ? Option.some(toInfo(row))
              : Option.none()
          ),
          Effect.withSpan("WriteKeys.verify", { captureStackTrace: false })
        ),
      ping: sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(unavailable))
    })
  })

export const layerSqlWriteKeys = (options: WriteKeyCacheOptions) =>
  Layer.effect(WriteKeys, makeSqlWriteKeys(options))

export const WriteKeyCacheConfig: Config.Config<WriteKeyCacheOptions> = Config.all({
  cacheTtl: Config.duration("EVENTFLOW_KEY_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(10)))
})

export const layerSqlWriteKeysConfig = Layer.unwrapEffect(Effect.map(WriteKeyCacheConfig, layerSqlWriteKeys))
