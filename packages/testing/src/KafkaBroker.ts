/**
 * A private single-node Kafka broker (KRaft) for tests that stop and restart it: the jars that
 * `npm run services:up` fetched, its own ports and a data directory in a temporary folder, so the
 * shared broker is never touched.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdirSync, openSync, rmSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import { Kafka, logLevel } from "kafkajs"
import { freePort, reachable } from "./Net.ts"
import { tempDir, waitFor } from "./Processes.ts"

/** Where services:up keeps the Kafka jars (EVENTFLOW_SERVICES_HOME, KAFKA_VERSION as it reads them). */
export const kafkaLibs = (): string => {
  const home = process.env.EVENTFLOW_SERVICES_HOME ?? join(homedir(), ".cache", "eventflow")
  return join(home, `kafka-${process.env.KAFKA_VERSION ?? "3.9.1"}`, "libs")
}

export interface KafkaBroker {
  /** `127.0.0.1:<port>` */
  readonly brokers: string
  /** Stops the broker: SIGTERM (a clean shutdown) or SIGKILL. */
  readonly stop: (signal?: "SIGTERM" | "SIGKILL") => Promise<void>
  /** Starts it again on the same ports and data, and waits until it answers. */
  readonly start: () => Promise<void>
  /** Stops it and deletes its data. */
  readonly destroy: () => Promise<void>
  /** The broker's own log (for a failure's message). */
  readonly logFile: string
}

const java = (args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile("java", args, { timeout: 120_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)
    )
  )

/** A Kafka cluster id: 16 random bytes, base64url (Kafka's Uuid), not starting with '-'. */
const clusterId = (): string => {
  for (;;) {
    const id = randomBytes(16).toString("base64url")
    if (!id.startsWith("-")) return id
  }
}

const answers = async (brokers: string): Promise<boolean> => {
  const admin = new Kafka({
    clientId: "eventflow-test-broker",
    brokers: [brokers],
    logLevel: logLevel.NOTHING
  }).admin()
  try {
    await admin.connect()
    await admin.listTopics()
    return true
  } catch {
    return false
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

export const startKafkaBroker = async (): Promise<KafkaBroker> => {
  const libs = kafkaLibs()
  if (!existsSync(libs)) throw new Error(`no Kafka jars in ${libs}: run npm run services:up once`)
  const port = await freePort()
  const controller = await freePort()
  const dir = tempDir("kafka")
  const data = join(dir, "data")
  mkdirSync(data)
  const config = join(dir, "server.properties")
  const logFile = join(dir, "kafka.log")
  writeFileSync(
    join(dir, "log4j.properties"),
    [
      "log4j.rootLogger=WARN, stdout",
      "log4j.appender.stdout=org.apache.log4j.ConsoleAppender",
      "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout",
      "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n",
      "log4j.logger.kafka.server.KafkaServer=INFO",
      "log4j.logger.kafka.server.BrokerServer=INFO",
      ""
    ].join("\n")
  )
  writeFileSync(
    config,
    [
      "process.roles=broker,controller",
      "node.id=1",
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=PLAINTEXT",
      `log.dirs=${data}`,
      "num.partitions=3",
      "default.replication.factor=1",
      "min.insync.replicas=1",
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=5",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "transaction.state.log.num.partitions=5",
      "auto.create.topics.enable=false",
      "group.initial.rebalance.delay.ms=0",
      ""
    ].join("\n")
  )
  const classpath = `${libs}/*`
  await java(["-cp", classpath, "kafka.tools.StorageTool", "format", "-t", clusterId(), "-c", config])

  let child: ChildProcess | undefined
  const exited = () => child === undefined || child.exitCode !== null || child.signalCode !== null
  const start = async () => {
    const log = openSync(logFile, "a")
    child = spawn(
      "java",
      [
        "-Xmx512m",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        `-Dlog4j.configuration=file:${join(dir, "log4j.properties")}`,
        `-Dkafka.logs.dir=${dir}`,
        "-cp",
        classpath,
        "kafka.Kafka",
        config
      ],
      { stdio: ["ignore", log, log] }
    )
    const started = child
    await waitFor(
      `the private Kafka broker on port ${port}`,
      async () => {
        if (started.exitCode !== null) throw new Error(`the private Kafka broker exited; see ${logFile}`)
        return (await reachable("127.0.0.1", port, 500)) && (await answers(`127.0.0.1:${port}`))
      },
      120_000
    )
  }
  const stop = (signal: "SIGTERM" | "SIGKILL" = "SIGTERM") =>
    new Promise<void>((resolve) => {
      if (exited()) return resolve()
      const running = child!
      const force = setTimeout(() => running.kill("SIGKILL"), 30_000)
      running.once("exit", () => {
        clearTimeout(force)
        resolve()
      })
      running.kill(signal)
    })
  await start()
  return {
    brokers: `127.0.0.1:${port}`,
    stop,
    start,
    destroy: async () => {
      await stop("SIGKILL")
      rmSync(dir, { recursive: true, force: true })
    },
    logFile
  }
}
