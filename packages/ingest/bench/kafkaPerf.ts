/** Kafka's own producer benchmark (ProducerPerformance), run from the jars the services script cached. */
import { run } from "./procs.ts"
import { env } from "./services.ts"

export interface KafkaPerfResult {
  readonly records: number
  readonly recordsPerSec: number
  readonly mbPerSec: number
  readonly avgMs: number
  readonly maxMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly elapsedS: number
}

// 1000000 records sent, 38381.822369 records/sec (10.98 MB/sec), 2257.65 ms avg latency,
// 3712.00 ms max latency, 2336 ms 50th, 3568 ms 95th, 3667 ms 99th, 3697 ms 99.9th.
const SUMMARY =
  /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th/

export const parseSummary = (output: string): Omit<KafkaPerfResult, "elapsedS"> | undefined => {
  const lines = output.trim().split("\n").reverse()
  for (const line of lines) {
    const m = SUMMARY.exec(line)
    if (m === null) continue
    return {
      records: Number(m[1]),
      recordsPerSec: Number(m[2]),
      mbPerSec: Number(m[3]),
      avgMs: Number(m[4]),
      maxMs: Number(m[5]),
      p50Ms: Number(m[6]),
      p95Ms: Number(m[7]),
      p99Ms: Number(m[8]),
      p999Ms: Number(m[9])
    }
  }
  return undefined
}

const kafkaClass = (
  root: string,
  args: ReadonlyArray<string>,
  timeoutMs: number,
  onLine?: (line: string) => void
) =>
  run("bash", ["infra/services/kafka-class.sh", ...args], {
    cwd: root,
    // kafka-class.sh wraps java in `timeout` when TOOL_TIMEOUT is set: a second bound on the JVM.
    env: { ...process.env, TOOL_TIMEOUT: String(Math.ceil(timeoutMs / 1000) + 5) },
    timeoutMs,
    ...(onLine !== undefined ? { onLine } : {})
  })

export const createPerfTopic = async (root: string, topic: string, partitions: number): Promise<void> => {
  const created = await kafkaClass(
    root,
    [
      "org.apache.kafka.tools.TopicCommand",
      "--bootstrap-server",
      env.KAFKA_BROKERS,
      "--create",
      "--topic",
      topic,
      "--partitions",
      String(partitions),
      "--replication-factor",
      "1"
    ],
    60_000
  )
  if (created.code !== 0) {
    throw new Error(
      `TopicCommand --create failed (exit ${created.code}): ${created.stderr.trim().slice(-500)}`
    )
  }
}

export const runProducerPerf = async (
  root: string,
  options: {
    readonly topic: string
    readonly records: number
    readonly recordSize: number
    readonly timeoutMs: number
    readonly extraProps: ReadonlyArray<string>
    readonly onProgress: (line: string) => void
  }
): Promise<KafkaPerfResult> => {
  const started = performance.now()
  const result = await kafkaClass(
    root,
    [
      "org.apache.kafka.tools.ProducerPerformance",
      "--topic",
      options.topic,
      "--num-records",
      String(options.records),
      "--record-size",
      String(options.recordSize),
      "--throughput",
      "-1",
      "--producer-props",
      `bootstrap.servers=${env.KAFKA_BROKERS}`,
      "acks=all",
      ...options.extraProps
    ],
    options.timeoutMs,
    options.onProgress
  )
  const elapsedS = (performance.now() - started) / 1000
  const summary = parseSummary(result.stdout)
  if (summary === undefined) {
    const why = result.timedOut
      ? `it did not finish within ${options.timeoutMs / 1000} s`
      : `exit ${result.code}`
    throw new Error(`ProducerPerformance printed no summary (${why}): ${result.stderr.trim().slice(-500)}`)
  }
  return { ...summary, elapsedS }
}
