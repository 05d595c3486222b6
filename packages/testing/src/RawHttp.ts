/**
 * HTTP/1.1 over a bare socket, for tests that send what a regular client would not: lying
 * Content-Length, broken chunks, header floods, garbage request lines, bytes trickled one by one.
 */
import { connect, type Socket } from "node:net"

export interface RawResponse {
  readonly status: number
  /** Lower-cased names; a repeated header's values joined with ", ". */
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
}

export interface RawResult {
  /** The first response, when one arrived whole. */
  readonly response?: RawResponse
  /** The server closed the connection (after answering, or without a word). */
  readonly closed: boolean
  /** Nothing conclusive within the time allowed. */
  readonly timedOut: boolean
  /** Everything received. */
  readonly received: Buffer
  readonly error?: string
}

export interface RawRequest {
  readonly method?: string
  readonly path?: string
  /** In order, as sent; a name may repeat. */
  readonly headers?: ReadonlyArray<readonly [string, string]>
  readonly body?: Uint8Array | string
  /** `auto` (default): the body's length; `none`: no Content-Length; `chunked`: Transfer-Encoding: chunked. */
  readonly framing?: "auto" | "none" | "chunked"
  /** Adds `Connection: close` unless the headers say otherwise (default true). */
  readonly close?: boolean
}

/** The bytes of a request; the `Host` header is added when absent. */
export const encodeRequest = (request: RawRequest): Buffer => {
  const body =
    request.body === undefined
      ? Buffer.alloc(0)
      : typeof request.body === "string"
        ? Buffer.from(request.body, "utf8")
        : Buffer.from(request.body)
  const headers = [...(request.headers ?? [])]
  const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name)
  if (!has("host")) headers.unshift(["Host", "127.0.0.1"])
  if ((request.close ?? true) && !has("connection")) headers.push(["Connection", "close"])
  const framing = request.framing ?? "auto"
  if (framing === "auto" && !has("content-length")) headers.push(["Content-Length", String(body.length)])
  if (framing === "chunked") headers.push(["Transfer-Encoding", "chunked"])
  const head = Buffer.from(
    `${request.method ?? "POST"} ${request.path ?? "/v1/events"} HTTP/1.1\r\n` +
      headers.map(([n, v]) => `${n}: ${v}\r\n`).join("") +
      "\r\n",
    "latin1"
  )
  if (framing !== "chunked") return Buffer.concat([head, body])
  const chunks: Buffer[] = [head]
  for (let i = 0; i < body.length; i += 16 * 1024) {
    const part = body.subarray(i, Math.min(body.length, i + 16 * 1024))
    chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n"))
  }
  chunks.push(Buffer.from("0\r\n\r\n"))
  return Buffer.concat(chunks)
}

const HEAD_END = Buffer.from("\r\n\r\n")

const decodeChunked = (data: Buffer): Buffer | undefined => {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const line = data.indexOf("\r\n", at)
    if (line === -1) return undefined
    const size = Number.parseInt(data.subarray(at, line).toString("latin1").split(";")[0]!, 16)
    if (Number.isNaN(size)) return undefined
    if (size === 0) return data.indexOf(HEAD_END, line) === -1 ? undefined : Buffer.concat(parts)
    if (data.length < line + 2 + size + 2) return undefined
    parts.push(data.subarray(line + 2, line + 2 + size))
    at = line + 2 + size + 2
  }
}

/** The first response in `data` when it is complete (`ended`: the connection closed after it). */
export const parseResponse = (data: Buffer, ended: boolean): RawResponse | undefined => {
  const end = data.indexOf(HEAD_END)
  if (end === -1) return undefined
  const lines = data.subarray(0, end).toString("latin1").split("\r\n")
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)
  if (status === null) return undefined
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":")
    if (colon === -1) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const rest = data.subarray(end + 4)
  let body: Buffer | undefined
  if (headers["transfer-encoding"]?.toLowerCase().includes("chunked")) body = decodeChunked(rest)
  else if (headers["content-length"] !== undefined) {
    const length = Number(headers["content-length"])
    body = rest.length >= length ? rest.subarray(0, length) : undefined
  } else body = ended || Number(status[1]) === 204 || Number(status[1]) === 304 ? rest : undefined
  return body === undefined ? undefined : { status: Number(status[1]), headers, body }
}

