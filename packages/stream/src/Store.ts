/**
 * The stream engine's Postgres side (PostgreSQL, or PGlite in embedded mode; the same SQL):
 * positions (next offset, watermark, owner epoch per pipeline and partition), partial windows
 * (each partition's share of a window: its open state, and its closed windows until the read
 * model finalizes them), the read model's rows, and alerts. A checkpoint writes a partition's
 * changed windows, its next offset and the rows they change in ONE transaction (decision 005).
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { BackendUnavailable, type CloudEvent } from "@eventflow/core"
import { Data, Effect, Option } from "effect"
import { AlertEvaluator, type AlertRule, type AlertStates } from "./Alerts.ts"
import type { Pipeline } from "./Dsl.ts"
import { mergeRows, type PartialWindow } from "./Merge.ts"
import type { WindowRow, WindowSnapshot } from "./WindowProcessor.ts"

export interface TopicPartition {
  readonly topic: string
  readonly partition: number
}

export const partitionId = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`

/** Another instance took these partitions over: their state here is stale and must be dropped. */
export class Fenced extends Data.TaggedError("Fenced")<{
  readonly partitions: ReadonlyArray<TopicPartition>
  readonly message: string
}> {}

/** The pipeline's definition changed since its state was stored. */
export class PipelineChanged extends Data.TaggedError("PipelineChanged")<{ readonly message: string }> {}

const unavailable = (cause: SqlError) =>
  new BackendUnavailable({
    backend: "readmodel",
    message: `the read model is unavailable: ${cause.message}`,
    cause
  })

/**
 * A lost connection can surface as a defect (a SqlError thrown from inside the driver's transaction
 * handling) rather than a failure: both are the read model being unavailable, to retry.
 */
const sqlDefect = (defect: unknown) =>
  defect instanceof SqlError ? Option.some(Effect.fail(unavailable(defect))) : Option.none()

const migration = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Several instances may start at once: serialize their DDL.
  yield* sql`SELECT pg_advisory_xact_lock(7419000005)`
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_pipelines (
    name text PRIMARY KEY,
    fingerprint text NOT NULL,
    finalized_through bigint,
    created_at timestamptz NOT NULL DEFAULT now()
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_stream_positions (
    pipeline text NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    next_offset bigint NOT NULL DEFAULT 0,
    watermark bigint,
    epoch bigint NOT NULL DEFAULT 0,
    owner text,
    processed bigint NOT NULL DEFAULT 0,
    late bigint NOT NULL DEFAULT 0,
    poison bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, topic, partition)
  )`
  // Where a new owner starts reading to rebuild the set of recent event ids (duplicates in the log
  // are dropped against it), and how many such duplicates were dropped.
  yield* sql`ALTER TABLE eventflow_stream_positions
    ADD COLUMN IF NOT EXISTS dedup_from bigint,
    ADD COLUMN IF NOT EXISTS duplicates bigint NOT NULL DEFAULT 0`
  // Keyed by window first: a checkpoint looks up every partition's share of the windows it changed.
  // Fill factor below 100 leaves room for updates in place (HOT), which skip the index.
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_stream_partials (
    pipeline text NOT NULL,
    key text NOT NULL,
    window_start bigint NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    window_end bigint NOT NULL,
    closes_at bigint NOT NULL,
    state text NOT NULL,
    PRIMARY KEY (pipeline, key, window_start, topic, partition)
  ) WITH (fillfactor = 80)`
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_results (
    pipeline text NOT NULL,
    key text NOT NULL,
    window_start bigint NOT NULL,
    window_end bigint NOT NULL,
    closes_at bigint NOT NULL,
    final boolean NOT NULL DEFAULT false,
    "values" jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, key, window_start)
  ) WITH (fillfactor = 80)`
  // By window, then key: a time range's rows come out of the index in the order the API returns them.
  yield* sql`CREATE INDEX IF NOT EXISTS eventflow_results_by_window ON eventflow_results (pipeline, window_start, key)`
  yield* sql`DROP INDEX IF EXISTS eventflow_results_by_time`
  yield* sql`CREATE INDEX IF NOT EXISTS eventflow_results_open
    ON eventflow_results (pipeline, closes_at) WHERE NOT final`
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_alert_state (
    pipeline text NOT NULL,
    rule text NOT NULL,
    key text NOT NULL,
    state jsonb NOT NULL,
    PRIMARY KEY (pipeline, rule, key)
  )`
  yield* sql`CREATE TABLE IF NOT EXISTS eventflow_alerts (
    id text PRIMARY KEY,
    pipeline text NOT NULL,
    rule text NOT NULL,
    key text NOT NULL,
    status text NOT NULL,
    severity text NOT NULL,
    time timestamptz NOT NULL,
    event jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS eventflow_alerts_by_time ON eventflow_alerts (time DESC)`
  yield* sql`CREATE INDEX IF NOT EXISTS eventflow_alerts_by_creation ON eventflow_alerts (created_at)`
})

