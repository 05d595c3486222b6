/**
 * Ingest statistics shared through Redis: each ingest instance writes its counters and a histogram
 * of every request latency since it started to one hash field (`<prefix>ingest`, field = instance
 * id) every second; the query service reads them all and takes differences, so no sample is lost or
 * counted twice whatever the phase of writer and reader. An instance silent for 5 s is gone.
 */
import { randomUUID } from "node:crypto"
import { IngestStats, LatencyHistogram } from "@eventflow/core"
import { Duration, Effect, Layer, Schedule } from "effect"
import type { Redis } from "ioredis"

export const STATS_STALE_MS = 5_000

export interface InstanceSample {
  readonly instance: string
  readonly at: number
  /** Increases by one per write. */
  readonly seq: number
  readonly accepted: number
  readonly duplicates: number
  readonly rejected: number
  readonly requests: number
  /** Every latency the instance recorded since it started. */
  readonly latency: LatencyHistogram
}

/** Publishes this process's IngestStats every `interval` for as long as the scope lives. */
export const publishIngestStats = (redis: Redis, prefix: string, interval = Duration.seconds(1)) =>
  Effect.gen(function* () {
    const stats = yield* IngestStats
    const instance = `${process.pid}-${randomUUID().slice(0, 8)}`
    const key = `${prefix}ingest`
    let seq = 0
    const publish = Effect.tryPromise(() => {
      const sample = stats.cumulative()
      seq++
      const value = JSON.stringify({
        at: Date.now(),
        seq,
        accepted: sample.accepted,
        duplicates: sample.duplicates,
        rejected: sample.rejected,
        requests: sample.requests,
        latency: sample.latency.toJSON()
      })
      return redis.multi().hset(key, instance, value).pexpire(key, 60_000).exec()
    }).pipe(Effect.ignore)
    yield* Effect.forkScoped(Effect.repeat(publish, Schedule.spaced(interval)))
    yield* Effect.addFinalizer(() => Effect.promise(() => redis.hdel(key, instance).catch(() => 0)))
  })

/** The samples of the instances that wrote within the last 5 s. */
export const readIngestStats = (redis: Redis, prefix: string) =>
  Effect.tryPromise(() => redis.hgetall(`${prefix}ingest`)).pipe(
    Effect.map((fields) => {
      const now = Date.now()
      const samples: InstanceSample[] = []
      for (const [instance, text] of Object.entries(fields)) {
        try {
          const value = JSON.parse(text) as Record<string, unknown>
          const at = Number(value.at)
          if (!(now - at <= STATS_STALE_MS)) continue
          samples.push({
            instance,
            at,
            seq: Number(value.seq),
            accepted: Number(value.accepted) || 0,
            duplicates: Number(value.duplicates) || 0,
            rejected: Number(value.rejected) || 0,
            requests: Number(value.requests) || 0,
            latency: LatencyHistogram.fromJSON(value.latency)
          })
        } catch {
          // A field that is not ours, or half written: skip it.
        }
      }
      return samples
    })
  )

export const layerPublishIngestStats = (redis: Redis, prefix: string) =>
  Layer.scopedDiscard(publishIngestStats(redis, prefix))
