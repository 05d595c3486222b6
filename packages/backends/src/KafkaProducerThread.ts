/**
 * The Kafka producer's own thread. Encoding records is most of kafkajs's cost; on its own thread it
 * runs beside the HTTP, JSON and dedup work instead of between them. One idempotent producer,
 * acks=all, one produce request at a time, in the order the records came.
 */
import { parentPort, workerData } from "node:worker_threads"
import { Kafka, logLevel } from "kafkajs"
import {
  chunkRecords,
  connectionConfig,
  type FromProducer,
  fastPartitioner,
  type ProducerSettings,
  type ToProducer,
  toTopicMessages,
  unpackRecords
} from "./KafkaProduce.ts"

const settings = workerData as ProducerSettings
const port = parentPort!
const reply = (message: FromProducer) => port.postMessage(message)
const describe = (error: unknown) => (error instanceof Error ? error.message : String(error))

const kafka = new Kafka({
  clientId: settings.clientId,
  brokers: [...settings.brokers],
  ...connectionConfig(settings.connection),
  logLevel: logLevel.ERROR,
  retry: { retries: settings.retries }
})
const producer = kafka.producer({
  idempotent: true,
  maxInFlightRequests: 1,
  allowAutoTopicCreation: false,
  createPartitioner: fastPartitioner,
  retry: { retries: settings.retries }
})

// Sends run one after another, in arrival order: the producer's sequence numbers depend on it.
let queue: Promise<void> = Promise.resolve()

port.on("message", (message: ToProducer) => {
  if (message.type === "close") {
    queue = queue.then(async () => {
      await producer.disconnect().catch(() => undefined)
      reply({ type: "closed" })
    })
    return
  }
  const { id, records } = message
  queue = queue.then(async () => {
    try {
      for (const chunk of chunkRecords(
        unpackRecords(records),
        settings.maxRequestBytes,
        settings.maxRequestRecords
      )) {
        await producer.sendBatch({
          acks: -1,
          timeout: settings.timeoutMillis,
          topicMessages: toTopicMessages(chunk)
        })
      }
      reply({ type: "sent", id })
    } catch (error) {
      reply({ type: "error", id, message: describe(error) })
    }
  })
})

producer.connect().then(
  () => reply({ type: "ready" }),
  (error: unknown) => reply({ type: "failed", message: describe(error) })
)
