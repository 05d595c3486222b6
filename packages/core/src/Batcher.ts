/**
 * Natural batching: while one flush is in flight, submissions accumulate; when it completes the
 * next flush takes everything waiting (up to `maxItems`). Under light load a submission is flushed
 * at once (no linger delay); under heavy load batches grow by themselves. A submission resolves
 * when the flush that carried its items completes, and fails with that flush's error.
 */
import { Deferred, Effect, Exit, FiberId, Runtime, type Scope } from "effect"

export interface Batcher<A, E> {
  readonly submit: (items: ReadonlyArray<A>) => Effect.Effect<void, E>
}

interface Waiting<A, E> {
  readonly items: ReadonlyArray<A>
  readonly done: (exit: Exit.Exit<void, E>) => void
}

export interface BatcherOptions {
  /** The most items one flush carries (a single larger submission is flushed alone). */
  readonly maxItems: number
}

export const makeBatcher = <A, E, R>(
  flush: (items: ReadonlyArray<A>) => Effect.Effect<void, E, R>,
  options: BatcherOptions
): Effect.Effect<Batcher<A, E>, never, R | Scope.Scope> =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<R>()
    const runCallback = Runtime.runCallback(runtime)
    let waiting: Array<Waiting<A, E>> = []
    let flushing = false
    let idle: Deferred.Deferred<void> | undefined

    const next = () => {
      if (waiting.length === 0) {
        flushing = false
        if (idle !== undefined) Deferred.unsafeDone(idle, Exit.void)
        return
      }
      flushing = true
      let taken = 0
      let count = 0
      while (
        taken < waiting.length &&
        (taken === 0 || count + waiting[taken]!.items.length <= options.maxItems)
      ) {
        count += waiting[taken]!.items.length
        taken++
      }
      const batch = waiting.slice(0, taken)
      waiting = waiting.slice(taken)
      const items = batch.length === 1 ? batch[0]!.items : batch.flatMap((w) => w.items)
      runCallback(flush(items), {
        onExit: (exit) => {
          for (const w of batch) w.done(exit)
          next()
        }
      })
    }

    // On shutdown, let what was submitted be flushed before the resources behind `flush` close.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        if (!flushing && waiting.length === 0) return Effect.void
        idle = Deferred.unsafeMake<void>(FiberId.none)
        return Deferred.await(idle)
      })
    )

    return {
      submit: (items) =>
        items.length === 0
          ? Effect.void
          : Effect.async<void, E>((resume) => {
              waiting.push({ items, done: (exit) => resume(exit) })
              if (!flushing) next()
            })
    }
  })
