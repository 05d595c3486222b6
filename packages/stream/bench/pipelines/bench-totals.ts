/**
 * The benchmark's pipeline: count and sum of the amount per key in 1-minute tumbling event-time
 * windows (the Kafka Streams reference computes the same). Its name comes from
 * BENCH_PIPELINE_NAME so that each run has its own state.
 */
import type { CloudEvent } from "@eventflow/core"
import { count, from, pipeline, sum, Tumbling } from "../../src/index.ts"

type Sale = CloudEvent & { readonly data: { readonly key: string; readonly amount: number } }

export default pipeline(
  process.env.BENCH_PIPELINE_NAME ?? "bench-totals",
  from<Sale>("events.default")
    .selectKey((sale) => sale.data.key)
    .window(Tumbling.ofSizeAndGrace("1 minute", "10 seconds"))
    .aggregate({ sales: count(), amount: sum((sale) => sale.data.amount) })
)
