/** The HTTP side of rate limits: the `RateLimit-*` headers and the 429 answer. */
import { type Problem, Problems } from "@eventflow/core"
import type { Admission } from "./Ingest.ts"

/**
 * `RateLimit-Limit`: events the key may send at once (its burst); `RateLimit-Remaining`: events it
 * may send now; `RateLimit-Reset`: seconds until it may send a whole burst again. None for a key
 * without a limit.
 */
export const rateLimitHeaders = (admission: Admission): Record<string, string> => {
  if (admission._tag === "Unlimited") return {}
  if (admission._tag === "TooLarge") return { "ratelimit-limit": String(admission.limit.burst) }
  const { decision, limit } = admission
  return {
    "ratelimit-limit": String(limit.burst),
    "ratelimit-remaining": String(decision.remaining),
    "ratelimit-reset": String(Math.ceil(decision.resetMs / 1000))
  }
}

/** The 429 of a refused request (with its headers), or undefined when the request may go on. */
export const rateLimitRefusal = (
  admission: Admission
): { readonly problem: Problem; readonly headers: Record<string, string> } | undefined => {
  if (admission._tag === "Unlimited" || admission._tag === "Allowed") return undefined
  const { rate, burst } = admission.limit
  const headers = rateLimitHeaders(admission)
  const extra = { rate, burst }
  if (admission._tag === "TooLarge") {
    // Waiting does not help: no Retry-After.
    return {
      headers,
      problem: Problems.rateLimited(
        `this request has ${admission.cost} events and this write key may send at most ${burst} at once ` +
          `(${rate} per second): split the batch into requests of at most ${burst} events`,
        undefined,
        extra
      )
    }
  }
  const seconds = Math.max(1, Math.ceil(admission.decision.retryAfterMs / 1000))
  return {
    headers: { ...headers, "retry-after": String(seconds) },
    problem: Problems.rateLimited(
      `this write key may send ${rate} events per second, ${burst} at once; nothing of this request ` +
        `was accepted: send it again in ${seconds} s`,
      seconds,
      extra
    )
  }
}