/** Creates the stream engine's tables when missing. */
export const migrateStream = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.withTransaction(migration)
}).pipe(Effect.mapError(unavailable))

/** What a pipeline's stored state depends on: its sources, key-independent window and aggregations. */
export const fingerprint = (pipeline: Pipeline): string => {
  const windowed = pipeline.table.windowed
  return JSON.stringify({
    topics: windowed.keyed.source.topics,
    window: windowed.window,
    aggregations: Object.entries(pipeline.table.aggregations).map(([name, a]) => [name, a.name])
  })
}

const json = (value: unknown): unknown => (typeof value === "string" ? JSON.parse(value) : value)
const num = (value: unknown): number => Number(value)
const big = (values: ReadonlyArray<number | bigint>) => values.map((v) => String(v))

/** Registers a pipeline; fails when its stored state was written by a different definition. */
export const registerPipeline = (pipeline: Pipeline) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const print = fingerprint(pipeline)
    yield* sql`INSERT INTO eventflow_pipelines (name, fingerprint) VALUES (${pipeline.name}, ${print})
               ON CONFLICT (name) DO NOTHING`.pipe(Effect.mapError(unavailable))
    const [row] = yield* sql<{ fingerprint: string }>`
      SELECT fingerprint FROM eventflow_pipelines WHERE name = ${pipeline.name}`.pipe(
      Effect.mapError(unavailable)
    )
    if (row !== undefined && row.fingerprint !== print) {
      return yield* new PipelineChanged({
        message: `pipeline '${pipeline.name}' changed its sources, window or aggregations since its state was stored; run 'eventflow replay ${pipeline.name}' to rebuild it`
      })
    }
  })

/** Deletes everything a pipeline stored (its read model, state, positions and alerts), to start over. */
export const resetPipeline = (pipeline: Pipeline) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const name = pipeline.name
    yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`DELETE FROM eventflow_results WHERE pipeline = ${name}`
        yield* sql`DELETE FROM eventflow_stream_partials WHERE pipeline = ${name}`
        yield* sql`DELETE FROM eventflow_stream_positions WHERE pipeline = ${name}`
        yield* sql`DELETE FROM eventflow_alert_state WHERE pipeline = ${name}`
        yield* sql`DELETE FROM eventflow_alerts WHERE pipeline = ${name}`
        // The pipeline stays known, with the current definition, and nothing final yet.
        yield* sql`INSERT INTO eventflow_pipelines (name, fingerprint) VALUES (${name}, ${fingerprint(pipeline)})
                   ON CONFLICT (name) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, finalized_through = NULL`
      })
    )
  }).pipe(Effect.mapError(unavailable))

export interface ClaimedPartition extends TopicPartition {
  readonly epoch: number
  readonly nextOffset: bigint
  /** The first record whose event id is still remembered (read again, ids only, on claim). */
  readonly dedupFrom: bigint
  /** The partition's stored watermark, raised to the pipeline's finalized time. */
  readonly watermark: number
  /** The windows still open at the stored watermark. */
  readonly windows: ReadonlyArray<Omit<WindowSnapshot, "closesAt">>
}

/**
 * Takes partitions over for this instance: bumps their epoch (fencing the previous owner's
 * checkpoints) and loads their stored offset, watermark and open windows.
 */
