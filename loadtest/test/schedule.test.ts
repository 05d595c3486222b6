import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runLoad } from "../src/Runner.ts"
import {
  eventsDueBy,
  intendedTimesMs,
  plannedRequests,
  rateAt,
  type ScheduleOptions
} from "../src/Schedule.ts"

const times = (o: ScheduleOptions) => [...intendedTimesMs(o)]
/** Requests due in each second [s, s+1). */
const perSecond = (o: ScheduleOptions) => {
  const counts = new Array(Math.ceil(o.durationS)).fill(0)
  for (const t of times(o)) counts[Math.floor(t / 1000)]++
  return counts
}

describe("the schedule", () => {
  it("constant: one request every batch/rate seconds from 0", () => {
    const o: ScheduleOptions = { rate: 2000, batch: 50, durationS: 10, profile: { kind: "constant" } }
    const t = times(o)
    expect(t).toHaveLength(400)
    expect(plannedRequests(o)).toBe(400)
    expect(t.slice(0, 4)).toEqual([0, 25, 50, 75])
    expect(t.at(-1)).toBeCloseTo(9975, 6)
    expect(perSecond(o).every((n) => n === 40)).toBe(true)
  })

  it("ramp: the rate grows linearly from `from` to `to`", () => {
    const o: ScheduleOptions = {
      rate: 0,
      batch: 10,
      durationS: 10,
      profile: { kind: "ramp", from: 100, to: 1100 }
    }
    expect(rateAt(o, 0)).toBe(100)
    expect(rateAt(o, 5)).toBe(600)
    expect(rateAt(o, 10)).toBe(1100)
    expect(eventsDueBy(o, 10)).toBeCloseTo(6000, 6)
    expect(times(o)).toHaveLength(600)
    // Second s carries (100 + 100 s + 50) events: 15, 25, … 105 requests of 10.
    expect(perSecond(o)).toEqual([15, 25, 35, 45, 55, 65, 75, 85, 95, 105])
    const t = times(o)
    for (let i = 1; i < t.length; i++) expect(t[i]!).toBeGreaterThan(t[i - 1]!)
  })

  it("spike: N× the base rate for S seconds from the offset", () => {
    const o: ScheduleOptions = {
      rate: 1000,
      batch: 50,
      durationS: 10,
      profile: { kind: "spike", multiplier: 5, seconds: 2, at: 4 }
    }
    expect(rateAt(o, 3.9)).toBe(1000)
    expect(rateAt(o, 4)).toBe(5000)
    expect(rateAt(o, 6)).toBe(1000)
    expect(plannedRequests(o)).toBe((8 * 1000 + 2 * 5000) / 50)
    expect(perSecond(o)).toEqual([20, 20, 20, 20, 100, 100, 20, 20, 20, 20])
  })
})

describe("latency from the due time", () => {
  // A server that answers 202 at once, except during a stall of `stallMs` from its first request.
  let server: Server
  let target: string
  const stallMs = 1000
  let firstAt = 0
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume()
      req.on("end", () => {
        const now = Date.now()
        if (firstAt === 0) firstAt = now
        const waitMs =
          now - firstAt >= 500 && now - firstAt < 500 + stallMs ? 500 + stallMs - (now - firstAt) : 0
        setTimeout(() => {
          res.writeHead(202, { "content-type": "application/json" })
          res.end(JSON.stringify({ accepted: 0, duplicate: 0, rejected: 0, retry: 0, results: [] }))
        }, waitMs)
      })
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it("keeps sending on schedule through a stall and charges the wait to every request due in it", async () => {
    const stats = await runLoad({
      target,
      key: "k",
      rate: 1000,
      batch: 10,
      durationS: 3,
      profile: { kind: "constant" },
      runId: "stall",
      payloadBytes: 10,
      keys: 10,
      types: 2,
      duplicateRatio: 0,
      malformedRatio: 0,
      maxInFlight: 1024,
      requestTimeoutS: 10
    })
    // 100 requests/s for 3 s, none dropped, none delayed by the stall (open model).
    expect(stats.requests.sent).toBe(300)
    expect(stats.requests.dropped).toBe(0)
    expect(stats.sendLag.p99Ms).toBeLessThan(50)
    // The requests due in the second of stall waited up to the whole second: a closed-loop
    // generator would have sent only one of them and reported one slow request.
    expect(stats.latency.maxMs).toBeGreaterThan(900)
    expect(stats.latency.p90Ms).toBeGreaterThan(300)
    // About a third of the requests were due during the stall and waited on average half of it.
    expect(stats.latency.meanMs).toBeGreaterThan(100)
    expect(stats.latency.p50Ms).toBeLessThan(600)
  })

  it("counts requests beyond the in-flight cap as dropped, not delayed", async () => {
    firstAt = 0
    const stats = await runLoad({
      target,
      key: "k",
      rate: 1000,
      batch: 10,
      durationS: 2,
      profile: { kind: "constant" },
      runId: "cap",
      payloadBytes: 10,
      keys: 10,
      types: 2,
      duplicateRatio: 0,
      malformedRatio: 0,
      maxInFlight: 5,
      requestTimeoutS: 10
    })
    expect(stats.requests.sent + stats.requests.dropped).toBe(200)
    expect(stats.requests.dropped).toBeGreaterThan(50)
    expect(stats.events.dropped).toBe(stats.requests.dropped * 10)
    expect(stats.timeline.reduce((s, b) => s + b.droppedEvents, 0)).toBe(stats.events.dropped)
  })
})
