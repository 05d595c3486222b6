import type { Alert, Health, Pipeline, StoredEvent, Tick, TopicsResponse } from "../src/data/types.ts"

export const T0 = Date.parse("2026-11-26T10:00:00.000Z")

export const iso = (ms: number) => new Date(ms).toISOString()

export const event = (
  offset: number,
  type = "order.created",
  over: Partial<StoredEvent> = {}
): StoredEvent => ({
  topic: "orders",
  partition: 0,
  offset: String(offset),
  time: iso(T0 + offset * 1000),
  id: `evt-${offset}`,
  source: "shop",
  type,
  subject: `order-${offset}`,
  data: { amount: offset },
  ...over
})

export const alert = (id: string, seconds: number, over: Partial<Alert> = {}): Alert => ({
  id,
  pipeline: "revenue",
  rule: "spike",
  key: "eu",
  status: "opened",
  severity: "warning",
  time: iso(T0 + seconds * 1000),
  value: 42,
  message: `alert ${id}`,
  ...over
})

export const tick = (second: number, over: Partial<Tick> = {}): Tick => ({
  time: iso(T0 + second * 1000),
  ingestRate: 100 + second,
  processedRate: 90 + second,
  ackP50Ms: 2.5,
  ackP99Ms: 11.25,
  lag: 7,
  accepted: 1000 + second,
  duplicates: 3,
  rejected: 1,
  processed: 900 + second,
  newRows: 0,
  rows: [],
  alerts: [],
  events: [],
  ...over
})

export const tickId = (second: number) => String(T0 + second * 1000)

export const health = (down: ReadonlyArray<string> = []): Health => ({
  status: down.length === 0 ? "ok" : "degraded",
  checkedAt: iso(T0),
  components: ["eventlog", "dedup", "readmodel", "ingest", "process", "query"].map((name) => ({
    name,
    kind: ["eventlog", "dedup", "readmodel"].includes(name) ? ("backend" as const) : ("service" as const),
    ok: !down.includes(name),
    latencyMs: 1.5,
    ...(down.includes(name) ? { error: `${name} connection refused` } : {})
  }))
})

export const pipeline = (name: string, over: Partial<Pipeline> = {}): Pipeline => ({
  name,
  sources: ["orders"],
  window: { kind: "tumbling", sizeMs: 60_000, graceMs: 5_000 },
  aggregates: [
    { name: "orders", kind: "count" },
    { name: "revenue", kind: "sum" }
  ],
  latestWindowStart: iso(T0),
  keysInLatestWindow: 3,
  watermark: iso(T0 - 5_000),
  finalizedThrough: iso(T0 - 60_000),
  processed: 1234,
  late: 2,
  poison: 0,
  lag: 5,
  updatedAt: iso(T0),
  ...over
})

export const topics: TopicsResponse = {
  topics: [{ name: "orders", partitions: [{ partition: 0, startOffset: "0", endOffset: "120" }] }],
  groups: [
    {
      group: "eventflow-revenue",
      pipeline: "revenue",
      lag: 5,
      partitions: [{ topic: "orders", partition: 0, offset: "115", lag: 5 }]
    }
  ]
}
