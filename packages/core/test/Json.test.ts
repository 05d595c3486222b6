import { describe, expect, it } from "vitest"
import { nestingDepth, parseJson } from "../src/index.ts"

const bytes = (text: string) => Buffer.from(text, "utf8")

describe("nestingDepth", () => {
  it("counts objects and arrays, not brackets inside strings", () => {
    expect(nestingDepth(bytes('{"a":[1,{"b":"[[[{{{"}]}'), 10)).toBe(3)
    expect(nestingDepth(bytes('"\\"[["'), 10)).toBe(0)
  })

  it("stops at the limit", () => {
    expect(nestingDepth(bytes("[".repeat(100_000)), 32)).toBe(-1)
    expect(nestingDepth(bytes("[[[]]]"), 3)).toBe(3)
    expect(nestingDepth(bytes("[[[[]]]]"), 3)).toBe(-1)
  })
})

describe("event spans", () => {
  it("finds the top-level object, or each object element of a top-level array", () => {
    const spansOf = (text: string) => {
      const spans: number[] = []
      nestingDepth(bytes(text), 10, spans)
      const source = bytes(text)
      return Array.from({ length: spans.length / 2 }, (_, i) =>
        source.subarray(spans[2 * i], spans[2 * i + 1]).toString()
      )
    }
    expect(spansOf(' {"a":{"b":[{}]}} ')).toEqual(['{"a":{"b":[{}]}}'])
    expect(spansOf('[ {"a":"}"} , 5, "x", {"b":[{"c":1}]}, [ {} ] ]')).toEqual([
      '{"a":"}"}',
      '{"b":[{"c":1}]}'
    ])
    expect(spansOf("[]")).toEqual([])
  })
})

describe("parseJson", () => {
  it("parses valid JSON", () => {
    expect(parseJson(bytes('{"a":1}'), 4)).toEqual({ ok: true, value: { a: 1 }, spans: [0, 7] })
  })

  it("refuses deep nesting before parsing", () => {
    expect(parseJson(bytes(`${"[".repeat(50)}${"]".repeat(50)}`), 32)).toEqual({
      ok: false,
      reason: "JSON nesting is deeper than the limit of 32"
    })
  })

  it("refuses invalid UTF-8 and invalid JSON", () => {
    expect(parseJson(Buffer.from([0x22, 0xff, 0x22]), 4)).toEqual({
      ok: false,
      reason: "the body is not valid UTF-8"
    })
    const broken = parseJson(bytes("{oops"), 4)
    expect(broken.ok).toBe(false)
    expect(!broken.ok && broken.reason.startsWith("the body is not valid JSON:")).toBe(true)
  })
})
