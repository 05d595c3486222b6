import { render } from "solid-js/web"
import { App } from "./App.tsx"
import { createAuth } from "./data/auth.ts"
import { resolveApiBase, safeStorage, takeTokenFromFragment } from "./data/config.ts"
import "./styles.css"

const storage = safeStorage()
const baseUrl = resolveApiBase({
  buildDefault: import.meta.env.VITE_EVENTFLOW_API,
  search: window.location.search,
  storage
})
const auth = createAuth({ storage, fromFragment: takeTokenFromFragment(window.location, window.history) })

render(
  () => <App options={{ baseUrl, auth, fetch: (input, init) => fetch(input, init) }} />,
  document.getElementById("root")!
)
