/**
 * The CloudEvents HTTP protocol binding: structured mode (one event or a batch, in the JSON format)
 * and binary mode (attributes in `ce-*` headers, the body is the data).
 */
import { isJsonContentType, mediaType, type Problem, Problems, parseJson } from "@eventflow/core"

export type Decoded =
  | {
      readonly ok: true
      readonly mode: "structured" | "batch" | "binary"
      readonly items: ReadonlyArray<unknown>
      /** The bytes each item came as, where it was a JSON object of the body (so it is stored as sent). */
      readonly raws: ReadonlyArray<Buffer | undefined>
    }
  | { readonly ok: false; readonly problem: Problem }

export interface DecodeLimits {
  readonly maxBatchEvents: number
  readonly maxJsonDepth: number
}

export type HeaderValue = string | ReadonlyArray<string> | undefined

const STRUCTURED = "application/cloudevents+json"
const BATCH = "application/cloudevents-batch+json"
const JSON_TYPES = new Set(["application/json", "text/json"])
const PLAIN_ATTRIBUTE = /^[a-z0-9]+$/

const first = (value: HeaderValue): string | undefined =>
  Array.isArray(value) ? value[0] : (value as string)

const batchTooLong = (length: number, limits: DecodeLimits): Decoded => ({
  ok: false,
  problem: Problems.tooLarge(`the batch has ${length} events; the limit is ${limits.maxBatchEvents}`, {
    limit: limits.maxBatchEvents,
    events: length
  })
})

const parse = (body: Uint8Array, limits: DecodeLimits) => {
  if (body.length === 0) return { ok: false as const, problem: Problems.badRequest("the body is empty") }
  const parsed = parseJson(body, limits.maxJsonDepth)
  return parsed.ok ? parsed : { ok: false as const, problem: Problems.badRequest(parsed.reason) }
}

const isObject = (value: unknown) => value !== null && typeof value === "object" && !Array.isArray(value)

const view = (body: Uint8Array, start: number, end: number) =>
  Buffer.from(body.buffer, body.byteOffset + start, end - start)

const single = (value: unknown, body: Uint8Array, spans: ReadonlyArray<number>): Decoded => ({
  ok: true,
  mode: "structured",
  items: [value],
  raws: [isObject(value) && spans.length === 2 ? view(body, spans[0]!, spans[1]!) : undefined]
})

const asBatch = (
  value: unknown,
  body: Uint8Array,
  spans: ReadonlyArray<number>,
  limits: DecodeLimits
): Decoded => {
  if (!Array.isArray(value)) {
    return { ok: false, problem: Problems.badRequest("a batch must be a JSON array of events") }
  }
  if (value.length > limits.maxBatchEvents) return batchTooLong(value.length, limits)
  // The spans are the array's object elements, in order.
  let next = 0
  const raws = value.map((item) => {
    if (!isObject(item)) return undefined
    const raw = view(body, spans[next]!, spans[next + 1]!)
    next += 2
    return raw
  })
  return { ok: true, mode: "batch", items: value, raws }
}

/** Decodes a request body into the events it carries (not yet validated). */
export const decode = (
  headers: Readonly<Record<string, HeaderValue>>,
  body: Uint8Array,
  limits: DecodeLimits
): Decoded => {
  // A compressed body would be read as if it were not (bytes that are not JSON, or data stored
  // as received): refused, as HTTP says, with 415.
  const encoding = first(headers["content-encoding"])?.trim().toLowerCase()
  if (encoding !== undefined && encoding !== "" && encoding !== "identity") {
    return {
      ok: false,
      problem: Problems.unsupportedMediaType(
        `Content-Encoding ${encoding} is not supported: send the body uncompressed`
      )
    }
  }
  const contentType = first(headers["content-type"])
  const media = contentType === undefined ? undefined : mediaType(contentType)
  if (media === STRUCTURED) {
    const parsed = parse(body, limits)
    if (!parsed.ok) return parsed
    if (Array.isArray(parsed.value)) {
      return { ok: false, problem: Problems.badRequest(`a batch is sent as ${BATCH}, not ${STRUCTURED}`) }
    }
    return single(parsed.value, body, parsed.spans)
  }
  if (media === BATCH) {
    const parsed = parse(body, limits)
    return parsed.ok ? asBatch(parsed.value, body, parsed.spans, limits) : parsed
  }
  if (headers["ce-specversion"] !== undefined) return decodeBinary(headers, contentType, body, limits)
  if (media !== undefined && JSON_TYPES.has(media)) {
    const parsed = parse(body, limits)
    if (!parsed.ok) return parsed
    return Array.isArray(parsed.value)
      ? asBatch(parsed.value, body, parsed.spans, limits)
      : single(parsed.value, body, parsed.spans)
  }
  return {
    ok: false,
    problem: Problems.unsupportedMediaType(
      media === undefined
        ? `the request has no Content-Type: send ${STRUCTURED}, ${BATCH} or application/json, or an event in binary mode with ce-* headers`
        : `${media} is not supported: send ${STRUCTURED}, ${BATCH} or application/json, or an event in binary mode with ce-* headers`
    )
  }
}

const decodeBinary = (
  headers: Readonly<Record<string, HeaderValue>>,
  contentType: string | undefined,
  body: Uint8Array,
  limits: DecodeLimits
): Decoded => {
  const event: Record<string, unknown> = {}
  for (const name in headers) {
    if (!name.startsWith("ce-")) continue
    const attribute = name.slice(3)
    const raw = first(headers[name])
    if (raw === undefined) continue
    if (!PLAIN_ATTRIBUTE.test(attribute)) {
      return { ok: false, problem: Problems.badRequest(`header ${name} does not name a valid attribute`) }
    }
    try {
      // The binding percent-encodes characters a header cannot carry.
      event[attribute] = decodeURIComponent(raw)
    } catch {
      return { ok: false, problem: Problems.badRequest(`header ${name} is not valid percent-encoding`) }
    }
  }
  if (contentType !== undefined) event.datacontenttype = contentType
  if (body.length > 0) {
    if (isJsonContentType(contentType)) {
      const parsed = parse(body, limits)
      if (!parsed.ok) return parsed
      event.data = parsed.value
    } else {
      event.data_base64 = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("base64")
    }
  }
  return { ok: true, mode: "binary", items: [event], raws: [undefined] }
}
