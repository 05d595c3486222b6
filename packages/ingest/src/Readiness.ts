/** /readyz: each backend this process needs answers, with the latency of the check. */
import { DedupStore, EventLog, RateLimiter, WriteKeys } from "@eventflow/core"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { IngestSettings } from "./IngestConfig.ts"

export interface ComponentStatus {
  readonly name: string
  readonly ok: boolean
  readonly latencyMs: number
  readonly error?: string
}

export interface ReadinessReport {
  readonly ready: boolean
  readonly components: ReadonlyArray<ComponentStatus>
}

export class Readiness extends Context.Tag("ingest/Readiness")<
  Readiness,
  { readonly check: Effect.Effect<ReadinessReport> }
>() {}

/** Runs `ping` with a 2 s limit and reports how it went. */
export const probe = (name: string, ping: Effect.Effect<void, { readonly message: string }>) =>
  Effect.gen(function* () {
    const started = performance.now()
    const outcome = yield* ping.pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(2),
        onTimeout: () => ({ message: "no answer within 2 s" })
      }),
      Effect.either
    )
    const latencyMs = Math.round((performance.now() - started) * 10) / 10
    return outcome._tag === "Right"
      ? { name, ok: true, latencyMs }
      : { name, ok: false, latencyMs, error: outcome.left.message }
  })

export const layerReadiness = Layer.effect(
  Readiness,
  Effect.gen(function* () {
    const log = yield* EventLog
    const dedup = yield* Effect.serviceOption(DedupStore)
    const keys = yield* Effect.serviceOption(WriteKeys)
    // The limiter matters to every request only when a default limit is set (else to limited keys only).
    const settings = yield* Effect.serviceOption(IngestSettings)
    const limited = Option.isSome(settings) && settings.value.rateLimit.rate > 0
    const limiter = limited ? yield* Effect.serviceOption(RateLimiter) : Option.none()
    const probes = [
      probe("eventlog", log.ping),
      ...(Option.isSome(dedup) ? [probe("dedup", dedup.value.ping)] : []),
      ...(Option.isSome(keys) ? [probe("keys", keys.value.ping)] : []),
      ...(Option.isSome(limiter) ? [probe("ratelimit", limiter.value.ping)] : [])
    ]
    return {
      check: Effect.all(probes, { concurrency: "unbounded" }).pipe(
        Effect.map((components) => ({ ready: components.every((c) => c.ok), components }))
      )
    }
  })
)
