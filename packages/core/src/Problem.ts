/** RFC 9457 problem details. `type` URIs name the problem; `title` is the same for every instance of it. */
export interface Problem {
  readonly type: string
  readonly title: string
  readonly status: number
  readonly detail: string
  readonly [member: string]: unknown
}

// A URN names each problem without pointing at a host; docs/problems.md describes them.
const TYPE_BASE = "urn:eventflow:problem:"

export const problem = (
  status: number,
  slug: string,
  title: string,
  detail: string,
  extra: Record<string, unknown> = {}
): Problem => ({ type: TYPE_BASE + slug, title, status, detail, ...extra })

export const Problems = {
  badRequest: (detail: string, extra?: Record<string, unknown>) =>
    problem(400, "bad-request", "The request body cannot be read", detail, extra),
  unauthorized: (detail: string) => problem(401, "unauthorized", "A valid write key is required", detail),
  forbidden: (detail: string, extra?: Record<string, unknown>) =>
    problem(403, "forbidden", "The write key may not do this", detail, extra),
  notFound: (detail: string) => problem(404, "not-found", "Nothing is here", detail),
  methodNotAllowed: (detail: string) => problem(405, "method-not-allowed", "Method not allowed", detail),
  requestTimeout: (detail: string) =>
    problem(408, "request-timeout", "The request was not received in time", detail),
  tooLarge: (detail: string, extra?: Record<string, unknown>) =>
    problem(413, "too-large", "The request is larger than the configured limits", detail, extra),
  unsupportedMediaType: (detail: string) =>
    problem(415, "unsupported-media-type", "The content type is not supported", detail),
  headersTooLarge: (detail: string) =>
    problem(431, "headers-too-large", "The request headers are too large", detail),
  /** `retryAfterSeconds` undefined: the request can never pass as it is (a batch larger than the burst). */
  rateLimited: (detail: string, retryAfterSeconds: number | undefined, extra?: Record<string, unknown>) =>
    problem(429, "rate-limited", "Too many requests", detail, {
      ...(retryAfterSeconds !== undefined ? { retryAfter: retryAfterSeconds } : {}),
      ...extra
    }),
  unavailable: (detail: string, retryAfterSeconds: number) =>
    problem(503, "unavailable", "A backend is unavailable; nothing of this request was accepted", detail, {
      retryAfter: retryAfterSeconds
    })
} as const
