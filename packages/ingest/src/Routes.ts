/** The routing table, loaded from the routes file (EVENTFLOW_ROUTES, YAML or JSON) at start. */
import { readFileSync } from "node:fs"
import { dirname, extname, resolve } from "node:path"
import { compileRoutes, RoutesError, type Routing, type TopicSpec } from "@eventflow/core"
import { Config, Context, Effect, Layer, Option } from "effect"
import { parse as parseYaml } from "yaml"

export class Routes extends Context.Tag("ingest/Routes")<Routes, Routing>() {}

export interface TopicOptions {
  readonly topicPrefix: string
  readonly partitions: number
  readonly replicationFactor: number
}

export class TopicSettings extends Context.Tag("ingest/TopicSettings")<TopicSettings, TopicOptions>() {}

export const TopicConfig: Config.Config<TopicOptions> = Config.all({
  topicPrefix: Config.string("EVENTFLOW_TOPIC_PREFIX").pipe(Config.withDefault("")),
  partitions: Config.integer("EVENTFLOW_TOPIC_PARTITIONS").pipe(Config.withDefault(3)),
  replicationFactor: Config.integer("EVENTFLOW_TOPIC_REPLICATION").pipe(Config.withDefault(1))
})

const parseDocument = (path: string, text: string): unknown =>
  extname(path).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text)

/** Reads and compiles a routes file; throws RoutesError with a sentence that names the file. */
export const loadRoutesFile = (path: string | undefined, topicPrefix: string): Routing => {
  if (path === undefined) return compileRoutes(undefined, { topicPrefix, readSchemaFile: () => undefined })
  const file = resolve(path)
  let document: unknown
  try {
    document = parseDocument(file, readFileSync(file, "utf8"))
  } catch (error) {
    throw new RoutesError(`cannot read the routes file ${path}: ${(error as Error).message}`)
  }
  try {
    return compileRoutes(document, {
      topicPrefix,
      readSchemaFile: (schemaPath) => {
        const schemaFile = resolve(dirname(file), schemaPath)
        return parseDocument(schemaFile, readFileSync(schemaFile, "utf8"))
      }
    })
  } catch (error) {
    throw error instanceof RoutesError ? new RoutesError(`${path}: ${error.message}`) : error
  }
}

/** The topics ingestion writes to, with their partition counts. */
export const topicSpecs = (routing: Routing, options: TopicOptions): ReadonlyArray<TopicSpec> => [
  ...routing.routes.map((route) => ({
    name: route.topic,
    partitions: route.partitions ?? options.partitions,
    replicationFactor: options.replicationFactor
  })),
  {
    name: routing.fallback.topic,
    partitions: options.partitions,
    replicationFactor: options.replicationFactor
  },
  { name: routing.dlqTopic, partitions: options.partitions, replicationFactor: options.replicationFactor }
]

export const layerRoutes = (path: string | undefined, topics: TopicOptions) =>
  Layer.effect(
    Routes,
    Effect.try({ try: () => loadRoutesFile(path, topics.topicPrefix), catch: (e) => e as RoutesError })
  ).pipe(Layer.merge(Layer.succeed(TopicSettings, topics)))

export const layerRoutesConfig = Layer.unwrapEffect(
  Effect.gen(function* () {
    const path = yield* Config.option(Config.string("EVENTFLOW_ROUTES"))
    const topics = yield* TopicConfig
    return layerRoutes(Option.getOrUndefined(path), topics)
  })
)
