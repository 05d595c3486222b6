/**
 * The client of the fault-injection suite: workers that post batches of new events and resend a
 * batch, with the same ids, until every event of it is acknowledged (`accepted`, or `duplicate`:
 * accepted before). Whatever happens to the servers: a refused connection, a timeout, a 503 or a
 * 429 (after its Retry-After), an event answered `retry`.
 */

export interface WorkloadOptions {
  /** The ingest instances, e.g. http://127.0.0.1:8080; requests go round-robin. */
  readonly endpoints: ReadonlyArray<string>
  readonly key: string
  /** Distinguishes the ids of this run. */
  readonly runId: string
  readonly workers: number
  readonly batchSize: number
  /** Pause between a worker's batches, ms. */
  readonly pauseMs: number
  /** Subjects the events are spread over: the pipeline's keys. */
  readonly subjects: number
  /** A request's timeout, ms (an answer that does not come is a failure: the batch is sent again). */
  readonly requestTimeoutMs?: number
}

export interface WorkloadStats {
  /** Events generated (each with its own id). */
  events: number
  /** Events acknowledged: `accepted` or `duplicate`. */
  acknowledged: number
  accepted: number
  /** Answers `duplicate` (an earlier attempt had been accepted). */
  duplicates: number
  /** Events answered `rejected`: never expected from this client. */
  rejected: number
  /** Resends, by cause. */
  resent: { network: number; status503: number; status429: number; retryStatus: number; other: number }
  /** 503 and 429 answers that came without Retry-After. */
  withoutRetryAfter: number
  /** Other statuses seen (a 5xx other than 503 is a failure of the server). */
  unexpected: Record<string, number>
  /** Every event id, with its subject, once acknowledged. */
  readonly acknowledgedIds: Map<string, string>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Sent {
  readonly id: string
  readonly subject: string
  readonly body: Record<string, unknown>
}

export class Workload {
  readonly stats: WorkloadStats = {
    events: 0,
    acknowledged: 0,
    accepted: 0,
    duplicates: 0,
    rejected: 0,
    resent: { network: 0, status503: 0, status429: 0, retryStatus: 0, other: 0 },
    withoutRetryAfter: 0,
    unexpected: {},
    acknowledgedIds: new Map()
  }
  private stopping = false
  private next = 0
  private workers: Promise<void>[] = []

  constructor(readonly options: WorkloadOptions) {}

  /** Starts the workers. */
  start(): void {
    this.workers = Array.from({ length: this.options.workers }, (_, w) => this.worker(w))
  }

  /** Stops making new batches and waits until every batch sent is acknowledged (or the deadline). */
  async drain(deadlineMs: number): Promise<void> {
    this.stopping = true
    const timeout = sleep(deadlineMs).then(() => {
      throw new Error(
        `the workload did not drain within ${deadlineMs} ms: ${this.stats.events - this.stats.acknowledged} events unacknowledged`
      )
    })
    await Promise.race([Promise.all(this.workers), timeout])
  }

  /** Events sent and not acknowledged yet. */
  get unacknowledged(): number {
    return this.stats.events - this.stats.acknowledged
  }

  private endpoint(): string {
    const endpoints = this.options.endpoints
    return endpoints[this.next++ % endpoints.length]!
  }

  private async worker(w: number): Promise<void> {
    let n = 0
    while (!this.stopping) {
      const batch: Sent[] = []
      for (let i = 0; i < this.options.batchSize; i++, n++) {
        const id = `${this.options.runId}-${w}-${n}`
        const subject = `s${(w * 7919 + n) % this.options.subjects}`
        batch.push({
          id,
          subject,
          body: {
            specversion: "1.0",
            id,
            source: "/chaos",
            type: "chaos.tick",
            subject,
            time: new Date().toISOString(),
            data: { worker: w, n }
          }
        })
      }
      this.stats.events += batch.length
      await this.deliver(batch)
      if (this.options.pauseMs > 0) await sleep(this.options.pauseMs)
    }
  }

  /** Sends the events until each is acknowledged. */
  private async deliver(events: ReadonlyArray<Sent>): Promise<void> {
    let pending = [...events]
    let attempt = 0
    while (pending.length > 0) {
      if (attempt > 0) await sleep(Math.min(50 * 2 ** Math.min(attempt, 5), 1_000))
      attempt++
      let response: Response
      let text: string
      try {
        response = await fetch(`${this.endpoint()}/v1/events`, {
          method: "POST",
          headers: {
            "content-type": "application/cloudevents-batch+json",
            authorization: `Bearer ${this.options.key}`
          },
          body: JSON.stringify(pending.map((e) => e.body)),
          signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 15_000)
        })
        text = await response.text()
      } catch {
        this.stats.resent.network++
        continue
      }
      if (response.status === 503 || response.status === 429) {
        if (response.status === 503) this.stats.resent.status503++
        else this.stats.resent.status429++
        const retryAfter = response.headers.get("retry-after")
        if (retryAfter === null) this.stats.withoutRetryAfter++
        // Honour Retry-After, up to 2 s (the servers come back sooner than a real client would wait).
        else await sleep(Math.min(Number(retryAfter) * 1000, 2_000))
        continue
      }
      if (response.status !== 202) {
        const label = String(response.status)
        this.stats.unexpected[label] = (this.stats.unexpected[label] ?? 0) + 1
        this.stats.resent.other++
        continue
      }
      const body = JSON.parse(text) as {
        results: Array<{ index: number; status: "accepted" | "duplicate" | "rejected" | "retry" }>
      }
      const again: Sent[] = []
      for (const result of body.results) {
        const event = pending[result.index]!
        if (result.status === "accepted" || result.status === "duplicate") {
          if (result.status === "accepted") this.stats.accepted++
          else this.stats.duplicates++
          if (!this.stats.acknowledgedIds.has(event.id)) {
            this.stats.acknowledgedIds.set(event.id, event.subject)
            this.stats.acknowledged++
          }
        } else if (result.status === "retry") {
          again.push(event)
        } else {
          this.stats.rejected++
          // A rejected event is never acknowledged: the check after the drain fails on it.
        }
      }
      if (again.length > 0) this.stats.resent.retryStatus++
      pending = again
    }
  }
}

/** What each subject should count: the acknowledged events per subject. */
export const expectedCounts = (stats: WorkloadStats): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const subject of stats.acknowledgedIds.values()) counts.set(subject, (counts.get(subject) ?? 0) + 1)
  return counts
}
