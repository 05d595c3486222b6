/** The query API (read side of EventFlow): an Effect HttpApi, from which its OpenAPI document is made. */
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "@effect/platform"
import { Schema } from "effect"

// RFC 9457 problem details, one class per status. `type` URIs are described in docs/problems.md.
const problemFields = {
  type: Schema.String,
  title: Schema.String,
  status: Schema.Number,
  detail: Schema.String
}
const problemEncoding = { kind: "Json", contentType: "application/problem+json" } as const
const problem = <A>(status: number, description: string) =>
  HttpApiSchema.annotations<A>({ status, description, [HttpApiSchema.AnnotationEncoding]: problemEncoding })

export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  problemFields,
  problem<BadRequest>(400, "a parameter is invalid")
) {}
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  problemFields,
  problem<Unauthorized>(401, "a valid read token is required")
) {}
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  problemFields,
  problem<NotFound>(404, "no such pipeline")
) {}
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  problemFields,
  problem<Unavailable>(503, "a backend is unavailable")
) {}

const TYPE = "urn:eventflow:problem:"
export const problems = {
  badRequest: (detail: string) =>
    new BadRequest({
      type: `${TYPE}invalid-parameter`,
      title: "A parameter is invalid",
      status: 400,
      detail
    }),
  unauthorized: (detail: string) =>
    new Unauthorized({
      type: `${TYPE}unauthorized`,
      title: "A valid read token is required",
      status: 401,
      detail
    }),
  notFound: (detail: string) =>
    new NotFound({ type: `${TYPE}not-found`, title: "Nothing is here", status: 404, detail }),
  unavailable: (detail: string) =>
    new Unavailable({ type: `${TYPE}unavailable`, title: "A backend is unavailable", status: 503, detail })
}

const Time = Schema.String.annotations({ description: "ISO 8601 time (UTC)", format: "date-time" })
const NullableTime = Schema.NullOr(Time)
const Values = Schema.Record({ key: Schema.String, value: Schema.NullOr(Schema.Number) })

const Window = Schema.Struct({
  kind: Schema.Literal("tumbling", "hopping", "session"),
  sizeMs: Schema.optional(Schema.Number),
  advanceMs: Schema.optional(Schema.Number),
  gapMs: Schema.optional(Schema.Number),
  graceMs: Schema.Number
})

export const PipelineInfo = Schema.Struct({
  name: Schema.String,
  sources: Schema.Array(Schema.String),
  window: Window,
  aggregates: Schema.Array(Schema.Struct({ name: Schema.String, kind: Schema.String })),
  latestWindowStart: NullableTime,
  keysInLatestWindow: Schema.Number,
  watermark: NullableTime,
  finalizedThrough: NullableTime,
  processed: Schema.Number,
  late: Schema.Number,
  poison: Schema.Number,
  lag: Schema.NullOr(Schema.Number),
  updatedAt: NullableTime
})

export const ResultRowSchema = Schema.Struct({
  key: Schema.String,
  windowStart: Time,
  windowEnd: Time,
  final: Schema.Boolean,
  values: Values
})

export const AlertSchema = Schema.Struct({
  id: Schema.String,
  pipeline: Schema.String,
  rule: Schema.String,
  key: Schema.String,
  status: Schema.String.annotations({ description: "opened or resolved" }),
  severity: Schema.String.annotations({ description: "info, warning or critical" }),
  time: Time,
  field: Schema.NullOr(Schema.String),
  value: Schema.NullOr(Schema.Number),
  message: Schema.String,
  windowStart: NullableTime,
  windowEnd: NullableTime
})

export const EventSchema = Schema.Struct({
  topic: Schema.String,
  partition: Schema.Number,
  offset: Schema.String,
  time: Time,
  id: Schema.NullOr(Schema.String),
  source: Schema.NullOr(Schema.String),
  type: Schema.NullOr(Schema.String),
  subject: Schema.NullOr(Schema.String),
  data: Schema.Unknown
})

const Offset = Schema.String.annotations({ description: "a Kafka offset (a 64-bit integer, as a string)" })

export const TopicsSchema = Schema.Struct({
  topics: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      partitions: Schema.Array(
        Schema.Struct({ partition: Schema.Number, startOffset: Offset, endOffset: Offset })
      )
    })
  ),
  groups: Schema.Array(
    Schema.Struct({
      group: Schema.String,
      pipeline: Schema.NullOr(Schema.String),
      lag: Schema.Number,
      partitions: Schema.Array(
        Schema.Struct({ topic: Schema.String, partition: Schema.Number, offset: Offset, lag: Schema.Number })
      )
    })
  )
})

export const HealthSchema = Schema.Struct({
  status: Schema.Literal("ok", "degraded", "down"),
  checkedAt: Time,
  components: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      kind: Schema.Literal("backend", "service"),
      ok: Schema.Boolean,
      latencyMs: Schema.Number,
      error: Schema.optional(Schema.String),
      detail: Schema.optional(Schema.String)
    })
  )
})

const optionalText = (description: string) => Schema.optional(Schema.String.annotations({ description }))

const name = HttpApiSchema.param("name", Schema.String)

/** `Authorization: Bearer <read token>`; required unless EVENTFLOW_QUERY_AUTH is off. */
export class ReadAuth extends HttpApiMiddleware.Tag<ReadAuth>()("query/ReadAuth", {
  failure: Unauthorized,
  security: { readToken: HttpApiSecurity.bearer }
}) {}

