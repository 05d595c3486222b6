import { describe, expect, it } from "vitest"
import { dlqRecord, Headers } from "../src/index.ts"

describe("dlqRecord", () => {
  // Found by the ingest fuzzers: a schema's error naming a property with a NUL or a lone surrogate
  // went into the record's headers, which PostgreSQL's jsonb (the embedded log) refused: a 503.
  it("keeps the error header to one line without NUL, control characters or lone surrogates", () => {
    const record = dlqRecord(
      "events.dlq",
      null,
      Buffer.from("{}"),
      "schema",
      "data.a\u0000b\r\nc\ud800 d",
      "t"
    )
    expect(record.headers[Headers.error]).toBe("data.a b c  d")
    const long = dlqRecord("events.dlq", null, Buffer.from("{}"), "schema", `${"x".repeat(999)}😀`, "t")
    // Cut at 1000 UTF-16 units, then cleaned: half an emoji does not survive.
    expect(long.headers[Headers.error]).toBe(`${"x".repeat(999)} `)
  })
})
