/** Order revenue per region per 5 minutes, with the average and p95 of the amount. */
import type { CloudEvent } from "@eventflow/core"
import { anomalyRule, avg, count, from, percentile, pipeline, sum, Tumbling } from "../src/index.ts"

type Order = CloudEvent & { readonly data: { readonly region: string; readonly amount: number } }

const orderRevenue = pipeline(
  "order-revenue",
  from<Order>("events.orders")
    .filter((order) => order.type === "com.shop.order.created")
    .selectKey((order) => order.data.region)
    .window(Tumbling.ofSizeAndGrace("5 minutes", "30 seconds"))
    .aggregate({
      orders: count(),
      revenue: sum((order) => order.data.amount),
      averageAmount: avg((order) => order.data.amount),
      p95Amount: percentile(0.95, (order) => order.data.amount)
    })
    .to("analytics.aggregated")
)

export default orderRevenue

/** A region's revenue more than 3 standard deviations from its recent mean (EWMA). */
export const alerts = [
  anomalyRule("revenue-anomaly", orderRevenue, "revenue", { alpha: 0.3, zScore: 3, warmup: 6 }, "critical")
]
