/**
 * JSON nesting is checked on the raw bytes before `JSON.parse` runs, so a hostile body
 * ("[[[[…") is refused without building its object graph.
 */

const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * The deepest nesting of objects and arrays in a JSON text, or -1 once it passes `limit`.
 * With `spans`, the same pass also collects where each event object lies, as [start, end) pairs:
 * the top-level object, or each object element of a top-level array, in order.
 */
export const nestingDepth = (bytes: Uint8Array, limit: number, spans?: number[]): number => {
  let depth = 0
  let deepest = 0
  let inString = false
  let spanDepth = 0
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!
    if (inString) {
      if (byte === BACKSLASH) i++
      else if (byte === QUOTE) inString = false
      continue
    }
    if (byte === QUOTE) inString = true
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth++
      if (depth === 1) spanDepth = byte === OPEN_BRACE ? 1 : 2
      if (byte === OPEN_BRACE && depth === spanDepth) spans?.push(i)
      if (depth > deepest) {
        deepest = depth
        if (deepest > limit) return -1
      }
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      if (byte === CLOSE_BRACE && depth === spanDepth) spans?.push(i + 1)
      depth--
    }
  }
  return deepest
}

export type Parsed =
  | {
      readonly ok: true
      readonly value: unknown
      /** [start, end) of each event object in the body: the top-level object, or the array's objects. */
      readonly spans: ReadonlyArray<number>
    }
  | { readonly ok: false; readonly reason: string }

const decoder = new TextDecoder("utf-8", { fatal: true })

/** Parses UTF-8 JSON with a nesting limit; invalid UTF-8 is an error, not a replacement character. */
export const parseJson = (bytes: Uint8Array, maxDepth: number): Parsed => {
  const spans: number[] = []
  if (nestingDepth(bytes, maxDepth, spans) === -1) {
    return { ok: false, reason: `JSON nesting is deeper than the limit of ${maxDepth}` }
  }
  let text: string
  try {
    text = decoder.decode(bytes)
  } catch {
    return { ok: false, reason: "the body is not valid UTF-8" }
  }
  try {
    return { ok: true, value: JSON.parse(text), spans }
  } catch (error) {
    return { ok: false, reason: `the body is not valid JSON: ${(error as Error).message}` }
  }
}
