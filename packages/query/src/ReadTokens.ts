/**
 * Read tokens for the query API, kept apart from write keys: a write key cannot read and a read
 * token cannot write. Stored hashed (SHA-256 of a 256-bit secret), compared in constant time.
 */
import { createHash, randomBytes } from "node:crypto"
import { SqlClient, type SqlError } from "@effect/sql"
import { BackendUnavailable, hashWriteKey, writeKeyMatches } from "@eventflow/core"
import { Context, Effect, Layer } from "effect"

export interface ReadTokenInfo {
  readonly id: string
  readonly description: string | null
  readonly createdAt: Date
  readonly revokedAt: Date | null
}

export class ReadTokens extends Context.Tag("query/ReadTokens")<
  ReadTokens,
  {
    readonly create: (options: {
      readonly description?: string
      /** Use this secret instead of generating one. */
      readonly token?: string
    }) => Effect.Effect<ReadTokenInfo & { readonly token: string }, BackendUnavailable>
    readonly list: Effect.Effect<ReadonlyArray<ReadTokenInfo>, BackendUnavailable>
    readonly revoke: (id: string) => Effect.Effect<boolean, BackendUnavailable>
    readonly verify: (presented: string) => Effect.Effect<boolean, BackendUnavailable>
  }
>() {}

const TOKEN_FORMAT = /^efr_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/

export const readTokenId = (token: string): string =>
  TOKEN_FORMAT.exec(token)?.[1] ??
  createHash("sha256").update(`eventflow-read-token-id:${token}`).digest("hex").slice(0, 12)

export const generateReadToken = (): string =>
  `efr_${randomBytes(6).toString("hex")}_${randomBytes(32).toString("base64url")}`

const unavailable = (cause: SqlError.SqlError) =>
  new BackendUnavailable({
    backend: "readmodel",
    message: `the token store is unavailable: ${cause.message}`,
    cause
  })

interface TokenRow {
  readonly id: string
  readonly token_hash: Uint8Array
  readonly description: string | null
  readonly created_at: Date
  readonly revoked_at: Date | null
}

const toInfo = (row: TokenRow): ReadTokenInfo => ({
  id: row.id,
  description: row.description,
  createdAt: new Date(row.created_at),
  revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at)
})

export const makeSqlReadTokens = (cacheTtlMs: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql
      .withTransaction(
        Effect.zipRight(
          sql`SELECT pg_advisory_xact_lock(7419000006)`,
          sql`CREATE TABLE IF NOT EXISTS eventflow_read_tokens (
            id text PRIMARY KEY,
            token_hash bytea NOT NULL,
            description text,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
          )`
        )
      )
      .pipe(Effect.mapError(unavailable))
    // A verified token (or an unknown one) is remembered for cacheTtlMs: a revocation takes effect within it.
    const cache = new Map<string, { readonly row: TokenRow | undefined; readonly until: number }>()
    const rowOf = (id: string) =>
      Effect.suspend(() => {
        const now = Date.now()
        const hit = cache.get(id)
        if (hit !== undefined && hit.until > now) return Effect.succeed(hit.row)
        return sql<TokenRow>`SELECT * FROM eventflow_read_tokens WHERE id = ${id}`.pipe(
          Effect.map((rows) => rows[0]),
          Effect.tap((row) =>
            Effect.sync(() => {
              if (cache.size >= 10_000) cache.clear()
              cache.set(id, { row, until: now + cacheTtlMs })
            })
          ),
          Effect.mapError(unavailable)
        )
      })
    return ReadTokens.of({
      create: ({ description, token }) =>
        Effect.gen(function* () {
          const secret = token ?? generateReadToken()
          const id = readTokenId(secret)
          const rows = yield* sql<TokenRow>`
            INSERT INTO eventflow_read_tokens (id, token_hash, description)
            VALUES (${id}, ${hashWriteKey(secret)}, ${description ?? null})
            ON CONFLICT (id) DO UPDATE SET token_hash = EXCLUDED.token_hash, revoked_at = NULL
            RETURNING *`.pipe(Effect.mapError(unavailable))
          cache.delete(id)
          return { ...toInfo(rows[0] as TokenRow), token: secret }
        }),
      list: sql<TokenRow>`SELECT * FROM eventflow_read_tokens ORDER BY created_at, id`.pipe(
        Effect.map((rows) => rows.map(toInfo)),
        Effect.mapError(unavailable)
      ),
      revoke: (id) =>
        sql`UPDATE eventflow_read_tokens SET revoked_at = now() WHERE id = ${id} AND revoked_at IS NULL RETURNING id`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.tap(() => Effect.sync(() => cache.delete(id))),
          Effect.mapError(unavailable)
        ),
      verify: (presented) =>
        rowOf(readTokenId(presented)).pipe(
          Effect.map(
            (row) =>
              row !== undefined && row.revoked_at === null && writeKeyMatches(presented, row.token_hash)
          )
        )
    })
  })

export const layerSqlReadTokens = (cacheTtlMs = 10_000) =>
  Layer.effect(ReadTokens, makeSqlReadTokens(cacheTtlMs))
