/** The read model's queries: what the query API answers from PostgreSQL (or the embedded PGlite). */
import { SqlClient, type SqlError } from "@effect/sql"
import { BackendUnavailable } from "@eventflow/core"
import { Effect } from "effect"

const unavailable = (cause: SqlError.SqlError) =>
  new BackendUnavailable({
    backend: "readmodel",
    message: `the read model is unavailable: ${cause.message}`,
    cause
  })

const num = (value: unknown): number => Number(value)
const json = (value: unknown): unknown => (typeof value === "string" ? JSON.parse(value) : value)
const iso = (ms: unknown): string | null =>
  ms === null || ms === undefined ? null : new Date(num(ms)).toISOString()
const isoTime = (value: unknown): string | null =>
  value === null || value === undefined ? null : new Date(value as string | Date).toISOString()

export interface WindowDescription {
  readonly kind: "tumbling" | "hopping" | "session"
  readonly sizeMs?: number
  readonly advanceMs?: number
  readonly gapMs?: number
  readonly graceMs: number
}

export interface PipelineDefinition {
  readonly name: string
  readonly sources: ReadonlyArray<string>
  readonly window: WindowDescription
  readonly aggregates: ReadonlyArray<{ readonly name: string; readonly kind: string }>
}

export interface PipelineSummary extends PipelineDefinition {
  readonly latestWindowStart: string | null
  readonly keysInLatestWindow: number
  readonly watermark: string | null
  readonly finalizedThrough: string | null
  readonly processed: number
  readonly late: number
  readonly poison: number
  readonly updatedAt: string | null
  readonly positions: ReadonlyArray<{
    readonly topic: string
    readonly partition: number
    readonly nextOffset: bigint
  }>
}

export interface ResultRow {
  readonly key: string
  readonly windowStart: string
  readonly windowEnd: string
  readonly final: boolean
  readonly values: Record<string, number | null>
}

export interface ChangedRow extends ResultRow {
  readonly pipeline: string
  readonly updatedAt: number
}

export interface AlertRow {
  readonly id: string
  readonly pipeline: string
  readonly rule: string
  readonly key: string
  readonly status: string
  readonly severity: string
  readonly time: string
  readonly field: string | null
  readonly value: number | null
  readonly message: string
  readonly windowStart: string | null
  readonly windowEnd: string | null
}

/** A pipeline as its stored fingerprint describes it (the definition that wrote its state). */
export const describeFingerprint = (name: string, fingerprint: string): PipelineDefinition => {
  const parsed = JSON.parse(fingerprint) as {
    topics?: ReadonlyArray<string>
    window?: WindowDescription
    aggregations?: ReadonlyArray<readonly [string, string]>
  }
  return {
    name,
    sources: parsed.topics ?? [],
    window: parsed.window ?? { kind: "tumbling", graceMs: 0 },
    aggregates: (parsed.aggregations ?? []).map(([aggregate, kind]) => ({ name: aggregate, kind }))
  }
}

const toRow = (r: {
  key: string
  window_start: string
  window_end: string
  final: boolean
  values: unknown
}): ResultRow => ({
  key: r.key,
  windowStart: iso(r.window_start) as string,
  windowEnd: iso(r.window_end) as string,
  final: r.final,
  values: json(r.values) as Record<string, number | null>
})

/** A row of eventflow_alerts as stored. */
interface StoredAlert {
  readonly id: string
  readonly pipeline: string
  readonly rule: string
  readonly key: string
  readonly status: string
  readonly severity: string
  readonly time: string | Date
  readonly event: unknown
}

const toAlert = (r: StoredAlert): AlertRow => {
  const data = ((json(r.event) as { data?: Record<string, unknown> } | null)?.data ?? {}) as Record<
    string,
    unknown
  >
  return {
    id: r.id,
    pipeline: r.pipeline,
    rule: r.rule,
    key: r.key,
    status: r.status,
    severity: r.severity,
    time: isoTime(r.time) as string,
    field: typeof data.value === "string" ? data.value : null,
    value: typeof data.observed === "number" ? data.observed : null,
    message: typeof data.reason === "string" ? data.reason : `${r.rule} ${r.status} for ${r.key}`,
    windowStart: typeof data.windowStart === "string" ? data.windowStart : null,
    windowEnd: typeof data.windowEnd === "string" ? data.windowEnd : null
  }
}

