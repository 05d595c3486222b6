import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // Integration suites share one Kafka broker, one Redis and one Postgres: run files one at a time
    // so that the broker's 2 cores are not fought over and timings stay sane. (A root-only option:
    // it applies to every project.)
    fileParallelism: false,
    reporters: ["default"],
    projects: [
      {
        test: {
          name: "packages",
          include: ["packages/*/test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000
        }
      },
      // The Pulumi program, under Pulumi's runtime mocks (no CLI, no cloud).
      {
        test: {
          name: "infra",
          include: ["infra/test/**/*.test.ts"],
          testTimeout: 60_000
        }
      },
      // The load generator: unit tests, and a smoke run against a real `eventflow dev`.
      {
        test: {
          name: "loadtest",
          include: ["loadtest/test/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000
        }
      },
      // The dashboard's component tests: Solid + jsdom, configured beside them.
      "dashboard/vitest.config.ts"
    ]
  }
})
