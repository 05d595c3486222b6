import { createSignal } from "solid-js"
import { type KeyValueStore, TOKEN_KEY } from "./config.ts"

export interface Auth {
  /** The read token to send, if any. */
  readonly token: () => string | null
  /** A request answered 401: the token form should show. */
  readonly required: () => boolean
  /** The 401 came although a token was sent: that token was refused. */
  readonly rejected: () => boolean
  readonly unauthorized: () => void
  readonly setToken: (token: string | null) => void
}

export const createAuth = (options: {
  readonly storage: KeyValueStore | null
  /** A token handed over in the URL fragment; it replaces the stored one. */
  readonly fromFragment?: string | null
}): Auth => {
  if (options.fromFragment) options.storage?.setItem(TOKEN_KEY, options.fromFragment)
  const initial = options.fromFragment || options.storage?.getItem(TOKEN_KEY) || null
  const [token, setTokenSignal] = createSignal<string | null>(initial, { equals: false })
  const [required, setRequired] = createSignal(false)
  const [rejected, setRejected] = createSignal(false)
  return {
    token,
    required,
    rejected,
    unauthorized: () => {
      setRejected(token() !== null)
      setRequired(true)
    },
    setToken: (next) => {
      const value = next?.trim() || null
      if (value === null) options.storage?.removeItem(TOKEN_KEY)
      else options.storage?.setItem(TOKEN_KEY, value)
      setRequired(false)
      setRejected(false)
      setTokenSignal(value)
    }
  }
}
