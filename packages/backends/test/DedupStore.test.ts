import { PgClient } from "@effect/sql-pg"
import { layerEmbeddedSql, layerRedisDedup, layerSqlDedup } from "@eventflow/backends"
import { describeWithServices, serviceUrls, tempDir } from "@eventflow/testing"
import { Duration, Layer, Redacted } from "effect"
import { describe } from "vitest"
import { dedupContract } from "./DedupContract.ts"

const windows = { pendingMillis: 300, doneMillis: 60_000 }

await describeWithServices(["redis"], "RedisDedupStore on the real Redis", () => {
  dedupContract(
    layerRedisDedup({
      ...windows,
      url: Redacted.make(serviceUrls.redis),
      keyPrefix: `eventflow-test:${Date.now()}:`,
      commandTimeout: Duration.seconds(2)
    })
  )
})

await describeWithServices(["postgres"], "SqlDedupStore on the real PostgreSQL", () => {
  dedupContract(
    layerSqlDedup(windows).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(serviceUrls.postgres) })))
  )
})

describe("SqlDedupStore on embedded PGlite", () => {
  dedupContract(layerSqlDedup(windows).pipe(Layer.provide(layerEmbeddedSql(tempDir("dedup"), "own"))))
})
