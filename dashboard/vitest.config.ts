import solid from "vite-plugin-solid"
import { defineProject } from "vitest/config"

export default defineProject({
  plugins: [solid()],
  test: {
    name: "dashboard",
    include: ["test/**/*.test.{ts,tsx}"],
    environment: "jsdom",
    setupFiles: ["./test/setup.ts"],
    // Run from the repository root too, Solid must load as one browser build: transformed by Vite, not
    // left to Node's resolver (which would pick its server build).
    server: { deps: { inline: [/solid-js/, /@solidjs\/testing-library/] } }
  }
})
