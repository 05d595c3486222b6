/** The ingestion protocol with small in-memory fakes of the ports: its failure paths, exactly. */
import { it } from "@effect/vitest"
import {
  BackendUnavailable,
  type ClaimOutcome,
  DedupStore,
  type EventIdentity,
  EventLog,
  type LogRecord
} from "@eventflow/core"
import { Duration, Effect, Layer, Option } from "effect"
import { describe, expect } from "vitest"
import { Ingest, layerIngest, layerIngestSettings, layerRoutes } from "../src/index.ts"
import { cloudEvent, testSettings } from "./support.ts"

interface Fakes {
  readonly appended: LogRecord[][]
  readonly calls: string[]
  failAppend: boolean
  failClaim: boolean
  failCommit: boolean
  readonly done: Set<string>
}

const idOf = (i: EventIdentity) => `${i.source} ${i.id}`

const makeFakes = (): Fakes => ({
  appended: [],
  calls: [],
  failAppend: false,
  failClaim: false,
  failCommit: false,
  done: new Set()
})

const down = (backend: "eventlog" | "dedup") =>
  new BackendUnavailable({ backend, message: `${backend} is down` })

const layerFor = (fakes: Fakes, dedup = true) => {
  const log = Layer.succeed(
    EventLog,
    EventLog.of({
      ensureTopics: () => Effect.void,
      append: (records) =>
        Effect.suspend(() => {
          if (fakes.failAppend) return Effect.fail(down("eventlog"))
          fakes.appended.push([...records])
          return Effect.void
        }),
      ping: Effect.void
    })
  )
  const store = Layer.succeed(
    DedupStore,
    DedupStore.of({
      claim: (ids) =>
        Effect.suspend(() => {
          fakes.calls.push(`claim ${ids.map(idOf).join(",")}`)
          if (fakes.failClaim) return Effect.fail(down("dedup"))
          const outcomes = ids.map((i): ClaimOutcome => (fakes.done.has(idOf(i)) ? "duplicate" : "claimed"))
          return Effect.succeed({ token: "t1", outcomes })
        }),
      commit: (token, ids) =>
        Effect.suspend(() => {
          fakes.calls.push(`commit ${token} ${ids.map(idOf).join(",")}`)
          if (fakes.failCommit) return Effect.fail(down("dedup"))
          for (const i of ids) fakes.done.add(idOf(i))
          return Effect.void
        }),
      release: (token, ids) =>
        Effect.sync(() => {
          fakes.calls.push(`release ${token} ${ids.map(idOf).join(",")}`)
        }),
      ping: Effect.void
    })
  )
  return layerIngest.pipe(
    Layer.provide(
      Layer.mergeAll(
        log,
        store,
        layerRoutes(undefined, { topicPrefix: "", partitions: 3, replicationFactor: 1 }),
        layerIngestSettings({ ...testSettings({ dedup, retryAfter: Duration.seconds(1) }) })
      )
    )
  )
}

const ingest = (items: unknown[]) => Effect.flatMap(Ingest, (i) => i.ingest(items, Option.none()))

describe("Ingest protocol", () => {
  it.effect("claims, appends, then commits exactly the accepted events", () => {
    const fakes = makeFakes()
    return Effect.gen(function* () {
      const response = yield* ingest([cloudEvent("a"), { bad: 1 }, cloudEvent("b")])
      expect(response).toMatchObject({ accepted: 2, rejected: 1 })
      expect(fakes.calls).toEqual(["claim /shop a,/shop b", "commit t1 /shop a,/shop b"])
      // One append carries the events and the DLQ record of the rejected one.
      expect(fakes.appended.map((batch) => batch.map((r) => r.topic))).toEqual([
        ["events.default", "events.default", "events.dlq"]
      ])
    }).pipe(Effect.provide(layerFor(fakes)))
  })

  it.effect("when the append fails: releases its own claims and fails the request, accepting nothing", () => {
    const fakes = makeFakes()
    fakes.done.add("/shop old")
    return Effect.gen(function* () {
      fakes.failAppend = true
      const error = yield* Effect.flip(ingest([cloudEvent("a"), cloudEvent("old")]))
      expect(error._tag).toBe("IngestUnavailable")
      // Only the claimed event is released; the duplicate's done mark is not touched.
      expect(fakes.calls).toEqual(["claim /shop a,/shop old", "release t1 /shop a"])
      fakes.failAppend = false
      const retried = yield* ingest([cloudEvent("a")])
      expect(retried.results[0]?.status).toBe("accepted")
    }).pipe(Effect.provide(layerFor(fakes)))
  })

  it.effect("when the claim fails: nothing is appended, not even the DLQ records", () => {
    const fakes = makeFakes()
    return Effect.gen(function* () {
      fakes.failClaim = true
      const error = yield* Effect.flip(ingest([cloudEvent("a"), { bad: 1 }]))
      expect(error._tag).toBe("IngestUnavailable")
      expect(fakes.appended).toEqual([])
    }).pipe(Effect.provide(layerFor(fakes)))
  })

  it.effect("when the commit fails after the append: the events are accepted (they are stored)", () => {
    const fakes = makeFakes()
    return Effect.gen(function* () {
      fakes.failCommit = true
      const response = yield* ingest([cloudEvent("a")])
      expect(response.results[0]?.status).toBe("accepted")
      expect(fakes.appended).toHaveLength(1)
    }).pipe(Effect.provide(layerFor(fakes)))
  })

  it.effect("with dedup off: no claims, duplicates caught only within the batch", () => {
    const fakes = makeFakes()
    return Effect.gen(function* () {
      const response = yield* ingest([cloudEvent("a"), cloudEvent("a")])
      expect(response.results.map((r) => r.status)).toEqual(["accepted", "duplicate"])
      expect((yield* ingest([cloudEvent("a")])).results[0]?.status).toBe("accepted")
      expect(fakes.calls).toEqual([])
    }).pipe(Effect.provide(layerFor(fakes, false)))
  })

  it.effect("a batch of only rejected events appends only to the DLQ and claims nothing", () => {
    const fakes = makeFakes()
    return Effect.gen(function* () {
      const response = yield* ingest([{ specversion: "1.0" }])
      expect(response).toMatchObject({ accepted: 0, rejected: 1 })
      expect(fakes.calls).toEqual([])
      expect(fakes.appended.map((b) => b.map((r) => r.headers["eventflow-reason"]))).toEqual([["invalid"]])
    }).pipe(Effect.provide(layerFor(fakes)))
  })
})
