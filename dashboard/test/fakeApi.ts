// A fake of the query API's HTTP surface, as fetch() sees it, for the client and component tests.
import type { FetchLike } from "../src/data/api.ts"

export interface Recorded {
  readonly path: string
  readonly query: URLSearchParams
  readonly headers: Headers
}

/** One response of GET /v1/live whose body the test writes to. */
export interface LiveStream {
  readonly headers: Headers
  readonly send: (text: string) => void
  readonly close: () => void
}

/** Answers one path; `next` gives the default answer (a live stream for /v1/live, else 404). */
export type Route = (request: Recorded, next: () => Response) => Response | Promise<Response>

export const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": status >= 400 ? "application/problem+json" : "application/json" }
  })

export const problem = (status: number, title: string) =>
  json({ type: "about:blank", title, status, detail: `${title} (fake)` }, status)

export const sse = (event: string, data: unknown, id?: string) =>
  `event: ${event}\n${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`

export const createFakeApi = (routes: Readonly<Record<string, Route>>) => {
  const requests: Recorded[] = []
  const streams: LiveStream[] = []
  const encoder = new TextEncoder()

  const openLive = (request: Recorded, signal: AbortSignal | null | undefined) => {
    let controller!: ReadableStreamDefaultController<Uint8Array>
    let closed = false
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c
      }
    })
    const stream: LiveStream = {
      headers: request.headers,
      send: (text) => {
        if (!closed) controller.enqueue(encoder.encode(text))
      },
      close: () => {
        if (closed) return
        closed = true
        controller.close()
      }
    }
    signal?.addEventListener("abort", () => {
      if (closed) return
      closed = true
      controller.error(new DOMException("aborted", "AbortError"))
    })
    streams.push(stream)
    return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } })
  }

  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input, "http://dashboard.test")
    const request: Recorded = {
      path: url.pathname,
      query: url.searchParams,
      headers: new Headers(init?.headers)
    }
    requests.push(request)
    const next = () =>
      url.pathname === "/v1/live" ? openLive(request, init?.signal) : problem(404, "not found")
    const route = routes[url.pathname]
    return route ? route(request, next) : next()
  }

  return {
    fetch,
    requests,
    streams,
    calls: (path: string) => requests.filter((r) => r.path === path)
  }
}
