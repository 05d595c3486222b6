/**
 * CloudEvents 1.0 attributes, validation and the JSON event format.
 * https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md
 */

export interface CloudEvent {
  readonly specversion: "1.0"
  readonly id: string
  readonly source: string
  readonly type: string
  readonly time?: string
  readonly subject?: string
  readonly datacontenttype?: string
  readonly dataschema?: string
  readonly data?: unknown
  readonly data_base64?: string
  readonly [extension: string]: unknown
}

export type Validated =
  | {
      readonly ok: true
      readonly event: CloudEvent
      /** True when null attributes were dropped, so the event differs from the JSON it came from. */
      readonly normalized: boolean
    }
  | { readonly ok: false; readonly reason: string; readonly id?: string; readonly source?: string }

const REQUIRED = ["id", "source", "type"] as const
const OPTIONAL_STRINGS = ["subject", "datacontenttype", "dataschema", "time"] as const
const CONTEXT_ATTRIBUTES = new Set<string>([
  "specversion",
  ...REQUIRED,
  ...OPTIONAL_STRINGS,
  "data",
  "data_base64"
])
const EXTENSION_NAME = /^[a-z0-9]+$/
// RFC 3339 date-time, the format the spec requires for `time`.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/
// The type system's String excludes control characters (U+0000–U+001F, U+007F–U+009F),
// noncharacters and unpaired surrogates (a NUL, say, cannot even be stored in a PostgreSQL text).
const DISALLOWED = /[\p{Cc}\p{Noncharacter_Code_Point}\p{Cs}]/u

/** True when `value` is a String of the CloudEvents type system. */
export const isCloudEventsString = (value: string): boolean => !DISALLOWED.test(value)

const fail = (reason: string, raw?: Record<string, unknown>): Validated => {
  // The id and source are echoed (in the answer, as the DLQ record's key) only when they are Strings.
  const echo = (value: unknown) =>
    typeof value === "string" && isCloudEventsString(value) ? value : undefined
  const id = raw ? echo(raw.id) : undefined
  const source = raw ? echo(raw.source) : undefined
  return {
    ok: false,
    reason,
    ...(id !== undefined ? { id } : {}),
    ...(source !== undefined ? { source } : {})
  }
}

const notAString = (name: string) =>
  `attribute '${name}' has a character CloudEvents does not allow in a string (a control character, a noncharacter or an unpaired surrogate)`

export const isRfc3339 = (value: string): boolean => RFC3339.test(value) && !Number.isNaN(Date.parse(value))

/**
 * Checks one event in the JSON format. Null attributes count as absent, as the JSON format says.
 * The event returned is a copy without the null attributes; nothing else is changed.
 */
export const validate = (input: unknown): Validated => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    return fail("an event must be a JSON object")
  }
  const raw = input as Record<string, unknown>
  if (raw.specversion === undefined || raw.specversion === null) {
    return fail("missing required attribute 'specversion'", raw)
  }
  if (raw.specversion !== "1.0") {
    return fail(`unsupported specversion ${JSON.stringify(raw.specversion)}: only "1.0" is accepted`, raw)
  }
  for (const name of REQUIRED) {
    const value = raw[name]
    if (value === undefined || value === null) return fail(`missing required attribute '${name}'`, raw)
    if (typeof value !== "string") return fail(`attribute '${name}' must be a string`, raw)
    if (value.length === 0) return fail(`attribute '${name}' must not be empty`, raw)
    if (!isCloudEventsString(value)) return fail(notAString(name), raw)
  }
  const event: Record<string, unknown> = {}
  let normalized = false
  for (const name in raw) {
    const value = raw[name]
    if (value === null || value === undefined) {
      normalized = true
      continue
    }
    if (CONTEXT_ATTRIBUTES.has(name)) {
      event[name] = value
      continue
    }
    if (!EXTENSION_NAME.test(name)) {
      return fail(
        // Escaped: the name may hold anything, a NUL or a lone surrogate included.
        `attribute name '${JSON.stringify(name).slice(1, -1)}' is invalid: names are lower-case letters and digits only`,
        raw
      )
    }
    const kind = typeof value
    if (kind !== "string" && kind !== "boolean" && kind !== "number") {
      return fail(`extension '${name}' must be a string, a number or a boolean`, raw)
    }
    if (kind === "string" && !isCloudEventsString(value as string)) return fail(notAString(name), raw)
    if (kind === "number" && !Number.isSafeInteger(value)) {
      return fail(
        `extension '${name}' must be an integer (the CloudEvents type system has no fractions)`,
        raw
      )
    }
    event[name] = value
  }
  for (const name of OPTIONAL_STRINGS) {
    const value = event[name]
    if (value === undefined) continue
    if (typeof value !== "string") return fail(`attribute '${name}' must be a string`, raw)
    if (value.length === 0) return fail(`attribute '${name}' must not be empty`, raw)
    if (!isCloudEventsString(value)) return fail(notAString(name), raw)
  }
  if (typeof event.time === "string" && !isRfc3339(event.time)) {
    return fail(`attribute 'time' must be an RFC 3339 timestamp, got ${JSON.stringify(event.time)}`, raw)
  }
  if (typeof event.dataschema === "string" && !URI_SCHEME.test(event.dataschema)) {
    return fail("attribute 'dataschema' must be an absolute URI", raw)
  }
  if (event.data !== undefined && event.data_base64 !== undefined) {
    return fail("an event carries either 'data' or 'data_base64', not both", raw)
  }
  if (event.data_base64 !== undefined) {
    if (
      typeof event.data_base64 !== "string" ||
      event.data_base64.length % 4 !== 0 ||
      !BASE64.test(event.data_base64)
    ) {
      return fail("attribute 'data_base64' must be a base64 string", raw)
    }
  }
  return { ok: true, event: event as unknown as CloudEvent, normalized }
}

/** The key a partition is chosen by, unless a route says otherwise: subject, else source. */
export const defaultPartitionKey = (event: CloudEvent): string => event.subject ?? event.source

/** True when the content type is JSON (`application/json` or any `+json` suffix). */
export const isJsonContentType = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return true
  const media = mediaType(contentType)
  return media === "application/json" || media.endsWith("+json") || media === "text/json"
}

/** The media type of a Content-Type value, lower-cased, without parameters. */
export const mediaType = (contentType: string): string => {
  const semicolon = contentType.indexOf(";")
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase()
}
