import { onOff, type RateLimitDefaults } from "@eventflow/core"
import { Config, Context, Duration, Effect, Layer, Option } from "effect"

export interface IngestLimits {
  /** The most bytes a request body may have. */
  readonly maxBodyBytes: number
  /** The most events one batch may carry. */
  readonly maxBatchEvents: number
  /** The most bytes one event may have in the JSON format. */
  readonly maxEventBytes: number
  /** The deepest nesting of objects and arrays a body may have. */
  readonly maxJsonDepth: number
}

export interface IngestOptions {
  readonly limits: IngestLimits
  /** `false` switches the dedup protocol off: no Redis, no duplicate detection across requests. */
  readonly dedup: boolean
  /** `false` accepts events without a write key (for a closed network only). */
  readonly auth: boolean
  /**
   * The rate limit of a write key that has none of its own: events per second (0: none) and burst
   * (undefined: the larger of the rate and the largest batch; `minBurst` is that largest batch).
   */
  readonly rateLimit: RateLimitDefaults
  /** The Retry-After of 503 answers. */
  readonly retryAfter: Duration.Duration
  /** How long a shutdown waits for requests in flight before it closes connections. */
  readonly shutdownTimeout: Duration.Duration
}

export class IngestSettings extends Context.Tag("ingest/IngestSettings")<IngestSettings, IngestOptions>() {}

export const IngestConfig: Config.Config<IngestOptions> = Config.all({
  limits: Config.all({
    maxBodyBytes: Config.integer("EVENTFLOW_MAX_BODY_BYTES").pipe(Config.withDefault(4 * 1024 * 1024)),
    maxBatchEvents: Config.integer("EVENTFLOW_MAX_BATCH_EVENTS").pipe(Config.withDefault(1000)),
    maxEventBytes: Config.integer("EVENTFLOW_MAX_EVENT_BYTES").pipe(Config.withDefault(256 * 1024)),
    maxJsonDepth: Config.integer("EVENTFLOW_MAX_JSON_DEPTH").pipe(Config.withDefault(32))
  }),
  dedup: onOff("EVENTFLOW_DEDUP", true),
  auth: onOff("EVENTFLOW_AUTH", true),
  rateLimit: Config.all({
    // Read as text, so that a value that is no number gets the sentence that names the variable.
    rate: Config.string("EVENTFLOW_RATE_LIMIT").pipe(
      Config.map(Number),
      Config.validate({
        message:
          "EVENTFLOW_RATE_LIMIT must be a number of events per second per write key, 0 or more (0: no limit)",
        validation: (rate) => Number.isFinite(rate) && rate >= 0
      }),
      Config.withDefault(0)
    ),
    burst: Config.string("EVENTFLOW_RATE_BURST").pipe(
      Config.map(Number),
      Config.validate({
        message: "EVENTFLOW_RATE_BURST must be a whole number of events, 1 or more",
        validation: (burst) => Number.isInteger(burst) && burst >= 1
      }),
      Config.option
    )
  }),
  retryAfter: Config.duration("EVENTFLOW_RETRY_AFTER").pipe(Config.withDefault(Duration.seconds(2))),
  shutdownTimeout: Config.duration("EVENTFLOW_SHUTDOWN_TIMEOUT").pipe(
    Config.withDefault(Duration.seconds(20))
  )
}).pipe(
  Config.map(({ rateLimit, ...options }) => ({
    ...options,
    rateLimit: {
      rate: rateLimit.rate,
      burst: Option.getOrUndefined(rateLimit.burst),
      minBurst: options.limits.maxBatchEvents
    }
  }))
)

export const layerIngestSettings = (options: IngestOptions) => Layer.succeed(IngestSettings, options)
export const layerIngestSettingsConfig = Layer.effect(
  IngestSettings,
  Effect.map(IngestConfig, (o) => o)
)
