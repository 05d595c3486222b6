import { commaList, onOffOption } from "@eventflow/core"
import { Config, Duration, Option } from "effect"

export interface QueryOptions {
  /** Require a read token (EVENTFLOW_QUERY_AUTH); the role decides the default. */
  readonly auth: boolean
  /** Origins allowed by CORS: none (no CORS headers), a list, or `*`. */
  readonly corsOrigins: ReadonlyArray<string>
  /** How long a hot query's answer is reused; 0 switches the cache off. */
  readonly cacheTtl: Duration.Duration
  /** How many recent events the tail holds. */
  readonly tailSize: number
  /** The built dashboard to serve at `/`, or none. */
  readonly dashboardDir: Option.Option<string>
}

export const QueryConfig = (defaults: {
  readonly auth: boolean
  readonly dashboardDir: string | undefined
}) =>
  Config.all({
    auth: onOffOption("EVENTFLOW_QUERY_AUTH").pipe(Config.map(Option.getOrElse(() => defaults.auth))),
    corsOrigins: commaList("EVENTFLOW_CORS_ORIGINS"),
    cacheTtl: Config.duration("EVENTFLOW_QUERY_CACHE_TTL").pipe(Config.withDefault(Duration.seconds(1))),
    tailSize: Config.integer("EVENTFLOW_TAIL_SIZE").pipe(
      Config.withDefault(5_000),
      Config.validate({
        message: "EVENTFLOW_TAIL_SIZE must be between 1 and 100000",
        validation: (n) => n >= 1 && n <= 100_000
      })
    ),
    dashboardDir: Config.string("EVENTFLOW_DASHBOARD_DIR").pipe(
      Config.option,
      Config.map((dir) =>
        Option.isSome(dir)
          ? dir.value === "off"
            ? Option.none()
            : dir
          : Option.fromNullable(defaults.dashboardDir)
      )
    )
  }) satisfies Config.Config<QueryOptions>
