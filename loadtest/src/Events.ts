/**
 * The events of a run. Event `seq` is always the same event (its id, type, subject and data follow
 * from the number), so a duplicate is simply an earlier number sent again. Each run has its own
 * types, `loadtest.<runId>.t<N>`, which the verification counts in the read model.
 */

export interface EventOptions {
  readonly runId: string
  readonly batch: number
  /** Bytes of each event's `data`, as JSON. */
  readonly payloadBytes: number
  /** Distinct subjects (the partition key). */
  readonly keys: number
  /** Distinct types. */
  readonly types: number
  /** Share of events that re-send an earlier event's id. */
  readonly duplicateRatio: number
  /** Share of events that are not valid CloudEvents. */
  readonly malformedRatio: number
  /** Seed of the random choices (the same seed makes the same run). */
  readonly seed?: number
}

/** What a slot of a batch holds. */
export const Kind = { fresh: 0, duplicate: 1, malformed: 2 } as const

export interface Batch {
  /** The request body: a JSON array of events. */
  readonly body: string
  /** Per slot: the event's number, or -1 for a malformed event. */
  readonly seqs: Int32Array
  /** Per slot: a `Kind`. */
  readonly kinds: Uint8Array
}

/** A small fast seeded generator (mulberry32), so that runs and tests are reproducible. */
export const random = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const typeName = (runId: string, n: number) => `loadtest.${runId}.t${n}`
export const typesOfRun = (runId: string, types: number) =>
  Array.from({ length: types }, (_, n) => typeName(runId, n))
export const sourceOf = (runId: string) => `/loadtest/${runId}`

/** `data` of event `seq`: `{"seq":…,"pad":"…"}`, padded to exactly `bytes` when it can be. */
export const dataOf = (seq: number, bytes: number): string => {
  const bare = 17 + String(seq).length // {"seq":N,"pad":""}
  return `{"seq":${seq},"pad":"${"x".repeat(Math.max(0, bytes - bare))}"}`
}

export class EventFactory {
  private nextSeq = 0
  private malformedCount = 0
  private readonly rand: () => number
  private readonly source: string
  private readonly typePrefix: string

  constructor(readonly options: EventOptions) {
    this.rand = random(options.seed ?? 1)
    this.source = sourceOf(options.runId)
    this.typePrefix = `loadtest.${options.runId}.t`
  }

  /** Fresh events made so far (the next fresh event's number). */
  get freshEvents() {
    return this.nextSeq
  }

  /** Event `seq` as JSON. */
  event(seq: number): string {
    const o = this.options
    const subject = Math.imul(seq + 1, 2654435761) >>> 0
    return (
      `{"specversion":"1.0","id":"${o.runId}-${seq}","source":"${this.source}",` +
      `"type":"${this.typePrefix}${seq % o.types}","subject":"k${subject % o.keys}",` +
      `"datacontenttype":"application/json","data":${dataOf(seq, o.payloadBytes)}}`
    )
  }

  /** An invalid event: one of four ways of not being a CloudEvent, in turn. */
  malformed(): string {
    const n = this.malformedCount++
    const id = `${this.options.runId}-bad-${n}`
    const data = dataOf(n, this.options.payloadBytes)
    switch (n % 4) {
      case 0: // no specversion
        return `{"id":"${id}","source":"${this.source}","type":"loadtest.bad","data":${data}}`
      case 1: // no id
        return `{"specversion":"1.0","source":"${this.source}","type":"loadtest.bad","data":${data}}`
      case 2: // type is not a string
        return `{"specversion":"1.0","id":"${id}","source":"${this.source}","type":42,"data":${data}}`
      default: // unsupported specversion
        return `{"specversion":"0.3","id":"${id}","source":"${this.source}","type":"loadtest.bad","data":${data}}`
    }
  }

  nextBatch(): Batch {
    const o = this.options
    const seqs = new Int32Array(o.batch)
    const kinds = new Uint8Array(o.batch)
    const parts: string[] = []
    for (let i = 0; i < o.batch; i++) {
      const r = this.rand()
      if (r < o.malformedRatio) {
        seqs[i] = -1
        kinds[i] = Kind.malformed
        parts.push(this.malformed())
      } else if (r < o.malformedRatio + o.duplicateRatio && this.nextSeq > 0) {
        const seq = Math.floor(this.rand() * this.nextSeq)
        seqs[i] = seq
        kinds[i] = Kind.duplicate
        parts.push(this.event(seq))
      } else {
        const seq = this.nextSeq++
        seqs[i] = seq
        kinds[i] = Kind.fresh
        parts.push(this.event(seq))
      }
    }
    return { body: `[${parts.join(",")}]`, seqs, kinds }
  }
}
