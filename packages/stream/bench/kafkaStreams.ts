/**
 * Kafka Streams reference for the stream-engine benchmark: the same windowed aggregation as our engine
 * (CloudEvents JSON in, event time from `time`, per key count + sum(amount) in 1-minute tumbling windows
 * with 10 s grace), run by Kafka Streams on the same broker so that events/s can be compared.
 *
 * The program is the Maven project in `./kafka-streams` (StreamsReference.java); it needs Java 17+ and
 * Maven on PATH. Extra Maven arguments (e.g. `-s settings.xml`) come from `EVENTFLOW_MAVEN_ARGS`, as for
 * `infra/services/up.sh`.
 */
import { spawn } from "node:child_process"
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export type KafkaStreamsGuarantee = "exactly_once_v2" | "at_least_once"

export interface KafkaStreamsReferenceOptions {
  /** Bootstrap servers, `host:port[,host:port...]`. */
  readonly brokers: string
  /** Input topic; must exist and hold at least `expected` records. */
  readonly topic: string
  /** Records to process before stopping. */
  readonly expected: number
  /** Default `exactly_once_v2`. */
  readonly guarantee?: KafkaStreamsGuarantee
  /** Stream threads, default 1. */
  readonly threads?: number
}

export interface KafkaStreamsReferenceResult {
  readonly records: number
  /** From the first processed record to the `expected`th. */
  readonly seconds: number
  readonly eventsPerSecond: number
  /** From JVM process start to the first processed record (JVM start, rebalance, first fetch). */
  readonly startupSeconds: number
  readonly guarantee: string
}

const projectDir = fileURLToPath(new URL("./kafka-streams/", import.meta.url))
const pomFile = fileURLToPath(new URL("./kafka-streams/pom.xml", import.meta.url))
const sourcesDir = fileURLToPath(new URL("./kafka-streams/src/", import.meta.url))
const jarFile = fileURLToPath(
  new URL("./kafka-streams/target/eventflow-bench-kafka-streams-all.jar", import.meta.url)
)

/** The first build downloads Kafka Streams and RocksDB (~100 MB) from Maven Central. */
const BUILD_TIMEOUT_MS = 15 * 60_000
const STDERR_PREFIX = "[kafka-streams] "

const tail = (text: string, lines = 30) => text.trimEnd().split("\n").slice(-lines).join("\n")

const newestMtimeMs = (path: string): number => {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = stat.mtimeMs
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, entry)))
  return newest
}

const jarIsFresh = (): boolean => {
  if (!existsSync(jarFile)) return false
  return statSync(jarFile).mtimeMs >= Math.max(newestMtimeMs(pomFile), newestMtimeMs(sourcesDir))
}

const MAVEN_BOILERPLATE =
  /^\[ERROR\] *(\[Help \d+\]|-> \[Help|To see the full|Re-run Maven|For more information|$)/

/** Maven's output without colours and without its generic "re-run with -e / see the wiki" advice. */
const mavenErrors = (output: string) =>
  tail(
    output
      .replace(/\x1b\[[0-9;]*m/g, "")
      .split("\n")
      .filter((line) => !MAVEN_BOILERPLATE.test(line))
      .join("\n")
  )

const mavenArgs = (): ReadonlyArray<string> =>
  (process.env.EVENTFLOW_MAVEN_ARGS ?? "").split(/\s+/).filter((arg) => arg !== "")

const runMaven = (): Promise<void> =>
  new Promise((resolve, reject) => {
    const args = ["-q", "-B", "-Dstyle.color=never", ...mavenArgs(), "-f", pomFile, "package", "-DskipTests"]
    const child = spawn("mvn", args, { cwd: projectDir, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const collect = (chunk: string) => {
      output += chunk
      if (output.length > 200_000) output = output.slice(-100_000)
    }
    child.stdout.setEncoding("utf8").on("data", collect)
    child.stderr.setEncoding("utf8").on("data", collect)
    const timer = setTimeout(() => child.kill("SIGKILL"), BUILD_TIMEOUT_MS)
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(
        error.code === "ENOENT"
          ? new Error(
              "Cannot build the Kafka Streams reference: `mvn` is not on PATH (needs Maven and Java 17+)"
            )
          : new Error(`Cannot build the Kafka Streams reference: could not start mvn: ${error.message}`)
      )
    })
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) return resolve()
      const why = signal !== null ? `killed by ${signal}` : `exit code ${code}`
      reject(
        new Error(
          `Building the Kafka Streams reference failed (mvn -f ${pomFile} package, ${why}):\n${mavenErrors(output)}`
        )
      )
    })
  })

let building: Promise<string> | undefined

