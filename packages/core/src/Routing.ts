/**
 * Routes map CloudEvent types to typed topics. The routes document (YAML or JSON) is:
 *
 *   routes:
 *     - name: orders                 # topic `<prefix>events.orders`
 *       types: ["com.shop.order.*"]  # `*` matches any run of characters; first matching route wins
 *       partitionKey: subject        # subject (default: subject, else source) | source | id | type
 *       partitions: 6                # optional; else EVENTFLOW_TOPIC_PARTITIONS
 *       schema: { ... }              # optional JSON Schema for `data`, or:
 *       schemaFile: schemas/order.json
 *
 * Types that match no route go to `<prefix>events.default`.
 */
import { Ajv, type ErrorObject } from "ajv"
import addFormatsModule from "ajv-formats"
import type { CloudEvent } from "./CloudEvent.ts"

export type PartitionKeyAttribute = "subject" | "source" | "id" | "type"

export interface Route {
  readonly name: string
  readonly topic: string
  readonly patterns: ReadonlyArray<string>
  readonly partitionKey: PartitionKeyAttribute
  readonly partitions: number | undefined
  /** Undefined when the data is valid (or the route has no schema), else the reason. */
  readonly checkData: (event: CloudEvent) => string | undefined
}

export interface Routing {
  readonly routes: ReadonlyArray<Route>
  readonly fallback: Route
  readonly dlqTopic: string
  readonly resolve: (type: string) => Route
  readonly partitionKey: (route: Route, event: CloudEvent) => string
  /** Every topic ingestion writes to: the routes', the default and the DLQ. */
  readonly topics: ReadonlyArray<string>
}

export class RoutesError extends Error {
  override readonly name = "RoutesError"
}

const ROUTE_NAME = /^[a-z0-9][a-z0-9_-]*$/
const RESERVED = new Set(["default", "dlq"])
const KEY_ATTRIBUTES = new Set<PartitionKeyAttribute>(["subject", "source", "id", "type"])

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, "\\$&")

export const patternToRegExp = (pattern: string): RegExp =>
  new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`)

const noCheck = () => undefined

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

export interface CompileOptions {
  /** Prepended to every topic name (`prod.` gives `prod.events.orders`). */
  readonly topicPrefix: string
  /** Reads a `schemaFile` (a path relative to the routes file) and returns the parsed schema. */
  readonly readSchemaFile: (path: string) => unknown
}

const describeErrors = (errors: ReadonlyArray<ErrorObject> | null | undefined): string =>
  (errors ?? [])
    .slice(0, 5)
    .map((e) => `data${e.instancePath.replace(/\//g, ".")} ${e.message ?? "is invalid"}`)
    .join("; ")

/** Compiles a routes document. Throws `RoutesError` with a sentence that names the route at fault. */
export const compileRoutes = (document: unknown, options: CompileOptions): Routing => {
  const ajv = addFormats(new Ajv({ allErrors: false, strict: false }))
  const prefix = options.topicPrefix
  const entries = readEntries(document)
  const seen = new Set<string>()
  const routes: Route[] = entries.map((entry, index) => {
    const where = `route ${index + 1}`
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new RoutesError(`${where} must be an object`)
    }
    const r = entry as Record<string, unknown>
    if (typeof r.name !== "string" || !ROUTE_NAME.test(r.name)) {
      throw new RoutesError(`${where}: 'name' must be lower-case letters, digits, '-' or '_'`)
    }
    const name = r.name
    if (RESERVED.has(name)) throw new RoutesError(`route '${name}': the name is reserved`)
    if (seen.has(name)) throw new RoutesError(`route '${name}' is defined twice`)
    seen.add(name)
    const types = typeof r.types === "string" ? [r.types] : r.types
    if (
      !Array.isArray(types) ||
      types.length === 0 ||
      !types.every((t) => typeof t === "string" && t !== "")
    ) {
      throw new RoutesError(`route '${name}': 'types' must be a non-empty list of type patterns`)
    }
    const partitionKey = (r.partitionKey ?? "subject") as PartitionKeyAttribute
    if (!KEY_ATTRIBUTES.has(partitionKey)) {
      throw new RoutesError(`route '${name}': 'partitionKey' must be one of subject, source, id, type`)
    }
    if (r.partitions !== undefined && !(Number.isInteger(r.partitions) && (r.partitions as number) > 0)) {
      throw new RoutesError(`route '${name}': 'partitions' must be a positive integer`)
    }
    if (r.schema !== undefined && r.schemaFile !== undefined) {
      throw new RoutesError(`route '${name}': give 'schema' or 'schemaFile', not both`)
    }
    let schema = r.schema
    if (typeof r.schemaFile === "string") {
      try {
        schema = options.readSchemaFile(r.schemaFile)
      } catch (error) {
        throw new RoutesError(`route '${name}': cannot read schemaFile '${r.schemaFile}': ${String(error)}`)
      }
    }
    let checkData: Route["checkData"] = noCheck
    if (schema !== undefined) {
      let validateData: ReturnType<Ajv["compile"]>
      try {
        validateData = ajv.compile(schema as object)
      } catch (error) {
        throw new RoutesError(`route '${name}': invalid JSON Schema: ${(error as Error).message}`)
      }
      checkData = (event) => {
        if (event.data_base64 !== undefined) {
          return `route '${name}' checks data against a JSON Schema, so data must be JSON, not data_base64`
        }
        return validateData(event.data ?? null)
          ? undefined
          : `data does not match the schema of route '${name}': ${describeErrors(validateData.errors)}`
      }
    }
    return {
      name,
      topic: `${prefix}events.${name}`,
      patterns: types as string[],
      partitionKey,
      partitions: r.partitions as number | undefined,
      checkData
    }
  })
  const fallback: Route = {
    name: "default",
    topic: `${prefix}events.default`,
    patterns: ["*"],
    partitionKey: "subject",
    partitions: undefined,
    checkData: noCheck
  }
  const matchers = routes.map((route) => ({ route, regexps: route.patterns.map(patternToRegExp) }))
  // Types repeat a lot; remember each type's route (bounded, so a flood of random types cannot grow it).
  const cache = new Map<string, Route>()
  const resolve = (type: string): Route => {
    const cached = cache.get(type)
    if (cached !== undefined) return cached
    const found = matchers.find((m) => m.regexps.some((re) => re.test(type)))?.route ?? fallback
    if (cache.size >= 10_000) cache.clear()
    cache.set(type, found)
    return found
  }
  const dlqTopic = `${prefix}events.dlq`
  return {
    routes,
    fallback,
    dlqTopic,
    resolve,
    partitionKey: (route, event) =>
      route.partitionKey === "subject" ? (event.subject ?? event.source) : String(event[route.partitionKey]),
    topics: [...routes.map((r) => r.topic), fallback.topic, dlqTopic]
  }
}

const readEntries = (document: unknown): ReadonlyArray<unknown> => {
  if (document === null || document === undefined) return []
  if (Array.isArray(document)) return document
  if (typeof document === "object" && "routes" in document) {
    const routes = (document as { routes: unknown }).routes
    if (routes === null || routes === undefined) return []
    if (Array.isArray(routes)) return routes
  }
  throw new RoutesError("the routes file must hold a list 'routes:' of routes")
}
