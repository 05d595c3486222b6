import { describe, expect, it } from "vitest"
import { createSseParser, type SseMessage } from "../src/data/sse.ts"

const parse = (chunks: ReadonlyArray<string>) => {
  const messages: SseMessage[] = []
  const comments: string[] = []
  const retries: number[] = []
  const parser = createSseParser({
    onMessage: (m) => messages.push(m),
    onComment: (c) => comments.push(c),
    onRetry: (ms) => retries.push(ms)
  })
  for (const chunk of chunks) parser.push(chunk)
  parser.end()
  return { messages, comments, retries, lastEventId: parser.lastEventId() }
}

/** Every way of cutting `text` in two, and the one-character-at-a-time cut. */
const splits = (text: string) => [
  ...Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]),
  [...text]
]

const stream = [
  "event: hello\n",
  'data: {"serverTime":"2026-11-26T10:00:00.000Z","intervalMs":1000}\n',
  "\n",
  ": keep-alive\n",
  "\n",
  "event: tick\n",
  "id: 1795770000000\n",
  'data: {"ingestRate":12,\n',
  'data: "lag":3}\n',
  "\n",
  "event: tick\n",
  "id: 1795770001000\n",
  'data: {"ingestRate":13}\n',
  "\n"
].join("")

const expected: SseMessage[] = [
  { event: "hello", data: '{"serverTime":"2026-11-26T10:00:00.000Z","intervalMs":1000}', id: "" },
  { event: "tick", data: '{"ingestRate":12,\n"lag":3}', id: "1795770000000" },
  { event: "tick", data: '{"ingestRate":13}', id: "1795770001000" }
]

describe("createSseParser", () => {
  it("parses events, ids, multi-line data and comments", () => {
    const result = parse([stream])
    expect(result.messages).toEqual(expected)
    expect(result.comments).toEqual(["keep-alive"])
    expect(result.lastEventId).toBe("1795770001000")
  })

  it("gives the same messages wherever the chunks are split", () => {
    for (const chunks of splits(stream)) expect(parse(chunks).messages).toEqual(expected)
  })

  it("accepts CRLF and lone CR line ends, even with CR and LF in different chunks", () => {
    const crlf = stream.replaceAll("\n", "\r\n")
    for (const chunks of splits(crlf)) expect(parse(chunks).messages).toEqual(expected)
    expect(parse([stream.replaceAll("\n", "\r")]).messages).toEqual(expected)
    // "\r" then "\n" in the next chunk is one line end, not a line end and an empty line
    expect(parse(["data: a\r", "\ndata: b\r\n\r\n"]).messages).toEqual([
      { event: "message", data: "a\nb", id: "" }
    ])
  })

  it("follows the field rules: one optional space, no colon, unknown fields, retry", () => {
    const { messages, retries } = parse([
      "data:no-space\ndata:  two spaces\ndata\nfoo: bar\nretry: 2500\nretry: soon\n\n"
    ])
    expect(messages).toEqual([{ event: "message", data: "no-space\n two spaces\n", id: "" }])
    expect(retries).toEqual([2500])
  })

  it("dispatches nothing for a block without data, but keeps its id and forgets its event type", () => {
    const { messages } = parse(["event: tick\nid: 7\n\ndata: x\n\n"])
    expect(messages).toEqual([{ event: "message", data: "x", id: "7" }])
  })

  it("drops a message that the stream cut before its blank line, and strips a leading BOM", () => {
    const { messages } = parse(["\uFEFFevent: tick\ndata: 1\n\nevent: tick\ndata: 2\n"])
    expect(messages).toEqual([{ event: "tick", data: "1", id: "" }])
  })
})
