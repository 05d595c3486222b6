import { it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { describe, expect } from "vitest"
import { makeBatcher } from "../src/index.ts"

describe("makeBatcher", () => {
  it.scopedLive("flushes at once when idle, then batches what arrives during a flush", () =>
    Effect.gen(function* () {
      const flushes: number[][] = []
      const gate = yield* Deferred.make<void>()
      const batcher = yield* makeBatcher(
        (items: ReadonlyArray<number>) =>
          Effect.gen(function* () {
            flushes.push([...items])
            if (flushes.length === 1) yield* Deferred.await(gate)
          }),
        { maxItems: 4 }
      )
      const first = yield* Effect.fork(batcher.submit([1]))
      yield* Effect.sleep("10 millis")
      const rest = yield* Effect.fork(
        Effect.all([batcher.submit([2, 3]), batcher.submit([4]), batcher.submit([5, 6])], {
          concurrency: "unbounded"
        })
      )
      yield* Effect.sleep("30 millis")
      expect(flushes).toEqual([[1]])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
      yield* Fiber.join(rest)
      // 2,3 and 4 fit in 4 items; 5,6 would pass the limit and go in the next flush.
      expect(flushes).toEqual([[1], [2, 3, 4], [5, 6]])
    })
  )

  it.scoped("fails every submission of a failed flush, and goes on", () =>
    Effect.gen(function* () {
      let calls = 0
      const batcher = yield* makeBatcher(
        (_items: ReadonlyArray<string>) => (++calls === 1 ? Effect.fail("broker down") : Effect.void),
        { maxItems: 10 }
      )
      const failed = yield* Effect.flip(batcher.submit(["a"]))
      expect(failed).toBe("broker down")
      yield* batcher.submit(["b"])
      expect(calls).toBe(2)
    })
  )

  it.live("flushes pending submissions before its scope closes", () =>
    Effect.gen(function* () {
      const flushed: string[] = []
      const fiber = yield* Effect.scoped(
        Effect.gen(function* () {
          const batcher = yield* makeBatcher(
            (items: ReadonlyArray<string>) =>
              Effect.sleep("20 millis").pipe(Effect.tap(() => Effect.sync(() => flushed.push(...items)))),
            { maxItems: 10 }
          )
          const fiber = yield* Effect.forkDaemon(
            Effect.all([batcher.submit(["a"]), batcher.submit(["b"])], { concurrency: 2 })
          )
          yield* Effect.sleep("5 millis")
          return fiber
        })
      )
      expect(flushed).toEqual(["a", "b"])
      yield* Fiber.join(fiber)
    })
  )
})
