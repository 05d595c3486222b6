/**
 * The fault-injection suite's pipeline: events per subject in hour windows (a grace as long, so
 * that no retried event is late). Its name comes from CHAOS_PIPELINE: each scenario has its own.
 */
import type { CloudEvent } from "@eventflow/core"
import { count, from, pipeline, Tumbling } from "@eventflow/stream"

export default pipeline(
  process.env.CHAOS_PIPELINE ?? "chaos-counts",
  from<CloudEvent>("events.default")
    .selectKey((event) => event.subject ?? "(none)")
    .window(Tumbling.ofSizeAndGrace("1 hour", "1 hour"))
    .aggregate({ events: count() })
)
