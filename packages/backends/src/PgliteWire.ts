/**
 * Serves a PGlite database over the PostgreSQL wire protocol on a Unix socket, for any number of
 * clients. PGlite is one backend session, so clients take turns: a client's messages up to and
 * including its Sync (or simple Query) run as one unit under a lock, so the extended-protocol
 * messages of two clients never interleave (they share the unnamed statement and portal), and a
 * client inside a transaction keeps the lock until the transaction ends or the client goes away.
 */
import { createServer, type Server, type Socket } from "node:net"
import type { PGlite } from "@electric-sql/pglite"

const SSL_REQUEST = 80877103
const CANCEL_REQUEST = 80877102
const GSSENC_REQUEST = 80877104
const SYNC = 0x53 // 'S'
const QUERY = 0x51 // 'Q'
const TERMINATE = 0x58 // 'X'

/** A FIFO lock: `acquire` resolves with the function that releases it. */
class Lock {
  private tail: Promise<void> = Promise.resolve()
  acquire(): Promise<() => void> {
    let release!: () => void
    const next = new Promise<void>((resolve) => {
      release = resolve
    })
    const acquired = this.tail.then(() => release)
    this.tail = this.tail.then(() => next)
    return acquired
  }
}

export interface PgliteWireServer {
  readonly close: () => Promise<void>
}

export const servePgliteWire = async (db: PGlite, path: string): Promise<PgliteWireServer> => {
  const lock = new Lock()
  const sockets = new Set<Socket>()

  const handle = (socket: Socket) => {
    sockets.add(socket)
    let buffer: Buffer = Buffer.alloc(0)
    let started = false
    let pending: Uint8Array[] = []
    let heldRelease: (() => void) | undefined
    let chain: Promise<void> = Promise.resolve()

    const runUnit = (messages: Uint8Array[]) => {
      chain = chain.then(async () => {
        const release = heldRelease ?? (await lock.acquire())
        heldRelease = undefined
        try {
          for (const message of messages) {
            if (socket.destroyed) break
            await db.execProtocolRawStream(message, {
              onRawData: (data) => {
                if (data.length > 0 && socket.writable) socket.write(Buffer.from(data))
              }
            })
          }
        } catch (error) {
          socket.destroy(error as Error)
        } finally {
          if (db.isInTransaction() && !socket.destroyed) heldRelease = release
          else release()
        }
      })
    }

    const onClose = () => {
      sockets.delete(socket)
      chain = chain.then(async () => {
        if (heldRelease === undefined) return
        // The client went away inside its transaction: undo it before anyone else runs.
        try {
          await db.exec("ROLLBACK")
        } finally {
          heldRelease()
          heldRelease = undefined
        }
      })
    }

    socket.on("data", (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
      while (true) {
        if (!started) {
          if (buffer.length < 8) return
          const length = buffer.readInt32BE(0)
          if (buffer.length < length) return
          const code = buffer.readInt32BE(4)
          const message = buffer.subarray(0, length)
          buffer = buffer.subarray(length)
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
            socket.write("N")
            continue
          }
          if (code === CANCEL_REQUEST) {
            socket.end()
            return
          }
          started = true
          runUnit([new Uint8Array(message)])
          continue
        }
        if (buffer.length < 5) return
        const length = 1 + buffer.readInt32BE(1)
        if (buffer.length < length) return
        const type = buffer[0]!
        const message = new Uint8Array(buffer.subarray(0, length))
        buffer = buffer.subarray(length)
        if (type === TERMINATE) {
          socket.end()
          return
        }
        pending.push(message)
        if (type === SYNC || type === QUERY) {
          const unit = pending
          pending = []
          runUnit(unit)
        }
      }
    })
    socket.on("error", () => socket.destroy())
    socket.on("close", onClose)
  }

  const server: Server = createServer(handle)
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(path, () => {
      server.off("error", reject)
      resolve()
    })
  })
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
