/**
 * `POST /v1/events` of a real `eventflow dev` (embedded), fuzzed with fast-check over raw sockets:
 * random bytes and JSON, malformed CloudEvents, invalid UTF-8, bodies around the size and nesting
 * limits (with Content-Length and chunked), content types, binary-mode headers, oversized batches
 * and Authorization headers. Every answer is a 202 whose counts add up, or a 4xx problem; never a
 * 5xx, a dropped connection or a hang. Then the process is alive and its memory bounded.
 * A failing run prints its seed; FUZZ_SEED=<seed> replays it, FUZZ_RUNS_SCALE=10 runs ten times as many cases.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import {
  exchange,
  freePort,
  fuzzParameters,
  problemViolations,
  type RawResult,
  serverRss,
  tempDir
} from "@eventflow/testing"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Running, startEventflow, stop } from "../../cli/test/support.ts"

const KEY = "fuzz-dev-key-0123456789"
const MAX_BODY = 64 * 1024
const MAX_DEPTH = 16
const MAX_BATCH = 20
const STRUCTURED = "application/cloudevents+json"
const BATCH = "application/cloudevents-batch+json"
const JSON_TYPES = ["application/json", "text/json"]

const options = (numRuns: number): fc.Parameters<unknown> => fuzzParameters(numRuns)

let server: Running
let port: number
let rssBefore = 0

const rss = () => serverRss(port)

type Header = readonly [string, string]
const auth: Header = ["Authorization", `Bearer ${KEY}`]

const post = (
  body: Uint8Array | string | undefined,
  headers: ReadonlyArray<Header>,
  framing: "auto" | "chunked" = "auto"
) => exchange(port, { headers, ...(body !== undefined ? { body } : {}), framing })

interface Accepted {
  accepted: number
  duplicate: number
  rejected: number
  retry: number
  results: Array<{ index: number; status: string; reason?: string }>
}

/**
 * The answer is a 202 whose counts add up (`events` of them, when known), or a 4xx problem+json;
 * with `allowed`, its status is one of them. Returns the parsed body.
 */
const check = (result: RawResult, allowed: ReadonlyArray<number>, events?: number): any => {
  const sent = result.received.toString("latin1").slice(0, 300)
  expect(result.timedOut, `no answer in time; received: ${sent}`).toBe(false)
  expect(
    result.response,
    `the connection closed without an answer (${result.error ?? ""}): ${sent}`
  ).toBeDefined()
  const response = result.response!
  const text = response.body.toString("utf8")
  expect(response.status, text).toBeLessThan(500)
  expect(allowed, `status ${response.status}: ${text}`).toContain(response.status)
  if (response.status === 202) {
    const body = JSON.parse(text) as Accepted
    const { accepted, duplicate, rejected, retry, results } = body
    expect(accepted + duplicate + rejected + retry).toBe(results.length)
    expect(results.map((r) => r.index)).toEqual(results.map((_, i) => i))
    for (const status of ["accepted", "duplicate", "rejected", "retry"] as const) {
      expect(results.filter((r) => r.status === status).length).toBe(body[status])
    }
    if (events !== undefined) expect(results.length).toBe(events)
    return body
  }
  expect(response.status).toBeGreaterThanOrEqual(400)
  expect(problemViolations(response), text).toEqual([])
  return JSON.parse(text)
}

// --- arbitraries ---------------------------------------------------------------------------------

const printable = (maxLength = 40) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength })
/** Header-safe text including obs-text (bytes 0x80–0xff, sent as latin1). */
const headerText = (maxLength = 40) =>
  fc.string({
    unit: fc
      .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
      .map((c) => String.fromCharCode(c)),
    maxLength
  })
/** Characters that are trouble downstream: controls (NUL…), lone surrogates, noncharacters. */
const nasty = (maxLength = 8) =>
  fc.string({
    unit: fc
      .oneof(
        fc.integer({ min: 0, max: 0x9f }),
        fc.integer({ min: 0xd800, max: 0xdfff }),
        fc.constantFrom(0xfdd0, 0xfffe, 0xffff)
      )
      .map((c) => String.fromCharCode(c)),
    maxLength
  })