/**
 * Builds the reference's runnable jar with Maven when it is missing or older than the pom or any source
 * file, and returns its path. Concurrent calls share one build.
 */
export const buildKafkaStreamsReference = (): Promise<string> => {
  if (building !== undefined) return building
  const build = (async () => {
    if (!existsSync(pomFile)) throw new Error(`Kafka Streams reference project not found: ${pomFile}`)
    if (jarIsFresh()) return jarFile
    await runMaven()
    if (!existsSync(jarFile)) {
      throw new Error(`Maven finished but the Kafka Streams reference jar is missing: ${jarFile}`)
    }
    return jarFile
  })()
  building = build
  // A failed build may be retried by a later call; a successful one is checked for staleness again.
  const forget = () => {
    if (building === build) building = undefined
  }
  build.then(forget, forget)
  return build
}

const isPositiveInteger = (n: number) => Number.isSafeInteger(n) && n > 0

const parseResult = (stdout: string): KafkaStreamsReferenceResult | undefined => {
  const last = stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .at(-1)
  if (last === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(last)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null) return undefined
  const r = parsed as Record<string, unknown>
  const { records, seconds, eventsPerSecond, startupSeconds, guarantee } = r
  if (
    typeof records !== "number" ||
    typeof seconds !== "number" ||
    typeof eventsPerSecond !== "number" ||
    typeof startupSeconds !== "number" ||
    typeof guarantee !== "string"
  ) {
    return undefined
  }
  return { records, seconds, eventsPerSecond, startupSeconds, guarantee }
}

/**
 * Builds (if needed) and runs the Kafka Streams reference over `options.topic` until it has processed
 * `options.expected` records. Its stderr is passed through, each line prefixed with `[kafka-streams]`.
 * It uses a fresh application id and state directory per run and deletes both (and the app's internal
 * topics) at exit; the output topic `<topic>.ks-out` is created if missing and left in place.
 * Rejects when the program fails, including when no record arrives for 120 s.
 */
export const runKafkaStreamsReference = async (
  options: KafkaStreamsReferenceOptions
): Promise<KafkaStreamsReferenceResult> => {
  const guarantee = options.guarantee ?? "exactly_once_v2"
  const threads = options.threads ?? 1
  if (!isPositiveInteger(options.expected)) {
    throw new Error(`runKafkaStreamsReference: expected must be a positive integer, got ${options.expected}`)
  }
  if (!isPositiveInteger(threads)) {
    throw new Error(`runKafkaStreamsReference: threads must be a positive integer, got ${threads}`)
  }
  const jar = await buildKafkaStreamsReference()
  const args = [
    "-jar",
    jar,
    "--bootstrap",
    options.brokers,
    "--topic",
    options.topic,
    "--expected",
    String(options.expected),
    "--guarantee",
    guarantee,
    "--threads",
    String(threads)
  ]
  return new Promise((resolve, reject) => {
    const child = spawn("java", args, { stdio: ["ignore", "pipe", "pipe"] })
    // Do not leave a JVM behind when this process exits first.
    const killChild = () => child.kill("SIGTERM")
    process.once("exit", killChild)

    let stdout = ""
    let stderrTail = ""
    let partial = ""
    const passLine = (line: string) => {
      process.stderr.write(`${STDERR_PREFIX}${line}\n`)
      stderrTail = (stderrTail + line + "\n").slice(-4_000)
    }
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      partial += chunk
      const lines = partial.split("\n")
      partial = lines.pop() ?? ""
      for (const line of lines) passLine(line)
    })
    child.once("error", (error: NodeJS.ErrnoException) => {
      process.off("exit", killChild)
      reject(
        error.code === "ENOENT"
          ? new Error("Cannot run the Kafka Streams reference: `java` is not on PATH (needs Java 17+)")
          : new Error(`Cannot run the Kafka Streams reference: could not start java: ${error.message}`)
      )
    })
    child.once("close", (code, signal) => {
      process.off("exit", killChild)
      if (partial !== "") passLine(partial)
      const result = parseResult(stdout)
      if (code === 0 && result !== undefined) return resolve(result)
      const why = signal !== null ? `killed by ${signal}` : `exit code ${code}`
      const problem = code === 0 ? "printed no result line" : "failed"
      const details = [stderrTail.trimEnd(), stdout.trim() === "" ? "" : `stdout: ${tail(stdout, 5)}`]
        .filter((text) => text !== "")
        .join("\n")
      reject(
        new Error(
          `Kafka Streams reference ${problem} (${why}) on topic ${options.topic}` +
            (details === "" ? "" : `:\n${tail(details)}`)
        )
      )
    })
  })
}
