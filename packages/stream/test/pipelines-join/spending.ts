/**
 * The pipeline of the Kafka join test: orders joined with a table of customers (entity state on a
 * compacted topic), weighted by the customer's tier. Its name comes from TEST_PIPELINE_NAME.
 */
import type { CloudEvent } from "@eventflow/core"
import { count, from, pipeline, sum, Tumbling, table } from "../../src/index.ts"

type Order = CloudEvent & { readonly subject: string; readonly data: { readonly amount: number } }

export default pipeline(
  process.env.TEST_PIPELINE_NAME ?? "test-spending",
  from<Order>("events.orders")
    .selectKey((order) => order.subject)
    .leftJoinTable(table<{ tier: string }>("entities.customers"), (order, customer) => ({
      amount: order.data.amount,
      weight: customer?.tier === "gold" ? 2 : 1
    }))
    .window(Tumbling.ofSizeAndGrace("1 minute", "10 seconds"))
    .aggregate({ orders: count(), weighted: sum((o) => o.amount * o.weight) })
)
