/**
 * The real services the integration suites run against. A missing service makes a suite skip
 * with a loud warning; with EVENTFLOW_REQUIRE_SERVICES=1 (CI) it makes the suite fail instead.
 */
import { describe } from "vitest"
import { reachable } from "./Net.ts"

export type Service = "kafka" | "redis" | "postgres"

export const serviceUrls = {
  kafka: process.env.TEST_KAFKA_BROKERS ?? "127.0.0.1:9092",
  redis: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
  postgres: process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
} as const

const hostPort = (service: Service): [string, number] => {
  if (service === "kafka") {
    const [host, port] = serviceUrls.kafka.split(",")[0]!.split(":")
    return [host!, Number(port)]
  }
  const url = new URL(serviceUrls[service])
  return [url.hostname, Number(url.port || (service === "redis" ? 6379 : 5432))]
}

const cache = new Map<Service, Promise<boolean>>()
const available = (service: Service) => {
  let found = cache.get(service)
  if (found === undefined) {
    found = reachable(...hostPort(service))
    cache.set(service, found)
  }
  return found
}

export const requireServices = process.env.EVENTFLOW_REQUIRE_SERVICES === "1"

/**
 * `describe` when every service answers; otherwise a suite that skips loudly, or (under
 * EVENTFLOW_REQUIRE_SERVICES=1) fails with the list of what is missing.
 */
export const describeWithServices = async (
  needs: ReadonlyArray<Service>,
  name: string,
  body: () => void
): Promise<void> => {
  const missing: Service[] = []
  for (const service of needs) if (!(await available(service))) missing.push(service)
  if (missing.length === 0) {
    describe(name, body)
    return
  }
  const what = missing.map((s) => `${s} (${serviceUrls[s]})`).join(", ")
  if (requireServices) {
    describe(name, () => {
      throw new Error(
        `EVENTFLOW_REQUIRE_SERVICES=1 and these services do not answer: ${what}. Run npm run services:up.`
      )
    })
    return
  }
  console.warn(`\n!!! SKIPPING "${name}": ${what} not reachable. Run npm run services:up. !!!\n`)
  describe.skip(name, body)
}
