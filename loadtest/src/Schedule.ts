/**
 * The open model's clock: the arrival rate over time (constant, ramp or spike) and the time each
 * request is due. A request is due when the events due so far reach its first event, whatever the
 * server does, so a slow answer never delays the next request (no coordinated omission).
 */

export type Profile =
  | { readonly kind: "constant" }
  /** From `from` to `to` events/s, linearly over the whole duration. */
  | { readonly kind: "ramp"; readonly from: number; readonly to: number }
  /** The base rate, times `multiplier` for `seconds` starting `at` seconds into the run. */
  | { readonly kind: "spike"; readonly multiplier: number; readonly seconds: number; readonly at: number }

export interface ScheduleOptions {
  /** Events per second (the base rate of a spike; unused by a ramp). */
  readonly rate: number
  /** Events per request. */
  readonly batch: number
  readonly durationS: number
  readonly profile: Profile
}

/** Events per second due at `t` seconds into the run. */
export const rateAt = (o: ScheduleOptions, t: number): number => {
  const p = o.profile
  switch (p.kind) {
    case "constant":
      return o.rate
    case "ramp":
      return p.from + ((p.to - p.from) * Math.min(Math.max(t, 0), o.durationS)) / o.durationS
    case "spike":
      return t >= p.at && t < p.at + p.seconds ? o.rate * p.multiplier : o.rate
  }
}

/** Events due in [0, t] seconds: the integral of the rate. */
export const eventsDueBy = (o: ScheduleOptions, t: number): number => {
  const p = o.profile
  const s = Math.min(Math.max(t, 0), o.durationS)
  switch (p.kind) {
    case "constant":
      return o.rate * s
    case "ramp":
      return p.from * s + ((p.to - p.from) * s * s) / (2 * o.durationS)
    case "spike": {
      const overlap = Math.max(0, Math.min(s, p.at + p.seconds) - Math.max(0, p.at))
      return o.rate * s + o.rate * (p.multiplier - 1) * overlap
    }
  }
}

/** How many requests the run sends: one per started batch of due events. */
export const plannedRequests = (o: ScheduleOptions): number => {
  const total = eventsDueBy(o, o.durationS) / o.batch
  // A float sum such as 59.99999999 means 60.
  return Math.ceil(total - 1e-9)
}

/**
 * The due time of every request, in milliseconds from the start: request i is due when
 * `eventsDueBy(t) / batch` reaches i (request 0 at the start). Found by bisection, which works for
 * every profile since the integral never decreases.
 */
export function* intendedTimesMs(o: ScheduleOptions): Generator<number> {
  const n = plannedRequests(o)
  let lo = 0
  for (let i = 0; i < n; i++) {
    const target = i * o.batch
    if (o.profile.kind === "constant") {
      yield (target / o.rate) * 1000
      continue
    }
    let a = lo
    let b = o.durationS
    for (let k = 0; k < 60 && b - a > 1e-9; k++) {
      const mid = (a + b) / 2
      if (eventsDueBy(o, mid) >= target) b = mid
      else a = mid
    }
    lo = b
    yield b * 1000
  }
}
