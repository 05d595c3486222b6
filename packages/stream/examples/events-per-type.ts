/** Events per CloudEvent type, in 1-minute tumbling event-time windows, published when final. */
import { count, from, pipeline, Tumbling, thresholdRule } from "../src/index.ts"

const eventsPerType = pipeline(
  "events-per-type",
  from(["events.default"])
    .selectKey((event) => event.type)
    .window(Tumbling.ofSizeAndGrace("1 minute", "10 seconds"))
    .aggregate({ events: count() })
    .to("analytics.aggregated")
)

export default eventsPerType

/** Alert rules live next to their pipeline: a type seen more than 10,000 times in a minute. */
export const alerts = [thresholdRule("type-burst", eventsPerType, "events", { above: 10_000 }, "warning")]
