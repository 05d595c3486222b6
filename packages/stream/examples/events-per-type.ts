/** Events per CloudEvent type, in 1-minute tumbling event-time windows. */
import { count, from, pipeline, Tumbling } from "../src/index.ts"

export default pipeline(
  "events-per-type",
  from(["events.default"])
    .selectKey((event) => event.type)
    .window(Tumbling.ofSizeAndGrace("1 minute", "10 seconds"))
    .aggregate({ events: count() })
    .to("analytics.aggregated")
)