export interface ExchangeOptions {
  readonly timeoutMs?: number
  readonly host?: string
  /** Sends the request in pieces, this many ms apart (a slow client). */
  readonly pieces?: ReadonlyArray<Uint8Array>
  readonly pieceDelayMs?: number
}

/**
 * Sends `request` (bytes, or a request to encode) and waits for the first whole response, the
 * connection's close, or the timeout (default 10 s). Write errors (the server closed first) are
 * not failures: what the server answered before is still read.
 */
export const exchange = (
  port: number,
  request: RawRequest | Uint8Array | string,
  options: ExchangeOptions = {}
): Promise<RawResult> =>
  new Promise((resolve) => {
    const bytes =
      typeof request === "string"
        ? Buffer.from(request, "latin1")
        : request instanceof Uint8Array
          ? Buffer.from(request)
          : encodeRequest(request)
    const received: Buffer[] = []
    let error: string | undefined
    let finished = false
    const socket: Socket = connect(port, options.host ?? "127.0.0.1")
    const finish = (closed: boolean, timedOut: boolean) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      const all = Buffer.concat(received)
      const response = parseResponse(all, closed)
      socket.destroy()
      resolve({
        ...(response !== undefined ? { response } : {}),
        closed,
        timedOut,
        received: all,
        ...(error !== undefined ? { error } : {})
      })
    }
    const timer = setTimeout(() => finish(false, true), options.timeoutMs ?? 10_000)
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk)
      if (parseResponse(Buffer.concat(received), false) !== undefined) finish(false, false)
    })
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message
    })
    socket.on("close", () => finish(true, false))
    socket.on("connect", async () => {
      if (options.pieces === undefined) {
        socket.write(bytes)
        return
      }
      for (const piece of options.pieces) {
        if (finished || socket.destroyed) return
        socket.write(piece)
        await new Promise((r) => setTimeout(r, options.pieceDelayMs ?? 100))
      }
    })
  })

/** What is wrong with an answer that should be an RFC 9457 problem with `status`; empty when nothing. */
export const problemViolations = (response: RawResponse): string[] => {
  const wrong: string[] = []
  const type = response.headers["content-type"] ?? ""
  if (!type.startsWith("application/problem+json")) wrong.push(`content-type is '${type}'`)
  let body: unknown
  try {
    body = JSON.parse(response.body.toString("utf8"))
  } catch {
    return [...wrong, `the body is not JSON: ${response.body.toString("utf8").slice(0, 200)}`]
  }
  const p = body as Record<string, unknown>
  if (p === null || typeof p !== "object") return [...wrong, "the body is not an object"]
  for (const member of ["type", "title", "detail"]) {
    if (typeof p[member] !== "string" || p[member] === "") wrong.push(`'${member}' is not a string`)
  }
  if (p.status !== response.status) wrong.push(`'status' is ${String(p.status)}, not ${response.status}`)
  return wrong
}

/** One sample of a Prometheus text exposition (`name` with its labels, as printed), or undefined. */
export const metricSample = (text: string, name: string): number | undefined => {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `))
      return Number(
        line
          .slice(name.length + 1)
          .trim()
          .split(" ")[0]
      )
  }
  return undefined
}

/** A server's resident memory (bytes), from its `/metrics`. */
export const serverRss = async (port: number): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  return metricSample(text, "eventflow_process_resident_memory_bytes") ?? Number.NaN
}

/**
 * fast-check's parameters for a property: `numRuns` scaled by FUZZ_RUNS_SCALE, and FUZZ_SEED
 * (the seed a failure printed) to replay it.
 */
export const fuzzParameters = (numRuns: number) => ({
  numRuns: Math.ceil(numRuns * Number(process.env.FUZZ_RUNS_SCALE ?? 1)),
  ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {})
})
