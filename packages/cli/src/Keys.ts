/** `eventflow keys create|list|revoke`: manage write keys in the mode's database. */
import { layerBackends, readMode } from "@eventflow/backends"
import { type WriteKeyInfo, WriteKeys } from "@eventflow/core"
import { Console, Effect, type Layer, Option } from "effect"

const withKeys = <A, E>(use: (keys: WriteKeys["Type"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const mode = yield* readMode
    const layer = layerBackends(mode, { dedup: false, embedded: "attach", eventLog: false })
    return yield* Effect.flatMap(WriteKeys, use).pipe(
      Effect.provide(layer as Layer.Layer<WriteKeys, unknown>)
    )
  })

const row = (key: WriteKeyInfo) =>
  [
    key.id.padEnd(14),
    (key.revokedAt === null ? "active" : "revoked").padEnd(9),
    key.createdAt.toISOString().padEnd(26),
    key.source,
    key.description ? `  (${key.description})` : ""
  ].join("")

const asJson = (key: WriteKeyInfo) => ({
  id: key.id,
  source: key.source,
  description: key.description,
  createdAt: key.createdAt.toISOString(),
  revokedAt: key.revokedAt?.toISOString() ?? null
})

export const createKey = (source: string, description: Option.Option<string>, json: boolean) =>
  withKeys((keys) =>
    keys.create({ source, ...(Option.isSome(description) ? { description: description.value } : {}) })
  ).pipe(
    Effect.flatMap((created) =>
      json
        ? Console.log(JSON.stringify({ ...asJson(created), key: created.key }))
        : Console.log(
            `Created write key ${created.id} for source '${created.source}'.\n` +
              `Key (shown once, only its hash is stored): ${created.key}`
          )
    )
  )

export const listKeys = (json: boolean) =>
  withKeys((keys) => keys.list).pipe(
    Effect.flatMap((all) =>
      json
        ? Effect.forEach(all, (key) => Console.log(JSON.stringify(asJson(key))), { discard: true })
        : all.length === 0
          ? Console.log("No write keys. Create one with: eventflow keys create --source <source>")
          : Console.log(
              [`${"ID".padEnd(14)}${"STATE".padEnd(9)}${"CREATED".padEnd(26)}SOURCE`, ...all.map(row)].join(
                "\n"
              )
            )
    )
  )

export class KeyNotFound extends Error {}

export const revokeKey = (id: string) =>
  withKeys((keys) => keys.revoke(id)).pipe(
    Effect.flatMap((revoked) =>
      revoked
        ? Console.log(`Revoked write key ${id}.`)
        : Effect.fail(new KeyNotFound(`there is no active write key with id ${id}`))
    )
  )
