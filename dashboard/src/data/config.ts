// Where the API is and which read token to send: build-time default, runtime overrides.

export const API_KEY = "eventflow.api"
export const TOKEN_KEY = "eventflow.token"

/** The subset of `Storage` used here; `null` where storage is unavailable (private mode, tests). */
export type KeyValueStore = Pick<Storage, "getItem" | "setItem" | "removeItem">

export const safeStorage = (): KeyValueStore | null => {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null
  }
}

const trimSlash = (url: string) => url.trim().replace(/\/+$/, "")

/**
 * The API base URL: `?api=<url>` (remembered; `?api=` alone forgets it), else the remembered one,
 * else the build's `VITE_EVENTFLOW_API`, else "" (same origin).
 */
export const resolveApiBase = (options: {
  readonly buildDefault: string | undefined
  readonly search: string
  readonly storage: KeyValueStore | null
}): string => {
  const params = new URLSearchParams(options.search)
  const fromQuery = params.get("api")
  if (fromQuery !== null) {
    const base = trimSlash(fromQuery)
    if (base === "") options.storage?.removeItem(API_KEY)
    else options.storage?.setItem(API_KEY, base)
    if (base !== "") return base
  } else {
    const saved = options.storage?.getItem(API_KEY)
    if (saved) return trimSlash(saved)
  }
  return trimSlash(options.buildDefault ?? "")
}

/**
 * Takes `token=<t>` out of the URL fragment (so that it does not stay in the address bar or the
 * history) and returns it; other fragment parameters are kept.
 */
export const takeTokenFromFragment = (
  location: Pick<Location, "hash" | "pathname" | "search">,
  history: Pick<History, "replaceState"> | null
): string | null => {
  const hash = location.hash.replace(/^#/, "")
  if (hash === "") return null
  const params = new URLSearchParams(hash)
  const token = params.get("token")
  if (token === null) return null
  params.delete("token")
  const rest = params.toString()
  history?.replaceState(null, "", `${location.pathname}${location.search}${rest === "" ? "" : `#${rest}`}`)
  const trimmed = token.trim()
  return trimmed === "" ? null : trimmed
}
