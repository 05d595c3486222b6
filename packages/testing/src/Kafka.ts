import { randomUUID } from "node:crypto"
import { Kafka, type KafkaMessage, logLevel } from "kafkajs"
import { serviceUrls } from "./Services.ts"

export const testKafka = () =>
  new Kafka({ clientId: "eventflow-test", brokers: serviceUrls.kafka.split(","), logLevel: logLevel.NOTHING })

export interface ReadMessage {
  readonly topic: string
  readonly partition: number
  readonly key: string | null
  readonly value: string
  readonly headers: Record<string, string>
}

const toText = (message: KafkaMessage, topic: string, partition: number): ReadMessage => ({
  topic,
  partition,
  key: message.key?.toString("utf8") ?? null,
  value: message.value?.toString("utf8") ?? "",
  headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]))
})

/** Every record of the topics, from the start, read until no more arrive for `quietMs`. */
export const readTopics = async (topics: ReadonlyArray<string>, quietMs = 1500): Promise<ReadMessage[]> => {
  const admin = testKafka().admin()
  await admin.connect()
  const ends = await Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic)))
  await admin.disconnect()
  const expected = ends.flat().reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
  if (expected === 0) return []
  const consumer = testKafka().consumer({ groupId: `test-${randomUUID()}` })
  await consumer.connect()
  await consumer.subscribe({ topics: [...topics], fromBeginning: true })
  const messages: ReadMessage[] = []
  await new Promise<void>((resolve, reject) => {
    let timer = setTimeout(resolve, 30_000)
    const arm = () => {
      clearTimeout(timer)
      timer = setTimeout(resolve, messages.length >= expected ? 0 : quietMs)
    }
    consumer
      .run({
        eachMessage: async ({ topic, partition, message }) => {
          messages.push(toText(message, topic, partition))
          arm()
        }
      })
      .catch(reject)
  })
  await consumer.disconnect()
  return messages
}

export const topicEndOffsets = async (topic: string): Promise<number> => {
  const admin = testKafka().admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return offsets.reduce((sum, p) => sum + Number(p.high), 0)
  } finally {
    await admin.disconnect()
  }
}

export const uniquePrefix = (label: string) =>
  `t${Date.now().toString(36)}${randomUUID().slice(0, 4)}.${label}.`
