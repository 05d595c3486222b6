// The typed client of the query API: one function per endpoint, Bearer token, problem details.
import type {
  Alert,
  Health,
  Pipeline,
  SeriesResponse,
  StoredEvent,
  TopicsResponse,
  TopResponse
} from "./types.ts"

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** The server answered with an error status; `title`/`detail` come from its problem details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string | undefined
  ) {
    super(detail ? `${status} ${title}: ${detail}` : `${status} ${title}`)
    this.name = "ApiError"
  }
}

/** No answer at all: network down, DNS, CORS, server not running. */
export class ApiUnreachable extends Error {
  constructor(
    readonly url: string,
    cause: unknown
  ) {
    super(`unreachable: ${cause instanceof Error ? cause.message : String(cause)}`)
    this.name = "ApiUnreachable"
  }
}

export interface ApiOptions {
  readonly baseUrl: string
  readonly fetch: FetchLike
  readonly token: () => string | null
  readonly onUnauthorized: () => void
}

export type Query = Readonly<Record<string, string | number | undefined>>

const queryString = (query: Query | undefined) => {
  if (!query) return ""
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(key, String(value))
  }
  const text = params.toString()
  return text === "" ? "" : `?${text}`
}

const problemOf = async (response: Response): Promise<ApiError> => {
  let title = response.statusText || "error"
  let detail: string | undefined
  try {
    const body = (await response.json()) as { title?: unknown; detail?: unknown }
    if (typeof body.title === "string") title = body.title
    if (typeof body.detail === "string") detail = body.detail
  } catch {
    // not a problem document: the status line says enough
  }
  return new ApiError(response.status, title, detail)
}

export const createApi = (options: ApiOptions) => {
  const url = (path: string, query?: Query) => `${options.baseUrl}${path}${queryString(query)}`

  const headers = (extra?: Record<string, string>): Record<string, string> => {
    const token = options.token()
    return { accept: "application/json", ...extra, ...(token ? { authorization: `Bearer ${token}` } : {}) }
  }

  /** Sends a request, reports 401 to the auth store, and turns failures into ApiError/ApiUnreachable. */
  const send = async (path: string, init: RequestInit & { query?: Query } = {}): Promise<Response> => {
    const target = url(path, init.query)
    let response: Response
    try {
      response = await options.fetch(target, {
        ...init,
        headers: headers(init.headers as Record<string, string>)
      })
    } catch (cause) {
      if (init.signal?.aborted) throw cause
      throw new ApiUnreachable(target, cause)
    }
    if (response.status === 401) options.onUnauthorized()
    if (!response.ok) throw await problemOf(response)
    return response
  }

  const get = async <A>(path: string, query?: Query): Promise<A> => {
    const response = await send(path, query ? { query } : {})
    return (await response.json()) as A
  }

  const name = (pipeline: string) => encodeURIComponent(pipeline)

  return {
    baseUrl: options.baseUrl,
    send,
    health: () => get<Health>("/v1/health"),
    topics: () => get<TopicsResponse>("/v1/topics"),
    pipelines: async () => (await get<{ pipelines: Pipeline[] }>("/v1/pipelines")).pipelines,
    series: (pipeline: string, field: string, limit?: number, from?: string) =>
      get<SeriesResponse>(`/v1/pipelines/${name(pipeline)}/series`, { field, limit, from }),
    top: (pipeline: string, field: string, limit = 5) =>
      get<TopResponse>(`/v1/pipelines/${name(pipeline)}/top`, { field, limit }),
    alerts: async (limit = 50, pipeline?: string) =>
      (await get<{ alerts: Alert[] }>("/v1/alerts", { limit, pipeline })).alerts,
    recentEvents: async (limit = 50, type?: string) =>
      (await get<{ events: StoredEvent[] }>("/v1/events/recent", { limit, type })).events
  }
}

export type Api = ReturnType<typeof createApi>
