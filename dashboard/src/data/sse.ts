// A text/event-stream parser (WHATWG HTML "server-sent events", section 9.2.6), fed with decoded
// text chunks that may split anywhere: inside a line, between CR and LF, inside a field name.

export interface SseMessage {
  /** The `event:` field, "message" when absent. */
  readonly event: string
  /** The `data:` lines joined with "\n". */
  readonly data: string
  /** The last event id seen on the stream so far (it persists across messages, as in EventSource). */
  readonly id: string
}

export interface SseHandlers {
  readonly onMessage: (message: SseMessage) => void
  readonly onComment?: (text: string) => void
  readonly onRetry?: (ms: number) => void
}

export interface SseParser {
  /** Feeds the next chunk of decoded text. */
  push(chunk: string): void
  /** The stream ended: a message without its closing blank line is dropped, as the spec says. */
  end(): void
  /** The last event id seen, "" if none. */
  lastEventId(): string
}

export const createSseParser = (handlers: SseHandlers): SseParser => {
  let buffer = ""
  let started = false
  let skipLeadingLf = false
  let eventType = ""
  let data = ""
  let hasData = false
  let lastId = ""

  const dispatch = () => {
    const type = eventType === "" ? "message" : eventType
    eventType = ""
    if (!hasData) return
    const payload = data
    data = ""
    hasData = false
    handlers.onMessage({ event: type, data: payload, id: lastId })
  }

  const processLine = (line: string) => {
    if (line === "") return dispatch()
    if (line.startsWith(":")) {
      handlers.onComment?.(line.slice(1).replace(/^ /, ""))
      return
    }
    const colon = line.indexOf(":")
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? "" : line.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    switch (field) {
      case "event":
        eventType = value
        break
      case "data":
        data = hasData ? `${data}\n${value}` : value
        hasData = true
        break
      case "id":
        if (!value.includes("\u0000")) lastId = value
        break
      case "retry":
        if (/^\d+$/.test(value)) handlers.onRetry?.(Number(value))
        break
    }
  }

  return {
    push(chunk) {
      if (chunk === "") return
      let text = chunk
      if (!started) {
        started = true
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      }
      // A CR that ended the previous chunk already closed its line; an LF right after it belongs to it.
      if (skipLeadingLf) {
        skipLeadingLf = false
        if (text.startsWith("\n")) text = text.slice(1)
      }
      buffer += text
      let start = 0
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer.charCodeAt(i)
        if (c !== 10 && c !== 13) continue
        processLine(buffer.slice(start, i))
        if (c === 13) {
          if (i + 1 < buffer.length) {
            if (buffer.charCodeAt(i + 1) === 10) i++
          } else {
            skipLeadingLf = true
          }
        }
        start = i + 1
      }
      buffer = buffer.slice(start)
    },
    end() {
      buffer = ""
      data = ""
      hasData = false
      eventType = ""
    },
    lastEventId: () => lastId
  }
}