export class PipelinesGroup extends HttpApiGroup.make("pipelines")
  .add(
    HttpApiEndpoint.get("list", "/v1/pipelines")
      .addSuccess(Schema.Struct({ pipelines: Schema.Array(PipelineInfo) }))
      .annotate(OpenApi.Summary, "The pipelines: windows, sources, aggregates, progress and lag")
  )
  .add(
    HttpApiEndpoint.get("results")`/v1/pipelines/${name}/results`
      .setUrlParams(
        Schema.Struct({
          key: optionalText("only this key"),
          from: optionalText("windows that end after this ISO time"),
          to: optionalText("windows that start before this ISO time"),
          limit: optionalText("at most this many rows (1–10000, default 1000)"),
          order: optionalText("asc (default) or desc, by window start")
        })
      )
      .addSuccess(Schema.Struct({ pipeline: Schema.String, rows: Schema.Array(ResultRowSchema) }))
      .addError(NotFound)
      .annotate(OpenApi.Summary, "A pipeline's window rows")
  )
  .add(
    HttpApiEndpoint.get("top")`/v1/pipelines/${name}/top`
      .setUrlParams(
        Schema.Struct({
          field: Schema.String.annotations({ description: "an aggregate of the pipeline" }),
          from: optionalText("windows that start at or after this ISO time (default: the latest window)"),
          to: optionalText("windows that start before this ISO time"),
          limit: optionalText("how many keys (1–1000, default 10)")
        })
      )
      .addSuccess(
        Schema.Struct({
          pipeline: Schema.String,
          field: Schema.String,
          from: NullableTime,
          to: NullableTime,
          rows: Schema.Array(Schema.Struct({ key: Schema.String, value: Schema.NullOr(Schema.Number) }))
        })
      )
      .addError(NotFound)
      .annotate(OpenApi.Summary, "The top keys by an aggregate, summed over the windows in range")
  )
  .add(
    HttpApiEndpoint.get("series")`/v1/pipelines/${name}/series`
      .setUrlParams(
        Schema.Struct({
          field: Schema.String.annotations({ description: "an aggregate of the pipeline" }),
          from: optionalText("windows that start at or after this ISO time"),
          to: optionalText("windows that start before this ISO time"),
          limit: optionalText("the newest this many windows (1–10000, default 120)")
        })
      )
      .addSuccess(
        Schema.Struct({
          pipeline: Schema.String,
          field: Schema.String,
          points: Schema.Array(Schema.Struct({ windowStart: Time, value: Schema.NullOr(Schema.Number) }))
        })
      )
      .addError(NotFound)
      .annotate(OpenApi.Summary, "An aggregate summed over all keys, per window, oldest first")
  )
  .addError(Unavailable)
  .addError(BadRequest)
  .middleware(ReadAuth) {}

export class FeedGroup extends HttpApiGroup.make("feed")
  .add(
    HttpApiEndpoint.get("alerts", "/v1/alerts")
      .setUrlParams(
        Schema.Struct({
          pipeline: optionalText("only this pipeline's alerts"),
          limit: optionalText("at most this many (1–1000, default 100)")
        })
      )
      .addSuccess(Schema.Struct({ alerts: Schema.Array(AlertSchema) }))
      .annotate(OpenApi.Summary, "Alerts, newest first")
  )
  .add(
    HttpApiEndpoint.get("recent", "/v1/events/recent")
      .setUrlParams(
        Schema.Struct({
          type: optionalText("only events of this type"),
          limit: optionalText("at most this many (1–500, default 50)")
        })
      )
      .addSuccess(Schema.Struct({ events: Schema.Array(EventSchema) }))
      .annotate(
        OpenApi.Description,
        "The newest events among those this service holds in its tail (EVENTFLOW_TAIL_SIZE, default 5000), newest first. Data larger than 4 KiB is replaced by {truncated, bytes}."
      )
  )
  .add(
    HttpApiEndpoint.get("topics", "/v1/topics")
      .addSuccess(TopicsSchema)
      .annotate(OpenApi.Summary, "Topics with their partitions and offsets; each pipeline's position and lag")
  )
  .add(
    HttpApiEndpoint.get("live", "/v1/live")
      .addSuccess(
        Schema.String.pipe(
          HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/event-stream" }),
          Schema.annotations({
            description:
              "Server-Sent Events: `hello` once, then a `tick` every second with `id` = its time in epoch ms. Send Last-Event-ID to resume: the ticks of the last 5 minutes are kept."
          })
        )
      )
      .annotate(OpenApi.Summary, "The live feed: rates, latency, lag, new rows, alerts and events")
  )
  .addError(Unavailable)
  .addError(BadRequest)
  .middleware(ReadAuth) {}

export class HealthGroup extends HttpApiGroup.make("health").add(
  HttpApiEndpoint.get("health", "/v1/health")
    .addSuccess(HealthSchema)
    .annotate(
      OpenApi.Description,
      "Every component with the latency of its check. Always 200: the body says what is down. /readyz answers 503 instead."
    )
) {}

export class QueryApi extends HttpApi.make("query")
  .add(PipelinesGroup)
  .add(FeedGroup)
  .add(HealthGroup)
  .annotate(OpenApi.Title, "EventFlow query API")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "The read side of EventFlow: pipelines' window rows, alerts, recent events, topics, health and a live feed."
  ) {}
