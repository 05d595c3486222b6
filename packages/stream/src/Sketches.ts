/**
 * Approximate aggregations: distinct counts with HyperLogLog, percentiles with DDSketch
 * (Datadog's mergeable quantile sketch, relative-error guarantee).
 */
import { DDSketch } from "@datadog/sketches-js"
import type { Aggregation } from "./Aggregations.ts"

/** MurmurHash3 (x86, 32-bit) of a string's UTF-16 code units: fast, and well spread for HyperLogLog. */
const murmur3 = (text: string): number => {
  let h = 0x9747b28c
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  const length = text.length
  let i = 0
  for (; i + 1 < length; i += 2) {
    let k = (text.charCodeAt(i) & 0xffff) | ((text.charCodeAt(i + 1) & 0xffff) << 16)
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  if (i < length) {
    let k = text.charCodeAt(i) & 0xffff
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    h ^= Math.imul(k, c2)
  }
  h ^= length
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** HyperLogLog registers: 2^precision of them; the standard error is 1.04 / sqrt(2^precision). */
export class HyperLogLog {
  readonly registers: Uint8Array

  constructor(readonly precision = 12) {
    if (!Number.isInteger(precision) || precision < 4 || precision > 16) {
      throw new RangeError("HyperLogLog precision must be an integer from 4 to 16")
    }
    this.registers = new Uint8Array(1 << precision)
  }

  add(value: string) {
    const hash = murmur3(value)
    const index = hash >>> (32 - this.precision)
    const rest = (hash << this.precision) | (1 << (this.precision - 1))
    const rank = Math.clz32(rest) + 1
    if (rank > this.registers[index]!) this.registers[index] = rank
  }

  merge(other: HyperLogLog) {
    if (other.precision !== this.precision)
      throw new RangeError("cannot merge HyperLogLogs of different precision")
    for (let i = 0; i < this.registers.length; i++) {
      if (other.registers[i]! > this.registers[i]!) this.registers[i] = other.registers[i]!
    }
  }

  estimate(): number {
    const m = this.registers.length
    let sum = 0
    let zeros = 0
    for (const register of this.registers) {
      sum += 2 ** -register
      if (register === 0) zeros++
    }
    const alpha = 0.7213 / (1 + 1.079 / m)
    const raw = (alpha * m * m) / sum
    // Small cardinalities: linear counting is more accurate while registers are still empty.
    return raw <= 2.5 * m && zeros > 0 ? m * Math.log(m / zeros) : raw
  }
}

/** Approximate count of distinct values (HyperLogLog, 4,096 registers: about 1.6 % standard error). */
export const distinct = <T>(
  selector: (element: T) => string,
  precision = 12
): Aggregation<T, HyperLogLog> => ({
  name: "distinct",
  init: () => new HyperLogLog(precision),
  extract: (element) => {
    const value = selector(element)
    if (typeof value !== "string")
      throw new TypeError(`the distinct selector returned ${typeof value}, not a string`)
    return value
  },
  add: (hll, value: string) => {
    hll.add(value)
    return hll
  },
  merge: (a, b) => {
    const merged = new HyperLogLog(precision)
    merged.merge(a)
    merged.merge(b)
    return merged
  },
  result: (hll) => Math.round(hll.estimate()),
  encode: (hll) => Buffer.from(hll.registers).toString("base64"),
  decode: (encoded) => {
    const hll = new HyperLogLog(precision)
    const registers = Buffer.from(String(encoded), "base64")
    if (registers.length !== hll.registers.length)
      throw new RangeError("a distinct state of another precision")
    hll.registers.set(registers)
    return hll
  }
})

/**
 * The value at a quantile (0.95 for p95): the value of rank q·(n−1), rounded down, within
 * `relativeAccuracy` of the exact one (DDSketch).
 */
export const percentile = <T>(
  quantile: number,
  selector: (element: T) => number,
  relativeAccuracy = 0.01
): Aggregation<T, DDSketch> => {
  if (!(quantile >= 0 && quantile <= 1))
    throw new RangeError("a percentile's quantile must be between 0 and 1")
  return {
    name: "percentile",
    init: () => new DDSketch({ relativeAccuracy }),
    extract: (element) => {
      const value = selector(element)
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new TypeError(`the percentile selector returned ${String(value)}, not a finite number`)
      }
      return value
    },
    add: (sketch, value: number) => {
      sketch.accept(value)
      return sketch
    },
    merge: (a, b) => {
      const merged = new DDSketch({ relativeAccuracy })
      merged.merge(a)
      merged.merge(b)
      return merged
    },
    result: (sketch) => (sketch.count === 0 ? null : sketch.getValueAtQuantile(quantile)),
    // DDSketch's protobuf form (min and max are not kept; quantiles are).
    encode: (sketch) => Buffer.from(sketch.toProto()).toString("base64"),
    decode: (encoded) => DDSketch.fromProto(Buffer.from(String(encoded), "base64"))
  }
}
