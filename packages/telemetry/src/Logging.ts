/**
 * Logs: one JSON object per line on stderr (`EVENTFLOW_LOG_FORMAT=json`, the default of the
 * services), or one readable line (`text`, the default of `eventflow dev`). Each line has the
 * time, level, service, message, the trace and span ids when a span is current, and the log's
 * annotations. Secrets never reach a line: key and token shapes and URL passwords are masked.
 */
import {
  Cause,
  Config,
  ConfigError,
  Context,
  Effect,
  Either,
  FiberRef,
  FiberRefs,
  HashMap,
  HashSet,
  Layer,
  Logger,
  LogLevel,
  Option,
  Tracer
} from "effect"

export type LogFormat = "json" | "text"

export interface LogSettings {
  readonly format: LogFormat
  readonly level: LogLevel.LogLevel
}

const LEVELS: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

export const LogConfig = (defaultFormat: LogFormat): Config.Config<LogSettings> =>
  Config.all({
    format: Config.literal("json", "text")("EVENTFLOW_LOG_FORMAT").pipe(Config.withDefault(defaultFormat)),
    level: Config.string("EVENTFLOW_LOG_LEVEL").pipe(
      Config.withDefault("info"),
      Config.mapOrFail((name) => {
        const level = LEVELS[name.trim().toLowerCase()]
        return level === undefined
          ? Either.left(
              ConfigError.InvalidData(
                [],
                `EVENTFLOW_LOG_LEVEL must be one of ${Object.keys(LEVELS).join(", ")}, not '${name}'`
              )
            )
          : Either.right(level)
      })
    )
  }) as Config.Config<LogSettings>

/** Write keys, read tokens, bearer credentials and URL passwords, masked. */
export const redact = (text: string): string =>
  text
    .replace(/\b(ef[kr]_[0-9a-f]{12})_[A-Za-z0-9_-]{43}\b/g, "$1_***")
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 ***")
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]+@/gi, "$1:***@")
    .replace(/([?&](?:token|key|password|access_token)=)[^&\s]+/gi, "$1***")

const toText = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value instanceof Error) return value.message
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

const spanOf = (context: FiberRefs.FiberRefs): Tracer.AnySpan | undefined => {
  const services = FiberRefs.getOrDefault(context, FiberRef.currentContext)
  const span = Context.getOption(services, Tracer.ParentSpan)
  if (Option.isNone(span)) return undefined
  // Spans of a disabled tracer have no real ids.
  return /^[0-9a-f]{32}$/.test(span.value.traceId) ? span.value : undefined
}

const levelName = (level: LogLevel.LogLevel) =>
  level._tag === "Warning" ? "warn" : level.label.toLowerCase()

/** The line a log entry becomes. */
export const makeLogger = (service: string, format: LogFormat, write: (line: string) => void) =>
  Logger.make(({ logLevel, message, cause, context, annotations, date }) => {
    const parts = Array.isArray(message) ? message : [message]
    const text = redact(parts.map(toText).join(" "))
    const span = spanOf(context)
    const fields: Record<string, unknown> = {}
    for (const [key, value] of HashMap.toEntries(annotations)) {
      fields[key] = typeof value === "string" ? redact(value) : value
    }
    const error = Cause.isEmpty(cause) ? undefined : redact(Cause.pretty(cause, { renderErrorCause: true }))
    if (format === "json") {
      write(
        `${JSON.stringify({
          time: date.toISOString(),
          level: levelName(logLevel),
          service,
          message: text,
          ...(span !== undefined ? { trace_id: span.traceId, span_id: span.spanId } : {}),
          ...fields,
          ...(error !== undefined ? { error } : {})
        })}\n`
      )
      return
    }
    const extra = Object.entries(fields)
      .map(([key, value]) => ` ${key}=${toText(value)}`)
      .join("")
    const trace = span !== undefined ? ` trace_id=${span.traceId}` : ""
    write(
      `${date.toISOString().slice(11, 23)} ${levelName(logLevel).toUpperCase().padEnd(5)} ${text}${extra}${trace}${error !== undefined ? `\n${error}` : ""}\n`
    )
  })

/** Makes this logger the only one: `service` names the role on every line. */
export const layerLogging = (service: string, defaultFormat: LogFormat) =>
  Layer.unwrapEffect(
    Effect.map(LogConfig(defaultFormat), (settings) =>
      Layer.mergeAll(
        // The only logger: it replaces the default one and any other (the runtime's pretty one).
        Layer.scopedDiscard(
          Effect.locallyScoped(
            FiberRef.currentLoggers,
            HashSet.make(makeLogger(service, settings.format, (line) => process.stderr.write(line)))
          )
        ),
        Logger.minimumLogLevel(settings.level)
      )
    )
  )
