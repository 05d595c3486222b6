// The live stream: GET /v1/live read with fetch() (so that the Bearer header can be sent), parsed
// as text/event-stream, reconnected with backoff and resumed with Last-Event-ID.
import { createSseParser } from "./sse.ts"
import type { Hello, Tick } from "./types.ts"

export type LiveStatus = "connecting" | "live" | "reconnecting" | "offline"

export interface LiveOptions {
  /** Opens the stream; rejects (or answers non-2xx) when it cannot. */
  readonly open: (init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<Response>
  readonly onHello: (hello: Hello) => void
  readonly onTick: (id: string, tick: Tick) => void
  readonly onStatus: (status: LiveStatus) => void
  /** Retry delays double from initialMs up to maxMs. Default 1 s → 10 s. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number }
  /** No byte for this long (ticks and keep-alives both count) means a dead stream. Default 10 s. */
  readonly stallMs?: number
  /** Consecutive failed attempts after which the state shows "offline" rather than "reconnecting". */
  readonly offlineAfter?: number
}

export interface LiveConnection {
  readonly stop: () => void
  /** Drops the current stream and connects again now (e.g. a new token). */
  readonly restart: () => void
  readonly lastTickId: () => string | null
}

export const retryDelay = (attempt: number, initialMs: number, maxMs: number) =>
  Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1))

export const connectLive = (options: LiveOptions): LiveConnection => {
  const initialMs = options.backoff?.initialMs ?? 1_000
  const maxMs = options.backoff?.maxMs ?? 10_000
  const offlineAfter = options.offlineAfter ?? 3
  let stallMs = options.stallMs ?? 10_000
  let stopped = false
  let immediate = false
  let failures = 0
  let lastTickId: string | null = null
  let current: AbortController | null = null
  let wake: (() => void) | null = null

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        wake = null
        resolve()
      }
      wake = done
    })

  const consume = async (response: Response, controller: AbortController) => {
    if (!response.body) throw new Error("the live stream has no body")
    let watchdog: ReturnType<typeof setTimeout> | undefined
    const arm = () => {
      clearTimeout(watchdog)
      watchdog = setTimeout(() => controller.abort(), stallMs)
    }
    const parser = createSseParser({
      onMessage: (message) => {
        if (message.event === "hello") {
          const hello = parseJson<Hello>(message.data)
          if (hello) {
            if (hello.intervalMs > 0) stallMs = Math.max(options.stallMs ?? 10_000, hello.intervalMs * 5)
            options.onHello(hello)
          }
        } else if (message.event === "tick") {
          const tick = parseJson<Tick>(message.data)
          if (!tick) return
          failures = 0
          if (message.id !== "") lastTickId = message.id
          options.onTick(message.id, tick)
        }
      }
    })
    const reader = response.body.getReader()
    const decoder = new TextDecoder()
    arm()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        arm()
        parser.push(decoder.decode(value, { stream: true }))
      }
      parser.push(decoder.decode())
    } finally {
      clearTimeout(watchdog)
      parser.end()
      reader.releaseLock()
    }
  }

  const run = async () => {
    options.onStatus("connecting")
    while (!stopped) {
      const controller = new AbortController()
      current = controller
      try {
        const headers: Record<string, string> = { accept: "text/event-stream" }
        if (lastTickId !== null) headers["last-event-id"] = lastTickId
        const response = await options.open({ headers, signal: controller.signal })
        if (!response.ok) throw new Error(`live stream answered ${response.status}`)
        options.onStatus("live")
        await consume(response, controller)
      } catch {
        // the reason does not change what happens next: wait, then connect again
      }
      controller.abort()
      current = null
      if (stopped) break
      if (immediate) {
        immediate = false
        failures = 0
        options.onStatus("connecting")
        continue
      }
      failures++
      options.onStatus(failures >= offlineAfter ? "offline" : "reconnecting")
      await sleep(retryDelay(failures, initialMs, maxMs))
      if (immediate) {
        immediate = false
        failures = 0
      }
    }
  }

  void run()

  return {
    stop: () => {
      stopped = true
      current?.abort()
      wake?.()
    },
    restart: () => {
      immediate = true
      if (current) current.abort()
      else wake?.()
    },
    lastTickId: () => lastTickId
  }
}

const parseJson = <A>(text: string): A | null => {
  try {
    return JSON.parse(text) as A
  } catch {
    return null
  }
}
