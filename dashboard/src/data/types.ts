// The wire types of the query API (v1), as the contract states them.

export type WindowKind = "tumbling" | "hopping" | "session"

export interface PipelineWindow {
  readonly kind: WindowKind
  readonly sizeMs?: number
  readonly advanceMs?: number
  readonly gapMs?: number
  readonly graceMs: number
}

export interface Aggregate {
  readonly name: string
  readonly kind: string
}

export interface Pipeline {
  readonly name: string
  readonly sources: ReadonlyArray<string>
  readonly window: PipelineWindow
  readonly aggregates: ReadonlyArray<Aggregate>
  readonly latestWindowStart: string | null
  readonly keysInLatestWindow: number
  readonly watermark: string | null
  readonly finalizedThrough: string | null
  readonly processed: number
  readonly late: number
  readonly poison: number
  readonly lag: number | null
  readonly updatedAt: string | null
}

export interface ResultRow {
  readonly pipeline?: string
  readonly key: string
  readonly windowStart: string
  readonly windowEnd: string
  readonly final: boolean
  readonly values: Readonly<Record<string, number | null>>
}

export interface TopRow {
  readonly key: string
  /** A number per the contract; null is tolerated (an aggregate with no value in range). */
  readonly value: number | null
}

export interface TopResponse {
  readonly pipeline: string
  readonly field: string
  readonly from: string | null
  readonly to: string | null
  readonly rows: ReadonlyArray<TopRow>
}

export interface SeriesPoint {
  readonly windowStart: string
  /** A number per the contract; null is tolerated and drawn as a gap. */
  readonly value: number | null
}

export interface SeriesResponse {
  readonly pipeline: string
  readonly field: string
  readonly points: ReadonlyArray<SeriesPoint>
}

export type AlertStatus = "opened" | "resolved"
export type Severity = "info" | "warning" | "critical"

export interface Alert {
  readonly id: string
  readonly pipeline: string
  readonly rule: string
  readonly key: string
  readonly status: AlertStatus
  readonly severity: Severity
  readonly time: string
  readonly value: number | null
  readonly message: string
}

export interface StoredEvent {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly time: string
  readonly id: string
  readonly source: string
  readonly type: string
  readonly subject: string | null
  readonly data: unknown
}

export interface TopicPartition {
  readonly partition: number
  readonly startOffset: string
  readonly endOffset: string
}

export interface Topic {
  readonly name: string
  readonly partitions: ReadonlyArray<TopicPartition>
}

export interface GroupPartition {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly lag: number
}

export interface ConsumerGroup {
  readonly group: string
  readonly pipeline: string | null
  readonly lag: number
  readonly partitions: ReadonlyArray<GroupPartition>
}

export interface TopicsResponse {
  readonly topics: ReadonlyArray<Topic>
  readonly groups: ReadonlyArray<ConsumerGroup>
}

export interface HealthComponent {
  readonly name: string
  readonly kind: "backend" | "service"
  readonly ok: boolean
  readonly latencyMs: number
  readonly error?: string
  readonly detail?: string
}

export interface Health {
  readonly status: "ok" | "degraded" | "down"
  readonly checkedAt: string
  readonly components: ReadonlyArray<HealthComponent>
}

export interface Hello {
  readonly serverTime: string
  readonly intervalMs: number
}

export interface TickRow {
  readonly pipeline: string
  readonly key: string
  readonly windowStart: string
  readonly windowEnd: string
  readonly final: boolean
  readonly values: Readonly<Record<string, number | null>>
}

/** The figures of a tick the counters show. */
export interface TickCounters {
  readonly ingestRate: number
  readonly processedRate: number
  readonly ackP50Ms: number | null
  readonly ackP99Ms: number | null
  readonly lag: number
  readonly accepted: number
  readonly duplicates: number
  readonly rejected: number
  readonly processed: number
}

export interface Tick extends TickCounters {
  readonly time: string
  readonly newRows: number
  readonly rows: ReadonlyArray<TickRow>
  readonly alerts: ReadonlyArray<Alert>
  readonly events: ReadonlyArray<StoredEvent>
}