export const makeReadModel = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const definitions = sql<{ name: string; fingerprint: string }>`
    SELECT name, fingerprint FROM eventflow_pipelines ORDER BY name`.pipe(
    Effect.map((rows) => rows.map((r) => describeFingerprint(r.name, r.fingerprint)))
  )

  // Definitions change only when a pipeline is registered or replayed: remember them for 5 s, and
  // look an unknown name up at most once a second, so a request costs one query, not two.
  let known: { readonly at: number; readonly byName: ReadonlyMap<string, PipelineDefinition> } | undefined
  const refresh = Effect.map(definitions, (defs) => {
    known = { at: Date.now(), byName: new Map(defs.map((d) => [d.name, d])) }
    return known.byName
  })
  const definition = (name: string) =>
    Effect.suspend(() => {
      const age = known === undefined ? Number.POSITIVE_INFINITY : Date.now() - known.at
      const hit = known?.byName.get(name)
      if (hit !== undefined && age < 5_000) return Effect.succeed(hit)
      if (hit === undefined && age < 1_000) return Effect.succeed(undefined)
      return Effect.map(refresh, (byName) => byName.get(name))
    }).pipe(Effect.mapError(unavailable))

  /** Every pipeline's positions, grouped by pipeline. */
  const positionRows = sql<{
    pipeline: string
    topic: string
    partition: number
    next_offset: string
    watermark: string | null
    processed: string
    late: string
    poison: string
    updated_at: string | Date
  }>`SELECT pipeline, topic, partition, next_offset, watermark, processed, late, poison, updated_at
     FROM eventflow_stream_positions ORDER BY pipeline, topic, partition`.pipe(
    Effect.map((rows) => {
      const byPipeline = new Map<string, Array<(typeof rows)[number]>>()
      for (const row of rows) {
        const list = byPipeline.get(row.pipeline)
        if (list === undefined) byPipeline.set(row.pipeline, [row])
        else list.push(row)
      }
      return byPipeline
    })
  )
  const nextOffsets = (rows: ReadonlyArray<{ topic: string; partition: number; next_offset: string }>) =>
    rows.map((p) => ({ topic: p.topic, partition: p.partition, nextOffset: BigInt(p.next_offset) }))

  const pipelines = Effect.gen(function* () {
    // One query for the definitions, each one's latest window and the keys in it.
    const defs = yield* sql<{
      name: string
      fingerprint: string
      finalized_through: string | null
      latest: string | null
      keys: string | null
    }>`SELECT p.name, p.fingerprint, p.finalized_through, l.latest,
              (SELECT count(*) FROM eventflow_results r
               WHERE r.pipeline = p.name AND r.window_start = l.latest) AS keys
       FROM eventflow_pipelines p
       LEFT JOIN LATERAL (SELECT max(window_start) AS latest FROM eventflow_results r
                          WHERE r.pipeline = p.name) l ON true
       ORDER BY p.name`
    const positions = yield* positionRows
    return defs.map((d): PipelineSummary => {
      const mine = positions.get(d.name) ?? []
      const watermarks = mine.flatMap((p) => (p.watermark === null ? [] : [num(p.watermark)]))
      const updated = mine.map((p) => new Date(p.updated_at).getTime())
      return {
        ...describeFingerprint(d.name, d.fingerprint),
        latestWindowStart: iso(d.latest),
        keysInLatestWindow: num(d.keys ?? 0),
        watermark: watermarks.length > 0 ? iso(Math.min(...watermarks)) : null,
        finalizedThrough: iso(d.finalized_through),
        processed: mine.reduce((s, p) => s + num(p.processed), 0),
        late: mine.reduce((s, p) => s + num(p.late), 0),
        poison: mine.reduce((s, p) => s + num(p.poison), 0),
        updatedAt: updated.length > 0 ? new Date(Math.max(...updated)).toISOString() : null,
        positions: nextOffsets(mine)
      }
    })
  }).pipe(Effect.mapError(unavailable))

  const results = (
    pipeline: string,
    q: {
      readonly key: string | undefined
      readonly from: number | undefined
      readonly to: number | undefined
      readonly limit: number
      readonly order: "asc" | "desc"
      readonly window?: WindowDescription | undefined
    }
  ) => {
    const conditions = [sql`pipeline = ${pipeline}`]
    if (q.key !== undefined) conditions.push(sql`key = ${q.key}`)
    if (q.from !== undefined) {
      conditions.push(sql`window_end > ${String(q.from)}`)
      // A fixed window ends sizeMs after it starts: bound the start too, so the index range is tight.
      if (q.window !== undefined && q.window.kind !== "session" && q.window.sizeMs !== undefined)
        conditions.push(sql`window_start > ${String(q.from - q.window.sizeMs)}`)
    }
    if (q.to !== undefined) conditions.push(sql`window_start < ${String(q.to)}`)
    const order =
      q.order === "desc" ? sql`ORDER BY window_start DESC, key DESC` : sql`ORDER BY window_start, key`
    return sql<{ key: string; window_start: string; window_end: string; final: boolean; values: unknown }>`
      SELECT key, window_start, window_end, final, "values" FROM eventflow_results
      WHERE ${sql.and(conditions)} ${order} LIMIT ${q.limit}`.pipe(
      Effect.map((rows) => rows.map(toRow)),
      Effect.mapError(unavailable)
    )
  }

  /** The window range of a top or series query: [from, to) on window starts; the latest window by default. */
  const latestStart = (pipeline: string) =>
    sql<{ latest: string | null }>`
      SELECT max(window_start) AS latest FROM eventflow_results WHERE pipeline = ${pipeline}`.pipe(
      Effect.map((rows) => (rows[0]?.latest == null ? undefined : num(rows[0].latest)))
    )

  const top = (
    pipeline: string,
    q: {
      readonly field: string
      readonly from: number | undefined
      readonly to: number | undefined
      readonly limit: number
    }
  ) =>
    Effect.gen(function* () {
      let from = q.from
      let to = q.to
      if (from === undefined && to === undefined) {
        const latest = yield* latestStart(pipeline)
        if (latest === undefined) return { from: null, to: null, rows: [] }
        from = latest
        to = latest + 1
      }
      const conditions = [sql`pipeline = ${pipeline}`]
      if (from !== undefined) conditions.push(sql`window_start >= ${String(from)}`)
      if (to !== undefined) conditions.push(sql`window_start < ${String(to)}`)
      const rows = yield* sql<{ key: string; value: number | string | null }>`
        SELECT key, sum(("values"->>${q.field})::float8) AS value FROM eventflow_results
        WHERE ${sql.and(conditions)}
        GROUP BY key ORDER BY value DESC NULLS LAST, key LIMIT ${q.limit}`
      return {
        from: from === undefined ? null : iso(from),
        to: to === undefined ? null : iso(to),
        rows: rows.map((r) => ({ key: r.key, value: r.value === null ? null : num(r.value) }))
      }
    }).pipe(Effect.mapError(unavailable))

  const series = (
    pipeline: string,
    q: {
      readonly field: string
      readonly from: number | undefined
      readonly to: number | undefined
      readonly limit: number
    }
  ) => {
    const conditions = [sql`pipeline = ${pipeline}`]
    if (q.from !== undefined) conditions.push(sql`window_start >= ${String(q.from)}`)
    if (q.to !== undefined) conditions.push(sql`window_start < ${String(q.to)}`)
    return sql<{ window_start: string; value: number | string | null }>`
      SELECT window_start, sum(("values"->>${q.field})::float8) AS value FROM eventflow_results
      WHERE ${sql.and(conditions)}
      GROUP BY window_start ORDER BY window_start DESC LIMIT ${q.limit}`.pipe(
      Effect.map((rows) =>
        rows
          .map((r) => ({
            windowStart: iso(r.window_start) as string,
            value: r.value === null ? null : num(r.value)
          }))
          .reverse()
      ),
      Effect.mapError(unavailable)
    )
  }

  const alerts = (q: { readonly pipeline: string | undefined; readonly limit: number }) =>
    sql<StoredAlert>`SELECT id, pipeline, rule, key, status, severity, time, event FROM eventflow_alerts
       ${q.pipeline === undefined ? sql`` : sql`WHERE pipeline = ${q.pipeline}`}
       ORDER BY time DESC, created_at DESC, id LIMIT ${q.limit}`.pipe(
      Effect.map((rows) => rows.map(toAlert)),
      Effect.mapError(unavailable)
    )

  /**
   * Rows of open windows and alerts written after `since` (database time, epoch ms), newest first,
   * and the database's now. Open rows only: their partial index finds them without an index on
   * updated_at, which would cost every checkpoint its in-place (HOT) updates.
   */
  const changes = (since: number, limit: number) =>
    Effect.gen(function* () {
      const [now] = yield* sql<{
        now: string
      }>`SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint AS now`
      const rows = yield* sql<{
        pipeline: string
        key: string
        window_start: string
        window_end: string
        final: boolean
        values: unknown
        updated: string
      }>`SELECT pipeline, key, window_start, window_end, final, "values",
                (extract(epoch from updated_at) * 1000)::bigint AS updated
         FROM eventflow_results WHERE NOT final AND updated_at > to_timestamp(${since / 1000})
         ORDER BY updated_at DESC LIMIT ${limit}`
      const alertRows =
        yield* sql<StoredAlert>`SELECT id, pipeline, rule, key, status, severity, time, event FROM eventflow_alerts
         WHERE created_at > to_timestamp(${since / 1000}) ORDER BY created_at DESC LIMIT ${limit}`
      const processed = yield* sql<{
        n: string | null
      }>`SELECT sum(processed) AS n FROM eventflow_stream_positions`
      return {
        now: num(now?.now ?? Date.now()),
        rows: rows.map((r): ChangedRow => ({ pipeline: r.pipeline, updatedAt: num(r.updated), ...toRow(r) })),
        alerts: alertRows.map(toAlert),
        processed: num(processed[0]?.n ?? 0)
      }
    }).pipe(Effect.mapError(unavailable))

  /** Each pipeline's sources and positions: what lag is computed from. */
  const positions = Effect.gen(function* () {
    const defs = yield* definitions
    const rows = yield* positionRows
    return defs.map((def) => ({
      name: def.name,
      sources: def.sources,
      positions: nextOffsets(rows.get(def.name) ?? [])
    }))
  }).pipe(Effect.mapError(unavailable))

  const ping = sql`SELECT 1`.pipe(Effect.asVoid, Effect.mapError(unavailable))

  return { pipelines, positions, definition, results, top, series, alerts, changes, ping }
})

export type ReadModel = Effect.Effect.Success<typeof makeReadModel>