export const claimPartitions = (
  pipeline: Pipeline,
  partitions: ReadonlyArray<TopicPartition>,
  owner: string
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const name = pipeline.name
    const topics = partitions.map((p) => p.topic)
    const numbers = partitions.map((p) => p.partition)
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`INSERT INTO eventflow_stream_positions (pipeline, topic, partition)
          SELECT ${name}, t, p FROM unnest(${topics}::text[], ${numbers}::int[]) AS x(t, p)
          ON CONFLICT DO NOTHING`
        const positions = yield* sql<{
          topic: string
          partition: number
          next_offset: string
          dedup_from: string | null
          watermark: string | null
          epoch: string
        }>`UPDATE eventflow_stream_positions s SET epoch = s.epoch + 1, owner = ${owner}, updated_at = now()
          FROM unnest(${topics}::text[], ${numbers}::int[]) AS x(t, p)
          WHERE s.pipeline = ${name} AND s.topic = x.t AND s.partition = x.p
          RETURNING s.topic, s.partition, s.next_offset, s.dedup_from, s.watermark, s.epoch`
        const [meta] = yield* sql<{ finalized_through: string | null }>`
          SELECT finalized_through FROM eventflow_pipelines WHERE name = ${name}`
        const finalized =
          meta?.finalized_through == null ? Number.NEGATIVE_INFINITY : num(meta.finalized_through)
        const windows = yield* sql<{
          topic: string
          partition: number
          key: string
          window_start: string
          window_end: string
          state: string
        }>`SELECT w.topic, w.partition, w.key, w.window_start, w.window_end, w.state
          FROM eventflow_stream_partials w
          JOIN eventflow_stream_positions s
            ON s.pipeline = w.pipeline AND s.topic = w.topic AND s.partition = w.partition
          JOIN unnest(${topics}::text[], ${numbers}::int[]) AS x(t, p) ON w.topic = x.t AND w.partition = x.p
          WHERE w.pipeline = ${name} AND (s.watermark IS NULL OR w.closes_at > s.watermark)`
        return positions.map((row): ClaimedPartition => {
          const stored = row.watermark === null ? Number.NEGATIVE_INFINITY : num(row.watermark)
          return {
            topic: row.topic,
            partition: row.partition,
            epoch: num(row.epoch),
            nextOffset: BigInt(row.next_offset),
            dedupFrom:
              row.dedup_from === null || BigInt(row.dedup_from) > BigInt(row.next_offset)
                ? BigInt(row.next_offset)
                : BigInt(row.dedup_from),
            watermark: Math.max(stored, finalized),
            windows: windows
              .filter((w) => w.topic === row.topic && w.partition === row.partition)
              .map((w) => ({
                key: w.key,
                start: num(w.window_start),
                end: num(w.window_end),
                states: JSON.parse(w.state) as Record<string, unknown>
              }))
          }
        })
      })
    )
  }).pipe(
    Effect.catchTag("SqlError", (e) => Effect.fail(unavailable(e))),
    Effect.catchSomeDefect(sqlDefect)
  )

