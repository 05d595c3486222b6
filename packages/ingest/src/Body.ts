/** Reads a request body with a size limit, refusing early (Content-Length) or as soon as it passes it. */
import type { IncomingMessage } from "node:http"
import { Data, Effect } from "effect"

export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{
  readonly limit: number
  readonly declared?: number
}> {}
export class BodyAborted extends Data.TaggedError("BodyAborted")<{ readonly message: string }> {}

export const readBody = (
  request: IncomingMessage,
  limit: number
): Effect.Effect<Buffer, BodyTooLarge | BodyAborted> =>
  Effect.async((resume) => {
    const declared = request.headers["content-length"]
    if (declared !== undefined) {
      const length = Number(declared)
      if (Number.isFinite(length) && length > limit) {
        return resume(Effect.fail(new BodyTooLarge({ limit, declared: length })))
      }
    }
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = () => {
      request.off("data", onData)
      request.off("end", onEnd)
      request.off("error", onError)
      request.off("aborted", onAborted)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        request.pause()
        return resume(Effect.fail(new BodyTooLarge({ limit })))
      }
      chunks.push(chunk)
    }
    const onEnd = () => {
      cleanup()
      resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)))
    }
    const onError = (error: Error) => {
      cleanup()
      resume(Effect.fail(new BodyAborted({ message: error.message })))
    }
    const onAborted = () => {
      cleanup()
      resume(Effect.fail(new BodyAborted({ message: "the client closed the connection" })))
    }
    request.on("data", onData)
    request.on("end", onEnd)
    request.on("error", onError)
    request.on("aborted", onAborted)
    return Effect.sync(cleanup)
  })
