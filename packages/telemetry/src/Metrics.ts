/**
 * Every metric EventFlow exports, in one place: Effect metrics in the global registry, served in
 * the Prometheus text format by `Prometheus.ts`. Names carry the `eventflow_` prefix and their
 * unit as a suffix (`_seconds`, `_bytes`); counters end in `_total`.
 *
 * Hot paths update metrics with `unsafeUpdate` on a metric whose labels are already bound
 * (`labelled` caches one per label values), so an update is a map lookup and an addition.
 */
import { Metric, MetricBoundaries, MetricLabel } from "effect"

type AnyMetric = Metric.Metric<any, any, any>

/** One metric per combination of label values, made once and reused. */
export const labelled = <M extends AnyMetric>(metric: M, ...keys: ReadonlyArray<string>) => {
  const cache = new Map<string, M>()
  return (...values: ReadonlyArray<string | number>): M => {
    const id = values.join("\u0000")
    let bound = cache.get(id)
    if (bound === undefined) {
      const labels = keys.map((key, i) => MetricLabel.make(key, String(values[i])))
      bound = Metric.taggedWithLabels(metric, labels) as M
      cache.set(id, bound)
    }
    return bound
  }
}

const counter = (name: string, description: string) =>
  Metric.counter(name, { description, incremental: true })

const histogram = (name: string, description: string, boundaries: ReadonlyArray<number>) =>
  Metric.histogram(name, MetricBoundaries.fromIterable(boundaries), description)

const gauge = (name: string, description: string) => Metric.gauge(name, { description })

/** Seconds: 0.5 ms to 30 s. */
const latencyBuckets = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
] as const
const countBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 50_000] as const

// HTTP, every service.
export const httpRequests = labelled(
  counter(
    "eventflow_http_requests_total",
    "HTTP requests answered, by route template, method and status code"
  ),
  "route",
  "method",
  "status"
)
export const httpDuration = labelled(
  histogram(
    "eventflow_http_request_duration_seconds",
    "Time from the request's arrival to its response head, by route template and method (an SSE stream counts until its head is sent)",
    latencyBuckets
  ),
  "route",
  "method"
)

// Ingest.
export type IngestResult = "accepted" | "duplicate" | "rejected" | "retry"
export const ingestEvents = labelled(
  counter(
    "eventflow_ingest_events_total",
    "Events answered by POST /v1/events, by result: accepted, duplicate, rejected, retry"
  ),
  "result"
)
export const ingestDlq = labelled(
  counter(
    "eventflow_ingest_dlq_records_total",
    "Rejected events written to the DLQ topic, by reason: invalid, schema, too-large"
  ),
  "reason"
)
export const ingestBatchEvents = histogram(
  "eventflow_ingest_batch_events",
  "Events per accepted POST /v1/events request",
  countBuckets
)
export const ingestAckDuration = histogram(
  "eventflow_ingest_ack_duration_seconds",
  "Time from a POST /v1/events request's arrival to its 202 answer (the events durably in the log)",
  latencyBuckets
)
export const ingestProduceDuration = histogram(
  "eventflow_ingest_produce_duration_seconds",
  "Time to append a request's records to the event log, acknowledged by every in-sync replica",
  latencyBuckets
)
export const ingestProduceErrors = counter(
  "eventflow_ingest_produce_errors_total",
  "Appends to the event log that failed (the request is answered 503 and nothing of it is kept)"
)
export type DedupOutcome = "claimed" | "duplicate" | "in_flight"
export const ingestDedup = labelled(
  counter(
    "eventflow_ingest_dedup_total",
    "Dedup claims by outcome: claimed (new), duplicate (seen before), in_flight (another request holds it)"
  ),
  "outcome"
)
export const ingestDedupDuration = labelled(
  histogram(
    "eventflow_ingest_dedup_duration_seconds",
    "Time of a dedup store operation (Redis in distributed mode), by operation: claim, commit, release",
    latencyBuckets
  ),
  "operation"
)
export const ingestDedupErrors = labelled(
  counter("eventflow_ingest_dedup_errors_total", "Dedup store operations that failed, by operation"),
  "operation"
)
export const ingestRateLimited = counter(
  "eventflow_ingest_rate_limited_total",
  "POST /v1/events requests refused by their write key's rate limit (429; nothing of them accepted)"
)

