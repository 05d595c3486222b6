import { describe, expect, it } from "vitest"
import { dataOf, EventFactory, Kind } from "../src/Events.ts"

const make = (overrides: Partial<ConstructorParameters<typeof EventFactory>[0]> = {}) =>
  new EventFactory({
    runId: "r1",
    batch: 100,
    payloadBytes: 300,
    keys: 50,
    types: 7,
    duplicateRatio: 0,
    malformedRatio: 0,
    seed: 42,
    ...overrides
  })

const batches = (f: EventFactory, n: number) => Array.from({ length: n }, () => f.nextBatch())

describe("the event factory", () => {
  it("makes valid CloudEvents with the run's types, subjects and a data of exactly the payload size", () => {
    const f = make()
    const events = batches(f, 20).flatMap((b) => JSON.parse(b.body) as Array<Record<string, any>>)
    expect(events).toHaveLength(2000)
    expect(new Set(events.map((e) => e.id)).size).toBe(2000)
    expect(new Set(events.map((e) => e.type))).toEqual(
      new Set(Array.from({ length: 7 }, (_, n) => `loadtest.r1.t${n}`))
    )
    expect(new Set(events.map((e) => e.subject)).size).toBe(50)
    for (const e of events) {
      expect(e.specversion).toBe("1.0")
      expect(e.source).toBe("/loadtest/r1")
      expect(JSON.stringify(e.data).length).toBe(300)
    }
    expect(dataOf(123456, 0)).toBe('{"seq":123456,"pad":""}')
  })

  it("re-sends earlier ids as duplicates at the asked share, each the same event as before", () => {
    const f = make({ duplicateRatio: 0.2 })
    const all = batches(f, 200)
    const kinds = all.flatMap((b) => [...b.kinds])
    const share = kinds.filter((k) => k === Kind.duplicate).length / kinds.length
    expect(share).toBeGreaterThan(0.18)
    expect(share).toBeLessThan(0.22)
    const byId = new Map<string, string>()
    for (const b of all) {
      const events = JSON.parse(b.body) as Array<Record<string, any>>
      events.forEach((e, i) => {
        const seen = byId.get(e.id)
        if (b.kinds[i] === Kind.duplicate) expect(JSON.stringify(e)).toBe(seen)
        else expect(seen).toBeUndefined()
        byId.set(e.id, JSON.stringify(e))
        expect(e.id).toBe(`r1-${b.seqs[i]}`)
      })
    }
    expect(f.freshEvents).toBe(kinds.filter((k) => k === Kind.fresh).length)
  })

  it("makes malformed events at the asked share, none of them a valid CloudEvent of the run", () => {
    const f = make({ malformedRatio: 0.1, duplicateRatio: 0.1 })
    const all = batches(f, 200)
    const kinds = all.flatMap((b) => [...b.kinds])
    const malformed = kinds.filter((k) => k === Kind.malformed).length / kinds.length
    const duplicates = kinds.filter((k) => k === Kind.duplicate).length / kinds.length
    expect(malformed).toBeGreaterThan(0.085)
    expect(malformed).toBeLessThan(0.115)
    expect(duplicates).toBeGreaterThan(0.085)
    expect(duplicates).toBeLessThan(0.115)
    for (const b of all) {
      const events = JSON.parse(b.body) as Array<Record<string, any>>
      events.forEach((e, i) => {
        if (b.kinds[i] !== Kind.malformed) return
        expect(b.seqs[i]).toBe(-1)
        const valid =
          e.specversion === "1.0" &&
          typeof e.id === "string" &&
          typeof e.type === "string" &&
          e.type.startsWith("loadtest.r1.")
        expect(valid).toBe(false)
      })
    }
  })
})
