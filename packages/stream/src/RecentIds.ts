/**
 * The identities (source and id) of the events a partition carried within a horizon of log time,
 * so that a second copy of an event in the log is dropped rather than counted twice.
 *
 * A second copy exists when ingestion could not tell whether Kafka stored a batch (a produce that
 * timed out, an ingest process killed after the append and before its dedup mark): the client's
 * retry is accepted and appended again. Such a copy follows the first within the time a client
 * takes to retry (at least the 30 s a pending dedup claim lives when ingest was killed), so a
 * horizon of minutes covers it. Both copies have the same partition key, hence the same partition.
 *
 * Entries are kept in log order and forgotten once their log timestamp is older than the newest
 * seen minus the horizon; `oldestOffset` is where a new owner of the partition starts reading
 * (ids only) to rebuild the set before it processes anything.
 */
export class RecentIds {
  private readonly ids = new Set<string>()
  private identities: string[] = []
  private offsets: number[] = []
  private times: number[] = []
  private head = 0
  private newest = Number.NEGATIVE_INFINITY

  /** `horizonMs` 0: remember nothing (every record counts). */
  constructor(readonly horizonMs: number) {}

  /** The identity of an event: its source and id, as the CloudEvents spec defines it. */
  static identity(source: unknown, id: string): string {
    return `${typeof source === "string" ? source : ""}\u0000${id}`
  }

  /** Remembers the identity; false when it was already remembered (a second copy). */
  remember(identity: string, offset: number, time: number): boolean {
    if (this.horizonMs <= 0) return true
    if (this.ids.has(identity)) return false
    this.ids.add(identity)
    this.identities.push(identity)
    this.offsets.push(offset)
    this.times.push(time)
    if (time > this.newest) this.newest = time
    return true
  }

  /** Forgets the identities older than the newest timestamp minus the horizon. */
  evict(): void {
    if (this.horizonMs <= 0) return
    const cutoff = this.newest - this.horizonMs
    const end = this.identities.length
    let head = this.head
    while (head < end && this.times[head]! < cutoff) {
      this.ids.delete(this.identities[head]!)
      head++
    }
    this.head = head
    // Compact once most of the arrays are forgotten entries.
    if (head > 4096 && head * 2 > end) {
      this.identities = this.identities.slice(head)
      this.offsets = this.offsets.slice(head)
      this.times = this.times.slice(head)
      this.head = 0
    }
  }

  /** The offset of the oldest identity remembered, or `otherwise` when there is none. */
  oldestOffset(otherwise: number): number {
    return this.head < this.offsets.length ? this.offsets[this.head]! : otherwise
  }

  get size(): number {
    return this.ids.size
  }
}
