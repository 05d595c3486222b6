/**
 * Kafka's default partitioner: murmur2 of the key bytes, made positive, modulo the partition count.
 * The embedded log uses it so that a key lands on the partition number it would get in Kafka.
 */
const SEED = 0x9747b28c
const M = 0x5bd1e995

export const murmur2 = (data: Uint8Array): number => {
  const length = data.length
  let h = SEED ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const rest = length & 3
  if (rest === 3) h ^= data[whole + 2]! << 16
  if (rest >= 2) h ^= data[whole + 1]! << 8
  if (rest >= 1) {
    h ^= data[whole]!
    h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

export const partitionForKey = (key: string, partitions: number): number =>
  (murmur2(Buffer.from(key, "utf8")) & 0x7fffffff) % partitions
