/**
 * Suites that need a program of the machine (openssl, redis-server, PostgreSQL's initdb): a missing
 * one makes the suite skip loudly, or fail under EVENTFLOW_REQUIRE_SERVICES=1 (CI), as for services.
 */
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { describe } from "vitest"
import { requireServices } from "./Services.ts"

/** The full path of `program` on PATH, if it is there and executable. */
export const findProgram = (program: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue
    const path = join(dir, program)
    try {
      accessSync(path, constants.X_OK)
      return path
    } catch {}
  }
  return undefined
}

/**
 * `describe` when nothing is `missing` (a list of what is, each with how to get it); otherwise a
 * suite that skips loudly or, under EVENTFLOW_REQUIRE_SERVICES=1, fails saying what is missing.
 */
export const describeWithPrograms = (
  missing: ReadonlyArray<string>,
  name: string,
  body: () => void
): void => {
  if (missing.length === 0) {
    describe(name, body)
    return
  }
  const what = missing.join(", ")
  if (requireServices) {
    describe(name, () => {
      throw new Error(`EVENTFLOW_REQUIRE_SERVICES=1 and these programs are missing: ${what}`)
    })
    return
  }
  console.warn(`\n!!! SKIPPING "${name}": missing ${what}. !!!\n`)
  describe.skip(name, body)
}
