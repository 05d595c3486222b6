import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { Context, type Effect, type Option } from "effect"
import type { BackendUnavailable } from "./Errors.ts"

export interface WriteKeyInfo {
  readonly id: string
  /** The sources this key may write: an exact source, or a prefix ending in `*` (`*` alone: any). */
  readonly source: string
  readonly createdAt: Date
  readonly revokedAt: Date | null
  readonly description: string | null
  /** Events per second this key may send; null: the default (EVENTFLOW_RATE_LIMIT); 0: no limit. */
  readonly rateLimit: number | null
  /** Events this key may send at once; null: the default burst. */
  readonly rateBurst: number | null
}

/** A key's own limit: `null` goes back to the default; a rate of 0 means no limit for this key. */
export interface WriteKeyLimit {
  readonly rate: number
  /** null: the default burst. */
  readonly burst: number | null
}

export interface CreatedWriteKey extends WriteKeyInfo {
  /** The secret key, shown once: only its hash is stored. */
  readonly key: string
}

/** Write keys per source, stored hashed (SHA-256 of a 256-bit random secret), compared in constant time. */
export class WriteKeys extends Context.Tag("core/WriteKeys")<
  WriteKeys,
  {
    readonly create: (options: {
      readonly source: string
      readonly description?: string
      /** Use this secret key instead of generating one (the embedded dev key). */
      readonly key?: string
      /** The key's own rate limit; absent: the default (and recreating a key keeps its limit). */
      readonly limit?: WriteKeyLimit
    }) => Effect.Effect<CreatedWriteKey, BackendUnavailable>
    readonly list: Effect.Effect<ReadonlyArray<WriteKeyInfo>, BackendUnavailable>
    readonly revoke: (id: string) => Effect.Effect<boolean, BackendUnavailable>
    /**
     * Sets a key's own rate limit, or (null) returns it to the default; false when there is no such
     * key. Servers see the change within their key cache TTL.
     */
    readonly setLimit: (id: string, limit: WriteKeyLimit | null) => Effect.Effect<boolean, BackendUnavailable>
    /** The key's info when the presented key is valid and not revoked. */
    readonly verify: (presented: string) => Effect.Effect<Option.Option<WriteKeyInfo>, BackendUnavailable>
    readonly ping: Effect.Effect<void, BackendUnavailable>
  }
>() {}

/** Whether a key created for `pattern` may write events of `source`. */
export const sourceAllowed = (pattern: string, source: string): boolean =>
  pattern.endsWith("*") ? source.startsWith(pattern.slice(0, -1)) : pattern === source

const KEY_FORMAT = /^efk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/

/** The public id of a key: embedded in generated keys; derived from the text of a chosen one. */
export const writeKeyId = (key: string): string =>
  KEY_FORMAT.exec(key)?.[1] ??
  createHash("sha256").update(`eventflow-key-id:${key}`).digest("hex").slice(0, 12)

export const hashWriteKey = (key: string): Buffer => createHash("sha256").update(key).digest()

export const generateWriteKey = (): string =>
  `efk_${randomBytes(6).toString("hex")}_${randomBytes(32).toString("base64url")}`

/** Compares a presented key with a stored hash in time that does not depend on where they differ. */
export const writeKeyMatches = (presented: string, storedHash: Uint8Array): boolean => {
  const hash = hashWriteKey(presented)
  return storedHash.length === hash.length && timingSafeEqual(hash, storedHash)
}
