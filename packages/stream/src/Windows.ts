/**
 * Event-time windows. As in Kafka Streams, the grace period is in the constructor's name: a window
 * accepts late events until the watermark passes its end plus its grace, then it is final.
 */
import { Duration } from "effect"

export interface TimeWindow {
  /** Inclusive, epoch milliseconds. */
  readonly start: number
  /** Exclusive for tumbling and hopping windows; for a session, the time of its last event. */
  readonly end: number
}

export type WindowSpec =
  | { readonly kind: "tumbling"; readonly sizeMs: number; readonly graceMs: number }
  | {
      readonly kind: "hopping"
      readonly sizeMs: number
      readonly advanceMs: number
      readonly graceMs: number
    }
  | { readonly kind: "session"; readonly gapMs: number; readonly graceMs: number }

const millis = (input: Duration.DurationInput, what: string, allowZero: boolean): number => {
  const ms = Duration.toMillis(Duration.decode(input))
  if (!Number.isFinite(ms) || ms < 0 || (!allowZero && ms === 0)) {
    throw new RangeError(`${what} must be a ${allowZero ? "non-negative" : "positive"} finite duration`)
  }
  return ms
}

export const Tumbling = {
  ofSizeAndGrace: (size: Duration.DurationInput, grace: Duration.DurationInput): WindowSpec => ({
    kind: "tumbling",
    sizeMs: millis(size, "a window's size", false),
    graceMs: millis(grace, "a grace period", true)
  }),
  ofSizeWithNoGrace: (size: Duration.DurationInput): WindowSpec => Tumbling.ofSizeAndGrace(size, 0)
} as const

export const Hopping = {
  ofSizeAdvanceAndGrace: (
    size: Duration.DurationInput,
    advance: Duration.DurationInput,
    grace: Duration.DurationInput
  ): WindowSpec => {
    const sizeMs = millis(size, "a window's size", false)
    const advanceMs = millis(advance, "a window's advance", false)
    if (advanceMs > sizeMs) throw new RangeError("a hopping window's advance must not exceed its size")
    return { kind: "hopping", sizeMs, advanceMs, graceMs: millis(grace, "a grace period", true) }
  }
} as const

export const Session = {
  ofGapAndGrace: (gap: Duration.DurationInput, grace: Duration.DurationInput): WindowSpec => ({
    kind: "session",
    gapMs: millis(gap, "a session's gap", false),
    graceMs: millis(grace, "a grace period", true)
  }),
  ofGapWithNoGrace: (gap: Duration.DurationInput): WindowSpec => Session.ofGapAndGrace(gap, 0)
} as const

/** The fixed windows (tumbling or hopping) an event time falls in, oldest first. */
export const fixedWindowsFor = (spec: WindowSpec, time: number): TimeWindow[] => {
  if (spec.kind === "tumbling") {
    const start = Math.floor(time / spec.sizeMs) * spec.sizeMs
    return [{ start, end: start + spec.sizeMs }]
  }
  if (spec.kind === "hopping") {
    const windows: TimeWindow[] = []
    const last = Math.floor(time / spec.advanceMs) * spec.advanceMs
    for (let start = last; start > time - spec.sizeMs; start -= spec.advanceMs) {
      windows.unshift({ start, end: start + spec.sizeMs })
    }
    return windows
  }
  throw new Error("session windows are not fixed")
}

/** When a window stops taking events: the watermark must reach this time. */
export const closesAt = (spec: WindowSpec, window: TimeWindow): number =>
  spec.kind === "session" ? window.end + spec.gapMs + spec.graceMs : window.end + spec.graceMs
