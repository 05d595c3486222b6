import { defineConfig } from "vitest/config"

/** `npm run test:chaos`: the fault-injection suite, one scenario at a time (it kills servers). */
export default defineConfig({
  test: {
    name: "chaos",
    include: ["packages/cli/test/chaos/*.chaos.ts"],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 240_000,
    reporters: ["default"]
  }
})
