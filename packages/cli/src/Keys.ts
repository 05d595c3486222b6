/** `eventflow keys create|list|revoke|limit`: manage write keys in the mode's database. */
import { layerBackends, readMode } from "@eventflow/backends"
import { type WriteKeyInfo, type WriteKeyLimit, WriteKeys } from "@eventflow/core"
import { Console, Effect, type Layer, Option } from "effect"

const withKeys = <A, E>(use: (keys: WriteKeys["Type"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const mode = yield* readMode
    const layer = layerBackends(mode, { dedup: false, embedded: "attach", eventLog: false })
    return yield* Effect.flatMap(WriteKeys, use).pipe(
      Effect.provide(layer as Layer.Layer<WriteKeys, unknown>)
    )
  })

/** A key's rate limit in a few words: `default`, `none`, `20/s`, `20/s, burst 100`. */
export const limitText = (key: Pick<WriteKeyInfo, "rateLimit" | "rateBurst">): string => {
  const burst = key.rateBurst === null ? "" : `, burst ${key.rateBurst}`
  if (key.rateLimit === null) return `default${burst}`
  return key.rateLimit === 0 ? "none" : `${key.rateLimit}/s${burst}`
}

const row = (key: WriteKeyInfo) =>
  [
    key.id.padEnd(14),
    (key.revokedAt === null ? "active" : "revoked").padEnd(9),
    key.createdAt.toISOString().padEnd(26),
    limitText(key).padEnd(20),
    key.source,
    key.description ? `  (${key.description})` : ""
  ].join("")

const asJson = (key: WriteKeyInfo) => ({
  id: key.id,
  source: key.source,
  description: key.description,
  createdAt: key.createdAt.toISOString(),
  revokedAt: key.revokedAt?.toISOString() ?? null,
  // null: the default (EVENTFLOW_RATE_LIMIT, EVENTFLOW_RATE_BURST); a rate of 0: no limit.
  rateLimit: key.rateLimit,
  rateBurst: key.rateBurst
})

/** A mistake in the command's input, said in a sentence. */
export class KeyInputError extends Error {}

/** The limit that `--rate-limit` and `--burst` say, none when neither is given. */
const limitOf = (rate: Option.Option<number>, burst: Option.Option<number>) =>
  Effect.gen(function* () {
    if (Option.isNone(rate)) {
      if (Option.isSome(burst)) {
        return yield* Effect.fail(
          new KeyInputError("--burst needs --rate-limit (the default rate's burst is EVENTFLOW_RATE_BURST)")
        )
      }
      return undefined
    }
    if (!Number.isFinite(rate.value) || rate.value < 0) {
      return yield* Effect.fail(
        new KeyInputError("--rate-limit must be a number of events per second, 0 or more (0: no limit)")
      )
    }
    if (Option.isSome(burst) && (!Number.isInteger(burst.value) || burst.value < 1)) {
      return yield* Effect.fail(new KeyInputError("--burst must be a whole number of events, 1 or more"))
    }
    return { rate: rate.value, burst: Option.getOrNull(burst) } satisfies WriteKeyLimit
  })

const describeLimit = (limit: WriteKeyLimit | null): string =>
  limit === null
    ? "the default rate limit (EVENTFLOW_RATE_LIMIT, EVENTFLOW_RATE_BURST)"
    : limit.rate === 0
      ? "no rate limit"
      : `at most ${limit.rate} events per second, ${limit.burst === null ? "the default burst" : `bursts of ${limit.burst}`}`

export interface LimitOptions {
  readonly rateLimit: Option.Option<number>
  readonly burst: Option.Option<number>
}

export const createKey = (
  source: string,
  description: Option.Option<string>,
  limits: LimitOptions,
  json: boolean
) =>
  Effect.flatMap(limitOf(limits.rateLimit, limits.burst), (limit) =>
    withKeys((keys) =>
      keys.create({
        source,
        ...(Option.isSome(description) ? { description: description.value } : {}),
        ...(limit !== undefined ? { limit } : {})
      })
    )
  ).pipe(
    Effect.flatMap((created) =>
      json
        ? Console.log(JSON.stringify({ ...asJson(created), key: created.key }))
        : Console.log(
            `Created write key ${created.id} for source '${created.source}'` +
              (created.rateLimit === null
                ? ""
                : `, ${describeLimit({ rate: created.rateLimit, burst: created.rateBurst })}`) +
              `.\nKey (shown once, only its hash is stored): ${created.key}`
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
              [
                `${"ID".padEnd(14)}${"STATE".padEnd(9)}${"CREATED".padEnd(26)}${"RATE LIMIT".padEnd(20)}SOURCE`,
                ...all.map(row)
              ].join("\n")
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

/** `keys limit <id> --rate-limit N [--burst N]`, or `--default`. */
export const limitKey = (id: string, limits: LimitOptions, toDefault: boolean) =>
  Effect.gen(function* () {
    if (toDefault && (Option.isSome(limits.rateLimit) || Option.isSome(limits.burst))) {
      return yield* Effect.fail(
        new KeyInputError("give either --default or --rate-limit (and --burst), not both")
      )
    }
    const limit = toDefault ? null : yield* limitOf(limits.rateLimit, limits.burst)
    if (limit === undefined) {
      return yield* Effect.fail(
        new KeyInputError(
          "say the key's limit with --rate-limit <events per second> [--burst <events>], or --default"
        )
      )
    }
    const found = yield* withKeys((keys) => keys.setLimit(id, limit))
    if (!found) return yield* Effect.fail(new KeyNotFound(`there is no write key with id ${id}`))
    // Servers cache keys for EVENTFLOW_KEY_CACHE_TTL: the change reaches them within it.
    yield* Console.log(`Write key ${id}: ${describeLimit(limit)}.`)
  })