const token = fc.stringMatching(/^[A-Za-z0-9!#$&'*+.^_`|~-]{1,16}$/)

const contentType = fc.oneof(
  fc.constantFrom(
    STRUCTURED,
    BATCH,
    "application/json",
    "application/json; charset=utf-8",
    "text/json",
    "APPLICATION/CLOUDEVENTS+JSON",
    "text/plain",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    ";",
    ""
  ),
  headerText(30)
)
const maybeContentType = fc.option(contentType, { nil: undefined })

/** A route whose schema wants numbers only, so that random data is rejected with the schema's words. */
const ROUTES = {
  routes: [
    {
      name: "fuzzschema",
      types: ["fuzz.schema"],
      schema: {
        type: "object",
        required: ["amount"],
        properties: { amount: { type: "number", minimum: 0 } },
        additionalProperties: { type: "number" }
      }
    }
  ]
}

const validEvent = (id: string) => ({ specversion: "1.0", id, source: "/fuzz", type: "fuzz.valid" })

const huge = fc.integer({ min: 1_000, max: 20_000 }).map((n) => "x".repeat(n))
const wrongValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  nasty(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(""),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  huge
)
const attribute = (valid: fc.Arbitrary<unknown>) => fc.oneof({ weight: 3, arbitrary: valid }, wrongValue)

const extensionName = fc.oneof(
  fc.stringMatching(/^[a-z0-9]{1,20}$/),
  fc.string({ minLength: 1, maxLength: 24 }),
  nasty(),
  fc.constantFrom("__proto__", "constructor", "toString", "UPPER", "with-dash", "with_underscore", "ünïcode")
)
const extensionValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 })
)

/** A CloudEvent with each attribute valid, wrong-typed, empty, huge or missing, and random extensions. */
const messyEvent = fc
  .tuple(
    fc.record(
      {
        specversion: fc.oneof(
          { weight: 3, arbitrary: fc.constant("1.0") },
          fc.constantFrom("0.3", "1", "1.0 ", "v1.0", "", 1, 1.0),
          wrongValue
        ),
        id: attribute(fc.string({ minLength: 1, maxLength: 30 })),
        source: attribute(fc.constantFrom("/fuzz", "urn:x", "https://example.com/a")),
        type: attribute(fc.constantFrom("fuzz.a", "fuzz.b", "com.shop.order.created")),
        time: attribute(
          fc.oneof(
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            fc.constantFrom("2026-13-45T99:99:99Z", "2026-11-27T10:15:30+25:00", "yesterday")
          )
        ),
        subject: attribute(fc.string({ maxLength: 20 })),
        datacontenttype: attribute(fc.constantFrom("application/json", "text/plain")),
        dataschema: attribute(fc.constantFrom("https://example.com/schema", "relative/path", "urn:s")),
        data: fc.jsonValue({ maxDepth: 4 }),
        data_base64: attribute(fc.oneof(fc.base64String({ maxLength: 40 }), fc.string({ maxLength: 10 })))
      },
      { requiredKeys: [] }
    ),
    fc.dictionary(extensionName, extensionValue, { maxKeys: 4 })
  )
  .map(([attributes, extensions]) => ({ ...extensions, ...attributes }))

/** True when the event cannot be valid, whatever its other attributes: it must be rejected. */
const surelyInvalid = (event: Record<string, unknown>) =>
  event.specversion !== "1.0" ||
  ["id", "source", "type"].some((name) => typeof event[name] !== "string" || event[name] === "")

const depthOf = (value: unknown): number =>
  value !== null && typeof value === "object"
    ? 1 + Math.max(0, ...Object.values(value as object).map(depthOf))
    : 0

// --- the suite -----------------------------------------------------------------------------------

