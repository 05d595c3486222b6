/** Distinct active users per hour (approximate: HyperLogLog). */
import type { CloudEvent } from "@eventflow/core"
import { distinct, from, pipeline, Tumbling } from "../src/index.ts"

type Activity = CloudEvent & { readonly subject: string }

export default pipeline(
  "active-users",
  from<Activity>("events.default")
    .filter((event) => typeof event.subject === "string")
    .selectKey(() => "all")
    .window(Tumbling.ofSizeAndGrace("1 hour", "1 minute"))
    .aggregate({ users: distinct((event) => event.subject) })
)
