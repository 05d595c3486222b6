import { defineConfig } from "vite"
import solid from "vite-plugin-solid"

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {}

export default defineConfig({
  // Relative asset URLs: the same build works at `/` of `eventflow dev` and under any static host path.
  base: "./",
  plugins: [solid()],
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", sourcemap: false },
  // `npm run dev`: the API stays same-origin through this proxy (default: a local `eventflow dev`).
  server: {
    port: 5173,
    proxy: { "/v1": { target: env.EVENTFLOW_DEV_API ?? "http://localhost:8080", changeOrigin: true } }
  }
})
