import { Data } from "effect"

/** A backend (Kafka, Redis, Postgres, the embedded store) could not do its part; the caller may retry later. */
export class BackendUnavailable extends Data.TaggedError("BackendUnavailable")<{
  readonly backend: "eventlog" | "dedup" | "keys" | "readmodel" | "ratelimit"
  readonly message: string
  readonly cause?: unknown
}> {}
