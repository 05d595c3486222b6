import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration suites share one Kafka broker, one Redis and one Postgres: run files one at a time
    // so that the broker's 2 cores are not fought over and timings stay sane.
    fileParallelism: false,
    reporters: ["default"]
  }
})
