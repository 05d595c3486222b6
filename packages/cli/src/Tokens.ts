/** `eventflow tokens create|list|revoke`: read tokens for the query API, in the mode's database. */
import type { SqlClient } from "@effect/sql"
import { layerBackends, readMode } from "@eventflow/backends"
import { layerSqlReadTokens, type ReadTokenInfo, ReadTokens } from "@eventflow/query"
import { Console, Effect, Layer, Option } from "effect"

const withTokens = <A, E>(use: (tokens: ReadTokens["Type"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const mode = yield* readMode
    const backends = layerBackends(mode, { dedup: false, embedded: "attach", eventLog: false })
    const layer = layerSqlReadTokens().pipe(
      Layer.provide(backends as Layer.Layer<SqlClient.SqlClient, unknown>)
    )
    return yield* Effect.flatMap(ReadTokens, use).pipe(Effect.provide(layer))
  })

const asJson = (token: ReadTokenInfo) => ({
  id: token.id,
  description: token.description,
  createdAt: token.createdAt.toISOString(),
  revokedAt: token.revokedAt?.toISOString() ?? null
})

export const createToken = (description: Option.Option<string>, json: boolean) =>
  withTokens((tokens) =>
    tokens.create(Option.isSome(description) ? { description: description.value } : {})
  ).pipe(
    Effect.flatMap((created) =>
      json
        ? Console.log(JSON.stringify({ ...asJson(created), token: created.token }))
        : Console.log(
            `Created read token ${created.id}.\n` +
              `Token (shown once, only its hash is stored): ${created.token}\n` +
              "Send it as 'Authorization: Bearer <token>' to the query API; it cannot write events."
          )
    )
  )

export const listTokens = (json: boolean) =>
  withTokens((tokens) => tokens.list).pipe(
    Effect.flatMap((all) =>
      json
        ? Effect.forEach(all, (t) => Console.log(JSON.stringify(asJson(t))), { discard: true })
        : all.length === 0
          ? Console.log("No read tokens. Create one with: eventflow tokens create")
          : Console.log(
              [
                `${"ID".padEnd(14)}${"STATE".padEnd(9)}${"CREATED".padEnd(26)}DESCRIPTION`,
                ...all.map(
                  (t) =>
                    `${t.id.padEnd(14)}${(t.revokedAt === null ? "active" : "revoked").padEnd(9)}${t.createdAt
                      .toISOString()
                      .padEnd(26)}${t.description ?? ""}`
                )
              ].join("\n")
            )
    )
  )

export class TokenNotFound extends Error {}

export const revokeToken = (id: string) =>
  withTokens((tokens) => tokens.revoke(id)).pipe(
    Effect.flatMap((revoked) =>
      revoked
        ? Console.log(`Revoked read token ${id}.`)
        : Effect.fail(new TokenNotFound(`there is no active read token with id ${id}`))
    )
  )
