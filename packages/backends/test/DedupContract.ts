/** The dedup protocol, checked the same way against every DedupStore layer. */
import { randomUUID } from "node:crypto"
import { layer as withLayer } from "@effect/vitest"
import { DedupStore } from "@eventflow/core"
import { Effect, type Layer } from "effect"
import { expect } from "vitest"

const identities = (n: number) => {
  const source = `/test/${randomUUID()}`
  return Array.from({ length: n }, (_, i) => ({ source, id: `e${i}` }))
}

/** `layer` must use a pending TTL of 300 ms. */
export const dedupContract = (layer: Layer.Layer<DedupStore, unknown>) => {
  withLayer(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("claims new identities, and reports pending ones to others", () =>
      Effect.gen(function* () {
        const dedup = yield* DedupStore
        const ids = identities(3)
        const first = yield* dedup.claim(ids)
        expect(first.outcomes).toEqual(["claimed", "claimed", "claimed"])
        const second = yield* dedup.claim([...ids, ...identities(1)])
        expect(second.outcomes).toEqual(["pending", "pending", "pending", "claimed"])
        expect(second.token).not.toBe(first.token)
      })
    )

    it.effect("reports committed identities as duplicates", () =>
      Effect.gen(function* () {
        const dedup = yield* DedupStore
        const ids = identities(2)
        const claim = yield* dedup.claim(ids)
        yield* dedup.commit(claim.token, ids)
        expect((yield* dedup.claim(ids)).outcomes).toEqual(["duplicate", "duplicate"])
      })
    )

    it.effect("release frees only its own pending claims", () =>
      Effect.gen(function* () {
        const dedup = yield* DedupStore
        const [a, b] = identities(2)
        const claimA = yield* dedup.claim([a!])
        const claimB = yield* dedup.claim([b!])
        // A release with claim A's token covering b must not remove claim B.
        yield* dedup.release(claimA.token, [a!, b!])
        expect((yield* dedup.claim([a!, b!])).outcomes).toEqual(["claimed", "pending"])
        expect(claimB.outcomes).toEqual(["claimed"])
      })
    )

    it.effect("a release never removes a done mark", () =>
      Effect.gen(function* () {
        const dedup = yield* DedupStore
        const ids = identities(1)
        const claim = yield* dedup.claim(ids)
        yield* dedup.commit(claim.token, ids)
        yield* dedup.release(claim.token, ids)
        expect((yield* dedup.claim(ids)).outcomes).toEqual(["duplicate"])
      })
    )

    it.effect("a pending claim left by a crash expires, so the retry is claimed", () =>
      Effect.gen(function* () {
        const dedup = yield* DedupStore
        const ids = identities(2)
        yield* dedup.claim(ids)
        yield* Effect.sleep("450 millis")
        expect((yield* dedup.claim(ids)).outcomes).toEqual(["claimed", "claimed"])
      })
    )

    it.effect("keeps (source, id) pairs apart that would collide if concatenated", () =>
      Effect.gen(function* () {
        const dedup = yield* DedupStore
        const tag = randomUUID()
        const pairs = [
          { source: `/a${tag}`, id: "bc" },
          { source: `/a${tag}b`, id: "c" }
        ]
        expect((yield* dedup.claim(pairs)).outcomes).toEqual(["claimed", "claimed"])
      })
    )

    it.effect("claims a batch of 5,000 in one call", () =>
      Effect.gen(function* () {
        const dedup = yield* DedupStore
        const ids = identities(5000)
        const claim = yield* dedup.claim(ids)
        expect(claim.outcomes.filter((o) => o === "claimed")).toHaveLength(5000)
        yield* dedup.commit(claim.token, ids)
        expect((yield* dedup.claim(ids)).outcomes.every((o) => o === "duplicate")).toBe(true)
      })
    )
  })
}