/** The partitions of these that this owner (by epoch) no longer holds: taken over, or reset by a replay. */
export const lostPartitions = (
  pipeline: Pipeline,
  held: ReadonlyArray<TopicPartition & { readonly epoch: number }>
) =>
  Effect.gen(function* () {
    if (held.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    const kept = yield* sql<{ topic: string; partition: number }>`
      SELECT s.topic, s.partition FROM eventflow_stream_positions s
      JOIN unnest(${held.map((h) => h.topic)}::text[], ${held.map((h) => h.partition)}::int[],
                  ${big(held.map((h) => h.epoch))}::bigint[]) AS x(t, p, e)
        ON s.topic = x.t AND s.partition = x.p AND s.epoch = x.e
      WHERE s.pipeline = ${pipeline.name}`
    const ids = new Set(kept.map(partitionId))
    return held
      .filter((h) => !ids.has(partitionId(h)))
      .map((h) => ({ topic: h.topic, partition: h.partition }))
  }).pipe(
    Effect.catchTag("SqlError", (e) => Effect.fail(unavailable(e))),
    Effect.catchSomeDefect(sqlDefect)
  )

export interface PartitionCheckpoint extends TopicPartition {
  readonly epoch: number
  readonly nextOffset: bigint
  /** The first record whose event id is still remembered. */
  readonly dedupFrom: bigint
  /** The partition's watermark; -Infinity until it has seen an event. */
  readonly watermark: number
  readonly processed: number
  /** Records dropped as a second copy of an event already counted. */
  readonly duplicates: number
  readonly late: number
  readonly poison: number
  readonly upserts: ReadonlyArray<WindowSnapshot>
  readonly deletes: ReadonlyArray<{ readonly key: string; readonly start: number }>
}

export interface CheckpointResult {
  /** The time up to which every window of the pipeline is final. */
  readonly finalizedThrough: number
  /** Rows that became final in this checkpoint, in window order (their values only when published or watched by alert rules). */
  readonly finalized: ReadonlyArray<WindowRow>
  readonly alerts: ReadonlyArray<CloudEvent>
  /** Read-model rows written (open and final). */
  readonly rowsWritten: number
}

export interface CheckpointOptions {
  readonly rules: ReadonlyArray<AlertRule>
  /**
   * Runs inside the transaction, before it commits, with what became final: publish to Kafka
   * here, so that a crash before the commit repeats the publication (with the same ids) rather
   * than losing it.
   */
  readonly publish: (result: CheckpointResult) => Effect.Effect<void, BackendUnavailable>
}

/** ONE transaction: fence, store the partitions' changes and offsets, update and finalize the read model. */
export const checkpoint = (
  pipeline: Pipeline,
  parts: ReadonlyArray<PartitionCheckpoint>,
  options: CheckpointOptions
): Effect.Effect<CheckpointResult, Fenced | BackendUnavailable, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const name = pipeline.name
    const spec = pipeline.table.windowed.window
    const body = Effect.gen(function* () {
      // Checkpoints of one pipeline take turns: each merges the partials of every partition.
      yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`eventflow.stream.${name}`}))`
      const updated = yield* sql<{ topic: string; partition: number }>`
        UPDATE eventflow_stream_positions s SET
          next_offset = x.o, watermark = x.w, dedup_from = x.f,
          processed = s.processed + x.n, late = s.late + x.l, poison = s.poison + x.b,
          duplicates = s.duplicates + x.d, updated_at = now()
        FROM unnest(${parts.map((p) => p.topic)}::text[], ${parts.map((p) => p.partition)}::int[],
                    ${big(parts.map((p) => p.epoch))}::bigint[], ${big(parts.map((p) => p.nextOffset))}::bigint[],
                    ${parts.map((p) => (Number.isFinite(p.watermark) ? String(p.watermark) : null))}::bigint[],
                    ${big(parts.map((p) => p.processed))}::bigint[], ${big(parts.map((p) => p.late))}::bigint[],
                    ${big(parts.map((p) => p.poison))}::bigint[], ${big(parts.map((p) => p.dedupFrom))}::bigint[],
                    ${big(parts.map((p) => p.duplicates))}::bigint[]) AS x(t, p, e, o, w, n, l, b, f, d)
        WHERE s.pipeline = ${name} AND s.topic = x.t AND s.partition = x.p AND s.epoch = x.e
        RETURNING s.topic, s.partition`
      if (updated.length < parts.length) {
        const kept = new Set(updated.map(partitionId))
        const lost = parts
          .filter((p) => !kept.has(partitionId(p)))
          .map((p) => ({ topic: p.topic, partition: p.partition }))
        return yield* new Fenced({
          partitions: lost,
          message: `partitions ${lost.map(partitionId).join(", ")} of pipeline '${name}' were taken over by another instance`
        })
      }
      const deletes = parts.flatMap((p) =>
        p.deletes.map((d) => ({ ...d, topic: p.topic, partition: p.partition }))
      )
      // Bulk rows travel as one JSON document each (json_to_recordset): far cheaper than arrays.
      if (deletes.length > 0) {
        yield* sql`DELETE FROM eventflow_stream_partials w
          USING json_to_recordset(${JSON.stringify(deletes.map((d) => ({ t: d.topic, p: d.partition, k: d.key, s: d.start })))}::json)
            AS x(t text, p int, k text, s bigint)
          WHERE w.pipeline = ${name} AND w.key = x.k AND w.window_start = x.s AND w.topic = x.t AND w.partition = x.p`
      }
      // One row per changed partial; its JSON document serves the upsert and the read-back below.
      const rows: Array<{ t: string; p: number; k: string; s: number; e: number; c: number; j: unknown }> = []
      for (const part of parts) {
        for (const u of part.upserts) {
          rows.push({
            t: part.topic,
            p: part.partition,
            k: u.key,
            s: u.start,
            e: u.end,
            c: u.closesAt,
            j: u.states
          })
        }
      }
      const rowsJson = JSON.stringify(rows)
      if (rows.length > 0) {
        // The states travel as JSON objects and are stored as their text.
        yield* sql`INSERT INTO eventflow_stream_partials
            (pipeline, key, window_start, topic, partition, window_end, closes_at, state)
          SELECT ${name}, k, s, t, p, e, c, j::text
          FROM json_to_recordset(${rowsJson}::json)
            AS x(t text, p int, k text, s bigint, e bigint, c bigint, j json)
          ON CONFLICT (pipeline, key, window_start, topic, partition)
          DO UPDATE SET window_end = EXCLUDED.window_end, closes_at = EXCLUDED.closes_at, state = EXCLUDED.state`
      }

      // The read model's rows of the windows that changed, merged over every partition.
      let rowsWritten = 0
      if (deletes.length > 0 || rows.length > 0) {
        const sessions = spec.kind === "session"
        const keys = [...new Set([...deletes.map((d) => d.key), ...rows.map((r) => r.k)])]
        let partials: PartialWindow[]
        if (sessions) {
          const stored = yield* sql<{ key: string; window_start: string; window_end: string; state: string }>`
            SELECT w.key, w.window_start, w.window_end, w.state FROM eventflow_stream_partials w
            JOIN json_to_recordset(${JSON.stringify(keys.map((k) => ({ k })))}::json) AS x(k text) ON w.key = x.k
            WHERE w.pipeline = ${name}`
          partials = stored.map((p) => ({
            key: p.key,
            start: num(p.window_start),
            end: num(p.window_end),
            states: JSON.parse(p.state) as Record<string, unknown>
          }))
        } else {
          // This checkpoint's own partials are at hand; only the other partitions' shares are read.
          const others = yield* sql<{ key: string; window_start: string; window_end: string; state: string }>`
            WITH x AS (SELECT * FROM json_to_recordset(${rowsJson}::json) AS x(k text, s bigint, t text, p int))
            SELECT w.key, w.window_start, w.window_end, w.state FROM eventflow_stream_partials w
            WHERE w.pipeline = ${name} AND (w.key, w.window_start) IN (SELECT k, s FROM x)
              AND (w.key, w.window_start, w.topic, w.partition) NOT IN (SELECT k, s, t, p FROM x)`
          partials = [
            ...rows.map((r) => ({ key: r.k, start: r.s, end: r.e, states: r.j as Record<string, unknown> })),
            ...others.map((p) => ({
              key: p.key,
              start: num(p.window_start),
              end: num(p.window_end),
              states: JSON.parse(p.state) as Record<string, unknown>
            }))
          ]
        }
        const merged = mergeRows(pipeline, partials)
        if (sessions) {
          // Sessions move: the key's open rows are replaced by the sessions its partials make now.
          yield* sql`DELETE FROM eventflow_results WHERE pipeline = ${name} AND key = ANY(${keys}::text[]) AND NOT final`
        }
        if (merged.length > 0) {
          const rows = merged.map((r) => ({
            k: r.key,
            s: r.windowStart,
            e: r.windowEnd,
            c: r.closesAt,
            v: r.values
          }))
          yield* sql`INSERT INTO eventflow_results (pipeline, key, window_start, window_end, closes_at, final, "values")
            SELECT ${name}, k, s, e, c, false, v
            FROM json_to_recordset(${JSON.stringify(rows)}::json) AS x(k text, s bigint, e bigint, c bigint, v jsonb)
            ON CONFLICT (pipeline, key, window_start) DO UPDATE SET
              window_end = EXCLUDED.window_end, closes_at = EXCLUDED.closes_at, "values" = EXCLUDED."values",
              updated_at = now()
            WHERE NOT eventflow_results.final`
        }
        rowsWritten = merged.length
      }

      // Final: what every partition's watermark has passed (partitions without events do not hold it back).
      const [low] = yield* sql<{ low: string | null; finalized: string | null }>`
        SELECT (SELECT min(watermark) FROM eventflow_stream_positions
                WHERE pipeline = ${name} AND watermark IS NOT NULL) AS low,
               (SELECT finalized_through FROM eventflow_pipelines WHERE name = ${name}) AS finalized`
      const previous = low?.finalized == null ? Number.NEGATIVE_INFINITY : num(low.finalized)
      const finalizedThrough = Math.max(previous, low?.low == null ? Number.NEGATIVE_INFINITY : num(low.low))
      let finalized: WindowRow[] = []
      if (finalizedThrough > previous) {
        yield* sql`UPDATE eventflow_pipelines SET finalized_through = ${String(finalizedThrough)} WHERE name = ${name}`
        // The values of final rows are needed only to publish them or to evaluate alert rules.
        const needValues = pipeline.sink !== undefined || options.rules.some((r) => r.pipeline === name)
        const rows = yield* sql<{ key: string; window_start: string; window_end: string; values?: unknown }>`
          UPDATE eventflow_results SET final = true, updated_at = now()
          WHERE pipeline = ${name} AND NOT final AND closes_at <= ${String(finalizedThrough)}
          RETURNING key, window_start, window_end${needValues ? sql`, "values"` : sql``}`
        finalized = rows
          .map((r) => ({
            key: r.key,
            windowStart: num(r.window_start),
            windowEnd: num(r.window_end),
            final: true,
            values: (needValues ? json(r.values) : {}) as Record<string, number | null>
          }))
          .sort((a, b) => a.windowStart - b.windowStart || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        if (finalized.length > 0) {
          // A final row's partials are history now.
          yield* sql`DELETE FROM eventflow_stream_partials w
            USING json_to_recordset(${JSON.stringify(finalized.map((r) => ({ k: r.key, s: r.windowStart, e: r.windowEnd })))}::json)
              AS x(k text, s bigint, e bigint)
            WHERE w.pipeline = ${name} AND w.key = x.k AND w.window_start >= x.s AND w.window_start <= x.e
              AND w.window_end <= x.e`
        }
      }

      const alerts = yield* evaluateAlerts(name, options.rules, finalized)
      const result: CheckpointResult = { finalizedThrough, finalized, alerts, rowsWritten }
      yield* options.publish(result)
      return result
    })
    return yield* sql.withTransaction(body)
  }).pipe(
    Effect.catchTag("SqlError", (e) => Effect.fail(unavailable(e))),
    Effect.catchSomeDefect(sqlDefect)
  )

/** Alert rules over the rows that became final; their state is stored with the checkpoint. */
const evaluateAlerts = (pipeline: string, rules: ReadonlyArray<AlertRule>, rows: ReadonlyArray<WindowRow>) =>
  Effect.gen(function* () {
    const mine = rules.filter((r) => r.pipeline === pipeline)
    if (mine.length === 0 || rows.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    const keys = [...new Set(rows.map((r) => r.key))]
    const stored = yield* sql<{ rule: string; key: string; state: unknown }>`
      SELECT rule, key, state FROM eventflow_alert_state
      WHERE pipeline = ${pipeline} AND key = ANY(${keys}::text[])`
    const states: AlertStates = new Map(
      stored.map((s) => [`${s.rule}\u0000${s.key}`, json(s.state) as never])
    )
    const evaluator = new AlertEvaluator(mine, undefined, states)
    const alerts = evaluator.evaluate(pipeline, rows)
    const touched = [...evaluator.states()]
    if (touched.length > 0) {
      yield* sql`INSERT INTO eventflow_alert_state (pipeline, rule, key, state)
        SELECT ${pipeline}, r, k, s::jsonb
        FROM unnest(${touched.map(([id]) => id.split("\u0000")[0]!)}::text[],
                    ${touched.map(([id]) => id.split("\u0000")[1]!)}::text[],
                    ${touched.map(([, s]) => JSON.stringify(s))}::text[]) AS x(r, k, s)
        ON CONFLICT (pipeline, rule, key) DO UPDATE SET state = EXCLUDED.state`
    }
    if (alerts.length > 0) {
      yield* sql`INSERT INTO eventflow_alerts (id, pipeline, rule, key, status, severity, time, event)
        SELECT i, ${pipeline}, r, k, st, sv, tm::timestamptz, ev::jsonb
        FROM unnest(${alerts.map((a) => a.id)}::text[], ${alerts.map((a) => (a.data as AlertData).rule)}::text[],
                    ${alerts.map((a) => (a.data as AlertData).key)}::text[],
                    ${alerts.map((a) => (a.type.endsWith("opened") ? "opened" : "resolved"))}::text[],
                    ${alerts.map((a) => (a.data as AlertData).severity)}::text[],
                    ${alerts.map((a) => a.time as string)}::text[], ${alerts.map((a) => JSON.stringify(a))}::text[])
          AS x(i, r, k, st, sv, tm, ev)
        ON CONFLICT (id) DO NOTHING`
    }
    return alerts
  })

interface AlertData {
  readonly rule: string
  readonly key: string
  readonly severity: string
}

export interface ResultQuery {
  readonly key?: string | undefined
  /** Windows that end after this instant (epoch ms). */
  readonly from?: number | undefined
  /** Windows that start before this instant (epoch ms). */
  readonly to?: number | undefined
  readonly limit?: number | undefined
}

/** The read model's rows of a pipeline, in window order then key order. */
export const queryResults = (pipeline: string, query: ResultQuery = {}) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const conditions = [sql`pipeline = ${pipeline}`]
    if (query.key !== undefined) conditions.push(sql`key = ${query.key}`)
    if (query.from !== undefined) conditions.push(sql`window_end > ${String(query.from)}`)
    if (query.to !== undefined) conditions.push(sql`window_start < ${String(query.to)}`)
    const rows = yield* sql<{
      key: string
      window_start: string
      window_end: string
      final: boolean
      values: unknown
    }>`SELECT key, window_start, window_end, final, "values" FROM eventflow_results
       WHERE ${sql.and(conditions)}
       ORDER BY window_start, key
       LIMIT ${query.limit ?? 10_000}`
    return rows.map(
      (r): WindowRow => ({
        key: r.key,
        windowStart: num(r.window_start),
        windowEnd: num(r.window_end),
        final: r.final,
        values: json(r.values) as Record<string, number | null>
      })
    )
  }).pipe(
    Effect.catchTag("SqlError", (e) => Effect.fail(unavailable(e))),
    Effect.catchSomeDefect(sqlDefect)
  )

export interface PipelineStatus {
  readonly pipeline: string
  readonly partitions: ReadonlyArray<
    TopicPartition & {
      readonly nextOffset: bigint
      readonly watermark: number | null
      readonly processed: number
      readonly late: number
      readonly poison: number
      /** Second copies of events already counted, dropped. */
      readonly duplicates: number
      readonly owner: string | null
    }
  >
  readonly finalizedThrough: number | null
}

/** Positions and counters of a pipeline's partitions. */
export const pipelineStatus = (pipeline: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{
      topic: string
      partition: number
      next_offset: string
      watermark: string | null
      processed: string
      late: string
      poison: string
      duplicates: string
      owner: string | null
    }>`SELECT topic, partition, next_offset, watermark, processed, late, poison, duplicates, owner
       FROM eventflow_stream_positions WHERE pipeline = ${pipeline} ORDER BY topic, partition`
    const [meta] = yield* sql<{ finalized_through: string | null }>`
      SELECT finalized_through FROM eventflow_pipelines WHERE name = ${pipeline}`
    return {
      pipeline,
      finalizedThrough: meta?.finalized_through == null ? null : num(meta.finalized_through),
      partitions: rows.map((r) => ({
        topic: r.topic,
        partition: r.partition,
        nextOffset: BigInt(r.next_offset),
        watermark: r.watermark === null ? null : num(r.watermark),
        processed: num(r.processed),
        late: num(r.late),
        poison: num(r.poison),
        duplicates: num(r.duplicates),
        owner: r.owner
      }))
    } satisfies PipelineStatus
  }).pipe(
    Effect.catchTag("SqlError", (e) => Effect.fail(unavailable(e))),
    Effect.catchSomeDefect(sqlDefect)
  )
