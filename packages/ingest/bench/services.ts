/** Whether Kafka, Redis and PostgreSQL answer, each with a real protocol exchange and a short timeout. */
import { Socket } from "node:net"
import { Kafka, logLevel } from "kafkajs"

export const SERVICES = {
  kafka: { host: "127.0.0.1", port: 9092 },
  redis: { host: "127.0.0.1", port: 6379 },
  postgres: { host: "127.0.0.1", port: 5432, user: "postgres", database: "test" }
} as const

export const env = {
  KAFKA_BROKERS: `${SERVICES.kafka.host}:${SERVICES.kafka.port}`,
  REDIS_URL: `redis://${SERVICES.redis.host}:${SERVICES.redis.port}`,
  DATABASE_URL: `postgres://${SERVICES.postgres.user}@${SERVICES.postgres.host}:${SERVICES.postgres.port}/${SERVICES.postgres.database}`
} as const

export const withTimeout = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

/** Sends `payload` and resolves with the first bytes that come back (or rejects). */
const exchange = (host: string, port: number, payload: Buffer, timeoutMs: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const socket = new Socket()
    const finish = (error: Error | undefined, data?: Buffer) => {
      socket.destroy()
      if (error !== undefined) reject(error)
      else resolve(data!)
    }
    socket.setTimeout(timeoutMs, () => finish(new Error(`no answer within ${timeoutMs} ms`)))
    socket.once("error", (error) => finish(error))
    socket.once("data", (data: Buffer) => finish(undefined, data))
    socket.connect(port, host, () => socket.write(payload))
  })

export const kafkaClient = (clientId: string) =>
  new Kafka({
    clientId,
    brokers: [env.KAFKA_BROKERS],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 1 }
  })

const checkKafka = async (): Promise<void> => {
  const admin = kafkaClient("eventflow-bench-check").admin()
  try {
    await withTimeout(
      (async () => {
        await admin.connect()
        await admin.describeCluster()
      })(),
      8_000,
      "Kafka"
    )
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

const checkRedis = async (): Promise<void> => {
  const reply = await exchange(SERVICES.redis.host, SERVICES.redis.port, Buffer.from("PING\r\n"), 3_000)
  if (!reply.toString("latin1").startsWith("+PONG")) throw new Error(`unexpected reply ${reply.toString()}`)
}

/** A protocol 3.0 startup message; the server answers 'R' (authentication) or 'E' (error). */
const checkPostgres = async (): Promise<void> => {
  const params = Buffer.from(`user\0${SERVICES.postgres.user}\0database\0${SERVICES.postgres.database}\0\0`)
  const startup = Buffer.alloc(8 + params.length)
  startup.writeInt32BE(startup.length, 0)
  startup.writeInt32BE(196608, 4)
  params.copy(startup, 8)
  const reply = await exchange(SERVICES.postgres.host, SERVICES.postgres.port, startup, 3_000)
  if (reply[0] === 0x45) throw new Error(`it refused the connection: ${reply.subarray(5).toString("latin1")}`)
  if (reply[0] !== 0x52) throw new Error("the reply is not PostgreSQL's")
}

export interface Missing {
  readonly name: string
  readonly address: string
  readonly reason: string
}

/** The services that do not answer (empty when all do). */
export const checkServices = async (): Promise<ReadonlyArray<Missing>> => {
  const checks = [
    { name: "Kafka", address: env.KAFKA_BROKERS, run: checkKafka },
    {
      name: "Redis",
      address: `${SERVICES.redis.host}:${SERVICES.redis.port}`,
      run: checkRedis
    },
    {
      name: "PostgreSQL",
      address: `${SERVICES.postgres.host}:${SERVICES.postgres.port}`,
      run: checkPostgres
    }
  ]
  const outcomes = await Promise.all(
    checks.map(async (check) => {
      try {
        await check.run()
        return undefined
      } catch (error) {
        return {
          name: check.name,
          address: check.address,
          reason: error instanceof Error ? error.message : String(error)
        }
      }
    })
  )
  return outcomes.filter((m): m is Missing => m !== undefined)
}
