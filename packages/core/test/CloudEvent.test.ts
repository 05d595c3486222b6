import { describe, expect, it } from "vitest"
import { defaultPartitionKey, isJsonContentType, validate } from "../src/index.ts"

const base = { specversion: "1.0", id: "1", source: "/s", type: "t" }

const reasonOf = (input: unknown) => {
  const result = validate(input)
  return result.ok ? undefined : result.reason
}

describe("validate", () => {
  it("accepts the minimal event and keeps every attribute", () => {
    const event = {
      ...base,
      time: "2026-11-27T08:00:00.123Z",
      subject: "u1",
      data: { a: [1, 2] },
      traceparent: "00-x"
    }
    expect(validate(event)).toEqual({ ok: true, event, normalized: false })
  })

  it("treats null attributes as absent", () => {
    expect(validate({ ...base, subject: null })).toEqual({ ok: true, event: base, normalized: true })
  })

  it.each([
    [{ ...base, specversion: undefined }, "missing required attribute 'specversion'"],
    [{ ...base, specversion: "0.3" }, 'unsupported specversion "0.3": only "1.0" is accepted'],
    [{ ...base, id: undefined }, "missing required attribute 'id'"],
    [{ ...base, source: 5 }, "attribute 'source' must be a string"],
    [{ ...base, type: "" }, "attribute 'type' must not be empty"],
    [{ ...base, time: "yesterday" }, "attribute 'time' must be an RFC 3339 timestamp, got \"yesterday\""],
    [
      { ...base, time: "2026-13-45T00:00:00Z" },
      "attribute 'time' must be an RFC 3339 timestamp, got \"2026-13-45T00:00:00Z\""
    ],
    [{ ...base, dataschema: "relative/path" }, "attribute 'dataschema' must be an absolute URI"],
    [{ ...base, data: 1, data_base64: "AA==" }, "an event carries either 'data' or 'data_base64', not both"],
    [{ ...base, data_base64: "not base64!" }, "attribute 'data_base64' must be a base64 string"],
    [{ ...base, Bad: "x" }, "attribute name 'Bad' is invalid: names are lower-case letters and digits only"],
    [
      { ...base, with_underscore: "x" },
      "attribute name 'with_underscore' is invalid: names are lower-case letters and digits only"
    ],
    [{ ...base, ext: { nested: true } }, "extension 'ext' must be a string, a number or a boolean"],
    [
      { ...base, ext: 1.5 },
      "extension 'ext' must be an integer (the CloudEvents type system has no fractions)"
    ],
    [{ ...base, subject: 3 }, "attribute 'subject' must be a string"],
    [[base], "an event must be a JSON object"],
    ["text", "an event must be a JSON object"],
    [null, "an event must be a JSON object"]
  ])("rejects %j", (input, reason) => {
    expect(reasonOf(input)).toBe(reason)
  })

  // Found by fuzzing: a NUL in the source (binary mode `ce-source: %00`) reached the embedded log's
  // text key and failed the whole request with a 503.
  it.each([
    [{ ...base, source: "a\u0000b" }, "source"],
    [{ ...base, id: "\u0007" }, "id"],
    [{ ...base, type: "t\u0085" }, "type"],
    [{ ...base, subject: "\ud800" }, "subject"],
    [{ ...base, time: "2026-11-27T08:00:00Z\u0000" }, "time"],
    [{ ...base, ext: "\ufffe" }, "ext"]
  ])("rejects control characters, noncharacters and lone surrogates in strings: %j", (input, name) => {
    expect(reasonOf(input)).toBe(
      `attribute '${name}' has a character CloudEvents does not allow in a string (a control character, a noncharacter or an unpaired surrogate)`
    )
  })

  it("does not echo an id or a source that is not a valid string", () => {
    const result = validate({ ...base, id: "ok", source: "\u0000" })
    expect(result).toEqual({ ok: false, reason: expect.any(String), id: "ok" })
    expect(reasonOf({ ...base, "a\u0000": 1 })).toBe(
      "attribute name 'a\\u0000' is invalid: names are lower-case letters and digits only"
    )
    // Letters beyond ASCII and pairs of surrogates are fine.
    expect(validate({ ...base, subject: "café 😀" }).ok).toBe(true)
  })

  it("reports the id and source of a rejected event when it has them", () => {
    expect(validate({ ...base, time: "x" })).toMatchObject({ ok: false, id: "1", source: "/s" })
  })

  it("accepts integer, boolean and string extensions", () => {
    expect(validate({ ...base, n: 3, b: false, s: "x" }).ok).toBe(true)
  })
})

describe("partition key and content type", () => {
  it("uses subject, else source", () => {
    expect(defaultPartitionKey({ ...base, specversion: "1.0", subject: "u1" })).toBe("u1")
    expect(defaultPartitionKey({ ...base, specversion: "1.0" })).toBe("/s")
  })

  it("recognises JSON media types", () => {
    expect(isJsonContentType("application/json; charset=utf-8")).toBe(true)
    expect(isJsonContentType("application/vnd.x+json")).toBe(true)
    expect(isJsonContentType("text/plain")).toBe(false)
  })
})
