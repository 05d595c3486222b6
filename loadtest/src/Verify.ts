/**
 * The exactly-once check: the pipeline's window rows for the run's own types, summed, must equal
 * the distinct events the ingest API answered `accepted`. Polls the query API until the sum holds
 * still at the expected number, or the drain timeout passes.
 */

export interface VerifyOptions {
  /** The query API, e.g. http://127.0.0.1:8081 */
  readonly queryUrl: string
  readonly readToken?: string | undefined
  readonly pipeline: string
  /** The value summed, e.g. `events`. */
  readonly field: string
  /** The keys of the rows to sum: the run's types. */
  readonly keys: ReadonlyArray<string>
  /** Rows of windows ending after this time. */
  readonly from: Date
  readonly expected: number
  /** Events whose fate is unknown (no answer): the count may exceed `expected` by up to this. */
  readonly unknown: number
  readonly drainTimeoutS: number
  readonly pollMs?: number
  readonly onProgress?: (line: string) => void
}

export interface Verification {
  readonly pipeline: string
  readonly field: string
  readonly expected: number
  readonly counted: number
  /** counted − expected */
  readonly difference: number
  readonly unknown: number
  readonly pass: boolean
  /** Seconds from the end of the sending to the last poll. */
  readonly drainS: number
  readonly polls: number
  readonly error?: string
}

export class QueryError extends Error {}

const headersOf = (token: string | undefined) =>
  token ? { authorization: `Bearer ${token}`, accept: "application/json" } : { accept: "application/json" }

/** The sum of `field` over the pipeline's rows of one key since `from`. */
export const sumOfKey = async (o: VerifyOptions, key: string): Promise<number> => {
  const url = new URL(`/v1/pipelines/${encodeURIComponent(o.pipeline)}/results`, o.queryUrl)
  url.searchParams.set("key", key)
  url.searchParams.set("from", o.from.toISOString())
  url.searchParams.set("limit", "10000")
  const response = await fetch(url, { headers: headersOf(o.readToken), signal: AbortSignal.timeout(15_000) })
  if (response.status === 401)
    throw new QueryError(
      "The query API refused the request (401): pass a read token with --read-token or EVENTFLOW_LOADTEST_READ_TOKEN."
    )
  if (response.status === 404) throw new QueryError(`The query API has no pipeline named '${o.pipeline}'.`)
  if (!response.ok) throw new Error(`the query API answered ${response.status}`)
  const body = (await response.json()) as { rows: Array<{ values: Record<string, number | null> }> }
  return body.rows.reduce((sum, row) => sum + (row.values[o.field] ?? 0), 0)
}

/** The sum over all keys, a few requests at a time. */
export const countedSum = async (o: VerifyOptions): Promise<number> => {
  let total = 0
  const queue = [...o.keys]
  const worker = async () => {
    for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
      // Not `total += await …`: that reads `total` before the await, losing the other workers' sums.
      const sum = await sumOfKey(o, key)
      total += sum
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker))
  return total
}

const holds = (o: VerifyOptions, counted: number) =>
  counted >= o.expected && counted <= o.expected + o.unknown

export const verify = async (o: VerifyOptions): Promise<Verification> => {
  const started = Date.now()
  const pollMs = o.pollMs ?? 1000
  const deadline = started + o.drainTimeoutS * 1000
  let counted = 0
  let previous = Number.NaN
  let polls = 0
  let error: string | undefined
  for (;;) {
    try {
      counted = await countedSum(o)
      polls++
      error = undefined
    } catch (e) {
      error = e instanceof Error ? e.message : String(e)
      if (e instanceof QueryError) break
    }
    // Equal on two polls in a row: the count has stopped moving at the right number.
    if (error === undefined && holds(o, counted) && counted === previous) break
    if (Date.now() + pollMs > deadline) break
    o.onProgress?.(
      `verifying: counted ${counted.toLocaleString("en-US")} of ${o.expected.toLocaleString("en-US")} accepted`
    )
    previous = counted
    await new Promise((r) => setTimeout(r, pollMs))
  }
  const pass = error === undefined && holds(o, counted)
  return {
    pipeline: o.pipeline,
    field: o.field,
    expected: o.expected,
    counted,
    difference: counted - o.expected,
    unknown: o.unknown,
    pass,
    drainS: Math.round((Date.now() - started) / 100) / 10,
    polls,
    ...(error !== undefined ? { error } : {})
  }
}
