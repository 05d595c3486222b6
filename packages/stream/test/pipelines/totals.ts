/**
 * The pipeline of the crash and rebalance tests: count and sum per key in 1-minute tumbling
 * windows. Its name comes from TEST_PIPELINE_NAME so that each run has its own state.
 */
import type { CloudEvent } from "@eventflow/core"
import { count, from, pipeline, sum, Tumbling } from "../../src/index.ts"

type Sale = CloudEvent & { readonly data: { readonly key: string; readonly amount: number } }

export default pipeline(
  process.env.TEST_PIPELINE_NAME ?? "test-totals",
  from<Sale>("events.sales")
    .selectKey((sale) => sale.data.key)
    .window(Tumbling.ofSizeAndGrace("1 minute", "10 seconds"))
    .aggregate({ sales: count(), amount: sum((sale) => sale.data.amount) })
)
