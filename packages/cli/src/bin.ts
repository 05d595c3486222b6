#!/usr/bin/env -S npx tsx
/** The `eventflow` command. */
import { Args, Command, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { layerLogging } from "@eventflow/telemetry"
import { Cause, Console, Effect, Option } from "effect"
import { createKey, limitKey, listKeys, revokeKey } from "./Keys.ts"
import { runQueryServer, runServer, withObservability } from "./Servers.ts"
import { pipelinesCommand, processCommand, queryCommand, replayCommand } from "./Stream.ts"
import { createToken, listTokens, revokeToken } from "./Tokens.ts"

// `eventflow query … | head`: a reader that goes away ends the output, not with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

const json = Options.boolean("json").pipe(Options.withDescription("print JSON lines"))

const dev = Command.make("dev", {}, () => runServer("dev").pipe(withObservability("dev", "text"))).pipe(
  Command.withDescription(
    "Run ingest (and, as they arrive, the other roles) in one process; embedded unless KAFKA_BROKERS is set"
  )
)
const ingest = Command.make("ingest", {}, () =>
  runServer("ingest").pipe(withObservability("ingest", "json"))
).pipe(Command.withDescription("Run the ingest service (HTTP → dedup → Kafka)"))

const process_ = Command.make("process", {}, () =>
  processCommand.pipe(withObservability("process", "json"))
).pipe(
  Command.withDescription(
    "Run the pipelines (EVENTFLOW_PIPELINES, else ./pipelines, else the examples); instances share partitions on Kafka"
  )
)
const query = Command.make(
  "query",
  {
    pipeline: Args.text({ name: "pipeline" }).pipe(Args.optional),
    key: Options.text("key").pipe(Options.withDescription("only this key"), Options.optional),
    from: Options.text("from").pipe(
      Options.withDescription("windows ending after this ISO time"),
      Options.optional
    ),
    to: Options.text("to").pipe(
      Options.withDescription("windows starting before this ISO time"),
      Options.optional
    ),
    limit: Options.integer("limit").pipe(
      Options.withDescription("at most this many rows"),
      Options.withDefault(10_000)
    ),
    json
  },
  ({ pipeline, ...options }) =>
    Option.isSome(pipeline)
      ? queryCommand(pipeline.value, options)
      : runQueryServer.pipe(withObservability("query", "json"))
).pipe(
  Command.withDescription(
    "Run the query API service; with a pipeline name, print that pipeline's window rows instead (through the running eventflow dev in embedded mode)"
  )
)
const pipelines = Command.make("pipelines", { json }, ({ json }) => pipelinesCommand(json)).pipe(
  Command.withDescription(
    "Show each pipeline's partitions: offsets, watermarks, processed, late and poison counts"
  )
)
const replay = Command.make("replay", { pipeline: Args.text({ name: "pipeline" }) }, ({ pipeline }) =>
  replayCommand(pipeline)
).pipe(Command.withDescription("Rebuild a pipeline's read model from the start of the log, showing progress"))

const rateLimit = Options.float("rate-limit").pipe(
  Options.withDescription("events per second this key may send (0: no limit); default: EVENTFLOW_RATE_LIMIT"),
  Options.optional
)
const burst = Options.integer("burst").pipe(
  Options.withDescription(
    "events this key may send at once (with --rate-limit); default: EVENTFLOW_RATE_BURST"
  ),
  Options.optional
)
const create = Command.make(
  "create",
  {
    source: Options.text("source").pipe(
      Options.withDescription("the event source this key may write; a trailing * makes it a prefix")
    ),
    description: Options.text("description").pipe(Options.optional),
    rateLimit,
    burst,
    json
  },
  ({ source, description, rateLimit, burst, json }) =>
    createKey(source, description, { rateLimit, burst }, json)
).pipe(Command.withDescription("Create a write key (printed once)"))
const list = Command.make("list", { json }, ({ json }) => listKeys(json)).pipe(
  Command.withDescription("List write keys (never the keys themselves)")
)
const revoke = Command.make("revoke", { id: Args.text({ name: "id" }) }, ({ id }) => revokeKey(id)).pipe(
  Command.withDescription("Revoke a write key by its id")
)
const limit = Command.make(
  "limit",
  {
    id: Args.text({ name: "id" }),
    rateLimit,
    burst,
    toDefault: Options.boolean("default").pipe(
      Options.withDescription("follow the default limit again (EVENTFLOW_RATE_LIMIT, EVENTFLOW_RATE_BURST)")
    )
  },
  ({ id, rateLimit, burst, toDefault }) => limitKey(id, { rateLimit, burst }, toDefault)
).pipe(
  Command.withDescription(
    "Set a write key's rate limit, or return it to the default; servers apply it within EVENTFLOW_KEY_CACHE_TTL"
  )
)
const keys = Command.make("keys").pipe(
  Command.withSubcommands([create, list, revoke, limit]),
  Command.withDescription("Manage write keys")
)

const createToken_ = Command.make(
  "create",
  { description: Options.text("description").pipe(Options.optional), json },
  ({ description, json }) => createToken(description, json)
).pipe(Command.withDescription("Create a read token for the query API (printed once)"))
const listTokens_ = Command.make("list", { json }, ({ json }) => listTokens(json)).pipe(
  Command.withDescription("List read tokens (never the tokens themselves)")
)
const revokeToken_ = Command.make("revoke", { id: Args.text({ name: "id" }) }, ({ id }) =>
  revokeToken(id)
).pipe(Command.withDescription("Revoke a read token by its id"))
const tokens = Command.make("tokens").pipe(
  Command.withSubcommands([createToken_, listTokens_, revokeToken_]),
  Command.withDescription("Manage read tokens of the query API (separate from write keys)")
)

const eventflow = Command.make("eventflow").pipe(
  Command.withSubcommands([dev, ingest, process_, query, pipelines, replay, keys, tokens])
)

const cli = Command.run(eventflow, { name: "eventflow", version: "0.1.0" })

const message = (error: unknown): string => {
  if (
    error !== null &&
    typeof error === "object" &&
    "message" in error &&
    typeof error.message === "string"
  ) {
    return error.message
  }
  return String(error)
}

cli(process.argv).pipe(
  Effect.catchAllCause((cause) => {
    if (Cause.isInterruptedOnly(cause)) return Effect.void
    const failure = Cause.failureOption(cause)
    // @effect/cli has already printed its own validation errors (unknown flag, missing argument).
    if (failure._tag === "Some" && ValidationError.isValidationError(failure.value)) {
      return Effect.sync(() => {
        process.exitCode = 2
      })
    }
    const text = failure._tag === "Some" ? message(failure.value) : Cause.pretty(cause)
    return Console.error(`eventflow: ${text}`).pipe(
      Effect.zipRight(
        Effect.sync(() => {
          process.exitCode = 1
        })
      )
    )
  }),
  // Other commands log readable lines on stderr (stdout is their output); servers set their own.
  Effect.provide(layerLogging("cli", "text")),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
