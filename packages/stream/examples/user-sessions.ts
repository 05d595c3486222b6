/** User sessions: events of one user less than 30 minutes apart. */
import type { CloudEvent } from "@eventflow/core"
import { count, from, pipeline, Session } from "../src/index.ts"

type Activity = CloudEvent & { readonly subject: string }

export default pipeline(
  "user-sessions",
  from<Activity>("events.default")
    .filter((event) => typeof event.subject === "string")
    .selectKey((event) => event.subject)
    .window(Session.ofGapAndGrace("30 minutes", "1 minute"))
    .aggregate({ events: count() })
)