// Stream engine.
export const streamRecords = labelled(
  counter(
    "eventflow_stream_records_total",
    "Records a pipeline processed and checkpointed (counted when the checkpoint commits)"
  ),
  "pipeline"
)
export const streamLag = labelled(
  gauge(
    "eventflow_stream_lag_records",
    "Records in a source partition after the pipeline's position, as of its last fetch"
  ),
  "pipeline",
  "topic",
  "partition"
)
export const streamCheckpointDuration = labelled(
  histogram(
    "eventflow_stream_checkpoint_duration_seconds",
    "Time to write a checkpoint (changed windows, read-model rows and offsets in one transaction)",
    latencyBuckets
  ),
  "pipeline"
)
export const streamCheckpointRows = labelled(
  histogram(
    "eventflow_stream_checkpoint_rows",
    "Read-model rows a checkpoint wrote (its size)",
    countBuckets
  ),
  "pipeline"
)
export type CheckpointOutcome = "committed" | "fenced" | "failed"
export const streamCheckpoints = labelled(
  counter(
    "eventflow_stream_checkpoints_total",
    "Checkpoints by outcome: committed, fenced (another instance owns a partition now), failed"
  ),
  "pipeline",
  "outcome"
)
export const streamWindowsEmitted = labelled(
  counter("eventflow_stream_windows_emitted_total", "Windows a pipeline finalized (their rows turned final)"),
  "pipeline"
)
export const streamLateEvents = labelled(
  counter(
    "eventflow_stream_late_events_total",
    "Events that came after their window closed (beyond the allowed lateness)"
  ),
  "pipeline"
)
export const streamDlq = labelled(
  counter(
    "eventflow_stream_dlq_records_total",
    "Records a pipeline set aside to the DLQ topic, by reason: late, poison"
  ),
  "pipeline",
  "reason"
)
export const streamDuplicates = labelled(
  counter(
    "eventflow_stream_duplicates_total",
    "Records a pipeline dropped as a second copy in the log of an event it already counted (same source and id)"
  ),
  "pipeline"
)
export const streamAlerts = labelled(
  counter("eventflow_stream_alerts_total", "Alerts a pipeline's rules raised"),
  "pipeline"
)
export const streamRebalances = labelled(
  counter(
    "eventflow_stream_rebalances_total",
    "Times a pipeline's Kafka consumer joined its group with a new assignment"
  ),
  "pipeline"
)
export const streamAssignedPartitions = labelled(
  gauge("eventflow_stream_assigned_partitions", "Source partitions this instance holds for a pipeline"),
  "pipeline"
)

// Query.
export const querySseClients = gauge(
  "eventflow_query_sse_clients",
  "Clients connected to the live feed (GET /v1/live)"
)

// Process.
export const processEventLoopDelay = labelled(
  gauge(
    "eventflow_process_event_loop_delay_seconds",
    "Event-loop delay since the previous scrape, by quantile (0.5, 0.9, 0.99, 1 for the maximum)"
  ),
  "quantile"
)
export const processEventLoopUtilization = gauge(
  "eventflow_process_event_loop_utilization_ratio",
  "Share of time the event loop was busy since the previous scrape"
)
export const processHeapUsed = gauge("eventflow_process_heap_used_bytes", "V8 heap in use")
export const processHeapTotal = gauge("eventflow_process_heap_total_bytes", "V8 heap allocated")
export const processHeapLimit = gauge("eventflow_process_heap_limit_bytes", "V8 heap size limit")
export const processExternal = gauge(
  "eventflow_process_external_memory_bytes",
  "Memory of buffers and other objects outside the V8 heap"
)
export const processResident = gauge("eventflow_process_resident_memory_bytes", "Resident set size")
export const processCpu = counter("eventflow_process_cpu_seconds_total", "CPU time used, user and system")
export const processStart = gauge(
  "eventflow_process_start_time_seconds",
  "When the process started, in seconds since the Unix epoch"
)
export const processGc = labelled(
  histogram(
    "eventflow_process_gc_duration_seconds",
    "Garbage collection pauses, by kind: minor, major, incremental, weakcb",
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
  ),
  "kind"
)
export const buildInfo = labelled(
  gauge("eventflow_build_info", "Always 1; the labels say which EventFlow and Node.js run"),
  "version",
  "node"
)

/**
 * Makes the series of a role exist from the start, at zero: a counter that first appears at its
 * first increment hides that increment from `rate()` and `increase()`.
 */
export const registerIngestMetrics = () => {
  for (const result of ["accepted", "duplicate", "rejected", "retry"]) ingestEvents(result).register()
  for (const reason of ["invalid", "schema", "too-large"]) ingestDlq(reason).register()
  for (const outcome of ["claimed", "duplicate", "in_flight"]) ingestDedup(outcome).register()
  for (const operation of ["claim", "commit", "release"]) {
    ingestDedupDuration(operation).register()
    ingestDedupErrors(operation).register()
  }
  ingestProduceErrors.register()
  ingestRateLimited.register()
  ingestBatchEvents.register()
  ingestAckDuration.register()
  ingestProduceDuration.register()
}

/** The same for a pipeline's series. */
export const registerPipelineMetrics = (pipeline: string) => {
  streamRecords(pipeline).register()
  for (const outcome of ["committed", "fenced", "failed"]) streamCheckpoints(pipeline, outcome).register()
  streamCheckpointDuration(pipeline).register()
  streamCheckpointRows(pipeline).register()
  streamWindowsEmitted(pipeline).register()
  streamLateEvents(pipeline).register()
  for (const reason of ["late", "poison"]) streamDlq(pipeline, reason).register()
  streamDuplicates(pipeline).register()
  streamAlerts(pipeline).register()
  streamRebalances(pipeline).register()
  streamAssignedPartitions(pipeline).register()
}
