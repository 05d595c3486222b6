import { describe, expect, it } from "vitest"
import { effectiveRateLimit, gcra, type RateLimit } from "../src/RateLimit.ts"

// 10 events per second (T = 100 ms), 5 at once (tolerance 500 ms).
const limit: RateLimit = { rate: 10, burst: 5 }

/** Takes the requests in order, each at its time, carrying the stored TAT from one to the next. */
const run = (requests: ReadonlyArray<readonly [now: number, cost: number]>, rl: RateLimit = limit) => {
  let tat: number | undefined
  return requests.map(([now, cost]) => {
    const decision = gcra(tat, now, cost, rl)
    if (decision.allowed) tat = decision.tat
    return decision
  })
}

describe("gcra", () => {
  it("lets a fresh key send its whole burst at once, and counts down what remains", () => {
    expect(gcra(undefined, 1000, 1, limit)).toEqual({
      allowed: true,
      tat: 1100,
      retryAfterMs: 0,
      remaining: 4,
      resetMs: 100
    })
    expect(gcra(undefined, 1000, 5, limit)).toEqual({
      allowed: true,
      tat: 1500,
      retryAfterMs: 0,
      remaining: 0,
      resetMs: 500
    })
  })

  it("allows a request that lands exactly on the tolerance, and refuses one more event", () => {
    const [first, second, third] = run([
      [0, 3],
      [0, 2],
      [0, 1]
    ])
    expect(first).toMatchObject({ allowed: true, tat: 300, remaining: 2 })
    // new TAT − now = 500 = tolerance: allowed.
    expect(second).toMatchObject({ allowed: true, tat: 500, remaining: 0, resetMs: 500 })
    // new TAT − now = 600 > 500: refused; it would pass when one interval has passed.
    expect(third).toEqual({ allowed: false, tat: 500, retryAfterMs: 100, remaining: 0, resetMs: 500 })
  })

  it("says exactly when a refused request would pass, and it does pass then and not a millisecond before", () => {
    const [full, refused] = run([
      [0, 5],
      [20, 3]
    ])
    expect(full!.allowed).toBe(true)
    // TAT 500; at 20 the request of 3 would make it 800: 300 beyond the tolerance, less the 20 gone by.
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 280 })
    const at = 20 + refused!.retryAfterMs
    expect(gcra(full!.tat, at - 1, 3, limit).allowed).toBe(false)
    expect(gcra(full!.tat, at, 3, limit)).toMatchObject({ allowed: true, tat: 800, remaining: 0 })
  })

  it("a refused request stores nothing: the next one is judged as if it had not come", () => {
    const decisions = run([
      [0, 4],
      [0, 2],
      [0, 1]
    ])
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, true])
    expect(decisions[2]!.tat).toBe(500)
  })

  it("never lets through a request of more events than the burst, even after a long quiet", () => {
    const decision = gcra(undefined, 1_000_000, 6, limit)
    expect(decision.allowed).toBe(false)
    expect(decision.retryAfterMs).toBe(100)
    // Nothing stored: the whole burst is still there.
    expect(gcra(undefined, 1_000_000, 5, limit).allowed).toBe(true)
  })

  it("refills at the rate: one event per interval, up to the burst and no more", () => {
    const decisions = run([
      [0, 5],
      [50, 1],
      [100, 1],
      [150, 1],
      [350, 2],
      [10_000, 5],
      [10_000, 1]
    ])
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, true, false, true, true, false])
    // After a long quiet the bucket holds 5, not more.
    expect(decisions[5]).toMatchObject({ tat: 10_500, remaining: 0 })
    expect(decisions[6]!.retryAfterMs).toBe(100)
  })

  it("holds the sustained rate over time: no more than burst + rate × elapsed", () => {
    let tat: number | undefined
    let accepted = 0
    for (let now = 0; now <= 10_000; now += 7) {
      const decision = gcra(tat, now, 2, limit)
      if (decision.allowed) {
        tat = decision.tat
        accepted += 2
      }
    }
    expect(accepted).toBeLessThanOrEqual(5 + 10 * 10)
    expect(accepted).toBeGreaterThanOrEqual(10 * 10)
  })

  it("is exact with intervals that are not whole milliseconds", () => {
    // 3 per second: T = 333.33… ms; 10 single events fill a burst of 10 exactly.
    const third: RateLimit = { rate: 3, burst: 10 }
    const decisions = run(
      Array.from({ length: 11 }, () => [1_760_000_000_000, 1] as const),
      third
    )
    expect(decisions.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false])
    expect(decisions.map((d) => d.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0])
    // Times near 1.76e12 ms carry about a quarter of a microsecond of precision.
    expect(decisions[10]!.retryAfterMs).toBeCloseTo(1000 / 3, 2)
  })

  it("takes rates below one event per second", () => {
    const slow: RateLimit = { rate: 0.5, burst: 2 }
    const decisions = run(
      [
        [0, 2],
        [1999, 1],
        [2000, 1]
      ],
      slow
    )
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, true])
    expect(decisions[1]!.retryAfterMs).toBe(1)
  })
})

describe("effectiveRateLimit", () => {
  const defaults = { rate: 20, burst: undefined, minBurst: 1000 }

  it("follows the default when the key has none of its own", () => {
    expect(effectiveRateLimit({ rate: null, burst: null }, defaults)).toEqual({ rate: 20, burst: 1000 })
    expect(effectiveRateLimit({ rate: null, burst: null }, { ...defaults, rate: 5000 })).toEqual({
      rate: 5000,
      burst: 5000
    })
    expect(effectiveRateLimit({ rate: null, burst: null }, { ...defaults, burst: 50 })).toEqual({
      rate: 20,
      burst: 50
    })
    expect(effectiveRateLimit({ rate: null, burst: null }, { ...defaults, rate: 0 })).toBeUndefined()
  })

  it("uses the key's own rate and burst, and a rate of 0 means no limit even with a default", () => {
    expect(effectiveRateLimit({ rate: 2, burst: 10 }, defaults)).toEqual({ rate: 2, burst: 10 })
    expect(effectiveRateLimit({ rate: 2, burst: null }, defaults)).toEqual({ rate: 2, burst: 1000 })
    expect(effectiveRateLimit({ rate: 2, burst: null }, { ...defaults, burst: 40 })).toEqual({
      rate: 2,
      burst: 40
    })
    expect(effectiveRateLimit({ rate: 0, burst: 10 }, defaults)).toBeUndefined()
    expect(effectiveRateLimit({ rate: 7, burst: null }, { ...defaults, rate: 0 })).toEqual({
      rate: 7,
      burst: 1000
    })
  })
})