describe("fuzzing POST /v1/events (eventflow dev, embedded)", () => {
  beforeAll(async () => {
    port = await freePort()
    const dataDir = tempDir("fuzz-ingest")
    const routes = join(dataDir, "routes.json")
    writeFileSync(routes, JSON.stringify(ROUTES))
    server = await startEventflow(
      ["dev"],
      {
        EVENTFLOW_DATA_DIR: dataDir,
        EVENTFLOW_ROUTES: routes,
        EVENTFLOW_DEV_WRITE_KEY: KEY,
        EVENTFLOW_MAX_BODY_BYTES: String(MAX_BODY),
        EVENTFLOW_MAX_JSON_DEPTH: String(MAX_DEPTH),
        EVENTFLOW_MAX_BATCH_EVENTS: String(MAX_BATCH),
        EVENTFLOW_DASHBOARD_DIR: "off",
        EVENTFLOW_LOG_LEVEL: "warn"
      },
      port
    )
    rssBefore = await rss()
  }, 120_000)

  afterAll(async () => {
    if (server) await stop(server)
  })

  it("random bytes, with any content type or none: a 202 or a 4xx problem", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), maybeContentType, async (bytes, type) => {
        const headers: Header[] = [auth, ...(type === undefined ? [] : [["Content-Type", type] as Header])]
        check(await post(bytes, headers), [202, 400, 413, 415])
      }),
      options(150)
    )
  })

  it("random JSON values and serialised anything: the status the body's shape calls for", async () => {
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 24 }),
      fc.anything({ maxDepth: 6 }).filter((v) => JSON.stringify(v) !== undefined)
    )
    const media = fc.constantFrom(STRUCTURED, BATCH, ...JSON_TYPES)
    await fc.assert(
      fc.asyncProperty(value, media, async (v, type) => {
        const text = JSON.stringify(v)
        const parsed = JSON.parse(text) as unknown
        const answer = check(await post(text, [auth, ["Content-Type", type]]), [202, 400, 413])
        const status = answer.status ?? 202
        const isArray = Array.isArray(parsed)
        let expected: number
        if (depthOf(parsed) > MAX_DEPTH) expected = 400
        else if (type === STRUCTURED) expected = isArray ? 400 : 202
        else if (type === BATCH && !isArray) expected = 400
        else expected = isArray && parsed.length > MAX_BATCH ? 413 : 202
        if (Buffer.byteLength(text) > MAX_BODY) expected = 413
        expect([text.slice(0, 200), status]).toEqual([text.slice(0, 200), expected])
        if (status === 202) expect(answer.results.length).toBe(isArray ? parsed.length : 1)
      }),
      options(150)
    )
  })

  it("malformed CloudEvents (single and batches): 202, invalid ones rejected with a reason", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(messyEvent, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        async (events, single) => {
          const body = JSON.stringify(single ? events[0] : events)
          const answer = check(
            await post(body, [auth, ["Content-Type", single ? STRUCTURED : BATCH]]),
            [202, 413],
            single ? 1 : events.length
          )
          if (answer.status === 413) {
            expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_BODY)
            return
          }
          const sent = single ? [events[0]!] : events
          sent.forEach((event, i) => {
            const result = answer.results[i]
            if (surelyInvalid(event))
              expect(result.status, JSON.stringify(event).slice(0, 200)).toBe("rejected")
            if (result.status === "rejected") expect(typeof result.reason).toBe("string")
          })
        }
      ),
      options(120)
    )
  })

  it("invalid UTF-8 in a structured event, a batch, binary data or a ce- header: 400", async () => {
    const bad = fc.constantFrom(
      [0xff],
      [0xfe],
      [0x80],
      [0xc0, 0x80],
      [0xc3],
      [0xe2, 0x82],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf8, 0x88, 0x80, 0x80, 0x80]
    )
    const shape = fc.constantFrom("structured", "batch", "binary")
    await fc.assert(
      fc.asyncProperty(bad, printable(10), shape, async (sequence, text, mode) => {
        const [before, after] = JSON.stringify({ ...validEvent(`u-${text}`), data: "<>" }).split("<>")
        const event = Buffer.concat([Buffer.from(before!), Buffer.from(sequence), Buffer.from(after!)])
        const body = mode === "batch" ? Buffer.concat([Buffer.from("["), event, Buffer.from("]")]) : event
        const headers: Header[] =
          mode === "binary"
            ? [
                auth,
                ["Content-Type", "application/json"],
                ["ce-specversion", "1.0"],
                ["ce-id", "utf8"],
                ["ce-source", "/fuzz"],
                ["ce-type", "fuzz.binary"]
              ]
            : [auth, ["Content-Type", mode === "batch" ? BATCH : STRUCTURED]]
        const answer = check(await post(body, headers), [400])
        expect(answer.detail).toContain("UTF-8")
      }),
      options(60)
    )
    // Percent-encoded bytes that are not UTF-8 in a binary-mode header.
    const answer = check(
      await post("{}", [
        auth,
        ["Content-Type", "application/json"],
        ["ce-specversion", "1.0"],
        ["ce-id", "%FF%FE"],
        ["ce-source", "/fuzz"],
        ["ce-type", "fuzz.binary"]
      ]),
      [400]
    )
    expect(answer.detail).toContain("percent-encoding")
  })

  it("bodies around EVENTFLOW_MAX_BODY_BYTES, with Content-Length, chunked, or a Content-Length that lies: 413 above", async () => {
    const padded = (size: number) => {
      const base = JSON.stringify({ ...validEvent(`size-${size}-${Math.random()}`), data: "" })
      return `${base.slice(0, -3)}"${"p".repeat(size - base.length)}"}`
    }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -2_000, max: 2_000 }),
        fc.constantFrom("auto", "chunked") as fc.Arbitrary<"auto" | "chunked">,
        async (offset, framing) => {
          const size = MAX_BODY + (offset === 0 ? 1 : offset)
          const body = padded(size)
          expect(Buffer.byteLength(body)).toBe(size)
          const answer = check(await post(body, [auth, ["Content-Type", STRUCTURED]], framing), [202, 413])
          expect(answer.status ?? 202).toBe(size > MAX_BODY ? 413 : 202)
        }
      ),
      options(40)
    )
    // A Content-Length above the limit is refused before the body is read (here it never comes).
    const lie = await exchange(port, {
      headers: [auth, ["Content-Type", STRUCTURED], ["Content-Length", String(MAX_BODY + 1)]],
      body: "{}",
      framing: "none"
    })
    expect(check(lie, [413]).limit).toBe(MAX_BODY)
  })

  it("JSON nested just below and above EVENTFLOW_MAX_JSON_DEPTH, brackets in strings: 202 and 400", async () => {
    const tricky = fc.string({
      unit: fc.constantFrom("[", "]", "{", "}", '"', "\\", "a", ":"),
      maxLength: 12
    })
    const nest = (depth: number, leaf: string, objects: ReadonlyArray<boolean>): unknown => {
      let value: unknown = leaf
      for (let i = 0; i < depth; i++)
        value = objects[i % objects.length] ? { k: value, [leaf]: leaf } : [leaf, value]
      return value
    }
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: MAX_DEPTH - 3, max: MAX_DEPTH + 3 }),
        tricky,
        fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async (depth, leaf, objects, asBatch) => {
          // The event object counts as a level (and the batch's array as another).
          const event = {
            ...validEvent(`nest-${depth}-${Math.random()}`),
            data: nest(depth - 1, leaf, objects)
          }
          const body = JSON.stringify(asBatch ? [event] : event)
          const total = depth + (asBatch ? 1 : 0)
          expect(depthOf(JSON.parse(body))).toBe(total)
          const answer = check(
            await post(body, [auth, ["Content-Type", asBatch ? BATCH : STRUCTURED]]),
            [202, 400]
          )
          expect(answer.status ?? 202).toBe(total > MAX_DEPTH ? 400 : 202)
          if (total > MAX_DEPTH) expect(answer.detail).toContain("nesting")
          else expect(answer.accepted).toBe(1)
        }
      ),
      options(60)
    )
  })

  it("any Content-Type or none on a valid event: 202 for JSON types, else 415 (or 400 for an unreadable header)", async () => {
    await fc.assert(
      fc.asyncProperty(maybeContentType, async (type) => {
        const body = JSON.stringify(validEvent(`ct-${Math.random()}`))
        const headers: Header[] = [auth, ...(type === undefined ? [] : [["Content-Type", type] as Header])]
        const answer = check(await post(body, headers), [202, 400, 415])
        const media = type?.split(";")[0]?.trim().toLowerCase()
        const printableOnly = type === undefined || /^[\x20-\x7e]*$/.test(type)
        if (!printableOnly) return
        const expected =
          media === STRUCTURED || media === BATCH || JSON_TYPES.includes(media ?? "")
            ? media === BATCH
              ? 400
              : 202
            : 415
        expect([type, answer.status ?? 202]).toEqual([type, expected])
      }),
      options(120)
    )
  })

  it("any Content-Encoding but identity: 415 (the body would be read as if it were not compressed)", async () => {
    const encoding = fc.oneof(
      fc.constantFrom(
        "gzip",
        "deflate",
        "br",
        "zstd",
        "x-gzip",
        "gzip, identity",
        "IDENTITY",
        "identity",
        ""
      ),
      printable(20)
    )
    await fc.assert(
      fc.asyncProperty(encoding, async (value) => {
        const result = await post(JSON.stringify(validEvent(`enc-${Math.random()}`)), [
          auth,
          ["Content-Type", STRUCTURED],
          ["Content-Encoding", value]
        ])
        const plain = ["", "identity"].includes(value.trim().toLowerCase())
        expect([value, check(result, [202, 415]).status ?? 202]).toEqual([value, plain ? 202 : 415])
      }),
      options(40)
    )
  })

  it("binary mode with random ce-* headers and bodies: a 202 with one result, or a 4xx problem", async () => {
    const ceName = fc.oneof(
      fc.constantFrom("id", "source", "type", "specversion", "time", "subject", "dataschema", "traceparent"),
      fc.stringMatching(/^[a-z0-9]{1,12}$/),
      token
    )
    const ceValue = fc.oneof(
      printable(30),
      fc.constantFrom("%", "%2", "%ZZ", "%E2%82%AC", "%00", "1.0", ""),
      headerText(20)
    )
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(ceName, ceValue, { maxKeys: 8 }),
        fc.boolean(),
        maybeContentType,
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))
        ),
        async (attributes, withSpecversion, type, body) => {
          const headers: Header[] = [auth]
          if (withSpecversion) headers.push(["ce-specversion", "1.0"])
          for (const [name, value] of Object.entries(attributes)) headers.push([`ce-${name}`, value])
          if (type !== undefined) headers.push(["Content-Type", type])
          const answer = check(await post(body, headers), [202, 400, 413, 415])
          // Binary mode unless the content type is a structured one (it wins over ce- headers).
          const media = type?.split(";")[0]?.trim().toLowerCase()
          const binary = withSpecversion && media !== STRUCTURED && media !== BATCH
          if (binary && answer.results !== undefined) expect(answer.results).toHaveLength(1)
        }
      ),
      options(150)
    )
  })

  it("batches longer than EVENTFLOW_MAX_BATCH_EVENTS: 413; up to it: 202 with a result each", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: MAX_BATCH + 40 }), fc.boolean(), async (n, asJson) => {
        const stamp = Math.random()
        const events = Array.from({ length: n }, (_, i) => validEvent(`batch-${stamp}-${i}`))
        const answer = check(
          await post(JSON.stringify(events), [auth, ["Content-Type", asJson ? "application/json" : BATCH]]),
          [202, 413],
          n > MAX_BATCH ? undefined : n
        )
        expect(answer.status ?? 202).toBe(n > MAX_BATCH ? 413 : 202)
        if (n <= MAX_BATCH) expect(answer.accepted).toBe(n)
      }),
      options(40)
    )
  })

  it("random and malformed Authorization headers: 401 with a challenge, never a 5xx", async () => {
    const authorization = fc.oneof(
      headerText(60),
      printable(40).map((s) => `Bearer ${s}`),
      printable(40).map((s) => `bearer    ${s}`),
      fc.uint8Array({ maxLength: 40 }).map((b) => `Basic ${Buffer.from(b).toString("base64")}`),
      printable(20).map((s) => `Basic ${s}`),
      fc.constantFrom(
        "Bearer",
        "Bearer ",
        "Basic",
        "Basic ",
        "Basic Og==",
        "Digest x",
        "",
        " ",
        `Bearer ${KEY}x`
      )
    )
    await fc.assert(
      fc.asyncProperty(fc.option(authorization, { nil: undefined }), async (value) => {
        const headers: Header[] = [["Content-Type", STRUCTURED]]
        if (value !== undefined) headers.push(["Authorization", value])
        const result = await post(JSON.stringify(validEvent("auth")), headers)
        check(result, [400, 401])
        if (result.response!.status === 401) {
          expect(result.response!.headers["www-authenticate"]).toContain("Bearer")
        }
      }),
      options(120)
    )
  })

  it("data checked against a route's JSON Schema, with any keys and values: 202, accepted or rejected", async () => {
    const key = fc.oneof(fc.string({ maxLength: 8 }), nasty(), fc.constant("amount"))
    await fc.assert(
      fc.asyncProperty(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), async (data) => {
        const event = { ...validEvent(`schema-${Math.random()}`), type: "fuzz.schema", data }
        const answer = check(
          await post(JSON.stringify(event), [auth, ["Content-Type", STRUCTURED]]),
          [202],
          1
        )
        expect(["accepted", "rejected"]).toContain(answer.results[0].status)
      }),
      options(100)
    )
  })

  // Found by this suite: a NUL in an attribute (here `ce-source: %00`) reached the embedded log's
  // text key, and a NUL in a property name reached the DLQ record's jsonb headers through the
  // schema's error; both failed the whole request with a 503.
  it("regression: NUL, other control characters and lone surrogates are rejected events, not 503s", async () => {
    const binary = await post("{}", [
      auth,
      ["Content-Type", "application/json"],
      ["ce-specversion", "1.0"],
      ["ce-id", "nul"],
      ["ce-source", "%00"],
      ["ce-type", "fuzz.binary"]
    ])
    expect(check(binary, [202], 1).results[0]).toMatchObject({ status: "rejected", id: "nul" })
    const events = [
      { ...validEvent("nul-1"), source: "/a\u0000" },
      { ...validEvent("\ud800"), subject: "x" },
      { ...validEvent("nul-3"), "a\u0000": 1 },
      { ...validEvent("nul-4"), traceparent: "\u0000" },
      { ...validEvent(`nul-5-${Math.random()}`), type: "fuzz.schema", data: { amount: 1, "\u0000": "x" } }
    ]
    const batch = check(
      await post(JSON.stringify(events), [auth, ["Content-Type", BATCH]]),
      [202],
      events.length
    )
    expect(batch.results.map((r: { status: string }) => r.status)).toEqual(events.map(() => "rejected"))
  })

  it("CORS is closed by default: a preflight is refused without Access-Control-Allow-*, a foreign POST gets none", async () => {
    const preflight = await exchange(port, {
      method: "OPTIONS",
      headers: [
        ["Origin", "https://evil.example"],
        ["Access-Control-Request-Method", "POST"],
        ["Access-Control-Request-Headers", "authorization, content-type"]
      ]
    })
    check(preflight, [403])
    expect(Object.keys(preflight.response!.headers).filter((h) => h.startsWith("access-control-"))).toEqual(
      []
    )
    const foreign = await post(JSON.stringify(validEvent(`cors-${Math.random()}`)), [
      auth,
      ["Content-Type", STRUCTURED],
      ["Origin", "https://evil.example"]
    ])
    expect(check(foreign, [202]).accepted).toBe(1)
    expect(Object.keys(foreign.response!.headers).filter((h) => h.startsWith("access-control-"))).toEqual([])
  })

  it("is still alive and its resident memory grew by less than 256 MiB", async () => {
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const rssAfter = await rss()
    const mib = (n: number) => (n / 1024 / 1024).toFixed(1)
    console.info(`ingest fuzz: RSS ${mib(rssBefore)} MiB before, ${mib(rssAfter)} MiB after`)
    expect(rssAfter - rssBefore).toBeLessThan(256 * 1024 * 1024)
    expect(server.child.exitCode).toBeNull()
  })
})
