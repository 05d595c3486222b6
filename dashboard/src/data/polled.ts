// A snapshot endpoint polled on an interval, kept in a store with `reconcile` so that rows whose
// values did not change keep their identity (and their DOM).
import { createStore, reconcile } from "solid-js/store"
import { ApiError, ApiUnreachable } from "./api.ts"

export interface PolledState<A> {
  data: A | null
  /** Why the last poll failed, null after a success. */
  error: string | null
  /** The last poll got no answer at all. */
  unreachable: boolean
  /** Epoch ms of the last success. */
  updatedAt: number | null
}

export interface Polled<A> {
  readonly state: PolledState<A>
  /** Polls now (and restarts the interval). */
  readonly refresh: () => void
  readonly stop: () => void
}

export const describeError = (error: unknown): string =>
  error instanceof ApiError || error instanceof ApiUnreachable
    ? error.message
    : error instanceof Error
      ? error.message
      : String(error)

export const createPolled = <A extends object>(options: {
  readonly load: () => Promise<A>
  readonly intervalMs: number
  /** The property that identifies array items, for `reconcile`. */
  readonly key?: string
  readonly onData?: (data: A) => void
}): Polled<A> => {
  const [state, setState] = createStore<PolledState<A>>({
    data: null,
    error: null,
    unreachable: false,
    updatedAt: null
  })
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let again = false
  let stopped = false

  const schedule = () => {
    clearTimeout(timer)
    if (!stopped) timer = setTimeout(tick, options.intervalMs)
  }

  const tick = async () => {
    if (running) {
      again = true
      return
    }
    running = true
    clearTimeout(timer)
    try {
      const data = await options.load()
      if (stopped) return
      setState("data", reconcile(data, { key: options.key ?? "id", merge: false }) as never)
      setState({ error: null, unreachable: false, updatedAt: Date.now() })
      options.onData?.(data)
    } catch (error) {
      if (stopped) return
      setState({ error: describeError(error), unreachable: error instanceof ApiUnreachable })
    } finally {
      running = false
      if (again) {
        again = false
        void tick()
      } else {
        schedule()
      }
    }
  }

  void tick()

  return {
    state,
    refresh: () => void tick(),
    stop: () => {
      stopped = true
      clearTimeout(timer)
    }
  }
}
