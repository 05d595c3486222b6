import { Context, type Effect } from "effect"
import type { BackendUnavailable } from "./Errors.ts"

/** Identity of an event, as the CloudEvents spec defines it. */
export interface EventIdentity {
  readonly source: string
  readonly id: string
}

/** `claimed`: new, now pending for this claim; `duplicate`: done before; `pending`: someone else's claim is open. */
export type ClaimOutcome = "claimed" | "duplicate" | "pending"

export interface Claim {
  /** Identifies this claim, so that a release never removes another request's pending key. */
  readonly token: string
  readonly outcomes: ReadonlyArray<ClaimOutcome>
}

/**
 * The dedup protocol of the design: claim (pending, NX, short TTL) → produce → commit (done, long TTL),
 * or release (delete our pending keys) when producing failed, so the client's retry is not a duplicate.
 */
export class DedupStore extends Context.Tag("core/DedupStore")<
  DedupStore,
  {
    readonly claim: (identities: ReadonlyArray<EventIdentity>) => Effect.Effect<Claim, BackendUnavailable>
    readonly commit: (
      token: string,
      identities: ReadonlyArray<EventIdentity>
    ) => Effect.Effect<void, BackendUnavailable>
    readonly release: (
      token: string,
      identities: ReadonlyArray<EventIdentity>
    ) => Effect.Effect<void, BackendUnavailable>
    readonly ping: Effect.Effect<void, BackendUnavailable>
  }
>() {}

/** How long a pending claim lives, and how long a done key remembers an event. */
export interface DedupWindows {
  readonly pendingMillis: number
  readonly doneMillis: number
}

/** The storage key of an identity: length-prefixed so that no (source, id) pair can collide with another. */
export const identityKey = (prefix: string, identity: EventIdentity): string =>
  `${prefix}${identity.source.length}:${identity.source}${identity.id}`
