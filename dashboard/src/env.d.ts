/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The query API's base URL, set at build time; "" or absent means the same origin. */
  readonly VITE_EVENTFLOW_API?: string
}

interface ImportMeta {
  readonly env: ImportMetaEnv
}
