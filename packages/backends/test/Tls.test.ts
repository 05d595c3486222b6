/**
 * TLS to Redis, PostgreSQL and Kafka, against real servers that speak TLS with a throwaway CA made
 * by openssl: a private redis-server, a private PostgreSQL cluster, and a TLS endpoint in front of
 * which kafkajs (main thread and producer thread) must complete its handshake.
 */
import { randomUUID } from "node:crypto"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { createServer, type Server } from "node:tls"
import { Worker } from "node:worker_threads"
import { SqlClient } from "@effect/sql"
import {
  connectionConfig,
  type FromProducer,
  type KafkaConnection,
  KafkaConnectionConfig,
  layerBackends,
  layerPgClient,
  layerRedisDedup,
  type Mode,
  type PgSslSettings,
  type ProducerSettings,
  pgConnectionOptions
} from "@eventflow/backends"
import { DedupStore, WriteKeys } from "@eventflow/core"
import {
  describeWithPrograms,
  makeCertificates,
  opensslMissing,
  type PostgresCluster,
  postgresMissing,
  startPostgresCluster,
  startTlsRedis,
  type TestCertificates,
  tlsRedisMissing
} from "@eventflow/testing"
import { ConfigProvider, Duration, Effect, Either, Layer, Logger, Option, Redacted } from "effect"
import { Kafka, logLevel } from "kafkajs"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const provider = (env: Record<string, string>) => ConfigProvider.fromMap(new Map(Object.entries(env)))

/** Runs `effect` with only `env` as configuration, and collects what it logs. */
const runWith = async <A, E>(env: Record<string, string>, effect: Effect.Effect<A, E>) => {
  const logs: string[] = []
  const collect = Logger.make(({ message }) => {
    logs.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  const result = await Effect.runPromise(
    Effect.either(effect).pipe(
      Effect.withConfigProvider(provider(env)),
      Effect.provide(Logger.replace(Logger.defaultLogger, collect))
    )
  )
  return { result, logs }
}

const messageOf = (error: unknown) => String((error as { message?: unknown }).message ?? error)

const leftMessage = <A, E>(result: Either.Either<A, E>) => {
  expect(Either.isLeft(result)).toBe(true)
  return Either.isLeft(result) ? messageOf(result.left) : ""
}

const made: TestCertificates[] = []
/** Throwaway certificates, deleted after the file's tests. */
const newCertificates = (label: string) => {
  const certs = makeCertificates({ label })
  made.push(certs)
  return certs
}
let shared: TestCertificates | undefined
const certificates = () => {
  shared ??= newCertificates("backends")
  return shared
}
afterAll(() => {
  for (const certs of made) rmSync(certs.dir, { recursive: true, force: true })
})

const dedupOptions = (url: string) => ({
  url: Redacted.make(url),
  keyPrefix: `eventflow-tls-test:${randomUUID()}:`,
  commandTimeout: Duration.seconds(2),
  pendingMillis: 300,
  doneMillis: 60_000
})

describe("Redis TLS settings", () => {
  const dedup = (url: string) => Effect.scoped(Layer.build(layerRedisDedup(dedupOptions(url))))

  it("a CA file that cannot be read is a configuration error naming the variable", async () => {
    const { result } = await runWith(
      { EVENTFLOW_REDIS_TLS_CA_FILE: "/nonexistent/eventflow-ca.pem" },
      dedup("rediss://127.0.0.1:1")
    )
    expect(leftMessage(result)).toBe(
      "EVENTFLOW_REDIS_TLS_CA_FILE is /nonexistent/eventflow-ca.pem, which cannot be read (no such file)"
    )
  })

  it("TLS settings next to a redis:// URL are an error, not silently plaintext", async () => {
    const { result } = await runWith({ EVENTFLOW_REDIS_TLS_INSECURE: "on" }, dedup("redis://127.0.0.1:1"))
    expect(leftMessage(result)).toBe(
      "EVENTFLOW_REDIS_TLS_INSECURE is set, but the Redis URL does not start with rediss://: use rediss:// to connect over TLS"
    )
  })
})

/** Claims an event twice, committing the first claim: what the dedup store answers. */
const claimTwice = (url: string) =>
  Effect.gen(function* () {
    const store = yield* DedupStore
    const event = [{ source: "/tls", id: randomUUID() }]
    const first = yield* store.claim(event)
    yield* store.commit(first.token, event)
    const second = yield* store.claim(event)
    return [...first.outcomes, ...second.outcomes]
  }).pipe(Effect.provide(layerRedisDedup(dedupOptions(url))))

describeWithPrograms(tlsRedisMissing(), "Redis over TLS (a private redis-server)", () => {
  let redis: Awaited<ReturnType<typeof startTlsRedis>>
  beforeAll(async () => {
    redis = await startTlsRedis(certificates())
  })
  afterAll(async () => {
    await redis?.stop()
  })

  it("rediss:// with EVENTFLOW_REDIS_TLS_CA_FILE connects, and the dedup store works over it", async () => {
    const { result, logs } = await runWith(
      { EVENTFLOW_REDIS_TLS_CA_FILE: certificates().caFile },
      claimTwice(redis.url)
    )
    expect(result).toEqual(Either.right(["claimed", "duplicate"]))
    expect(logs).toEqual([])
  })

  it("without the CA the certificate is refused: at once, with a warning and a 503 that say why", async () => {
    const started = Date.now()
    const { result, logs } = await runWith({}, claimTwice(redis.url))
    // A refused certificate ends the wait for the first connection (it would otherwise take 5 s).
    expect(Date.now() - started).toBeLessThan(4_000)
    const message = leftMessage(result)
    expect(message).toMatch(/^Redis is unavailable: .*certificate/)
    expect(logs).toHaveLength(1)
    expect(logs[0]).toMatch(/^Redis over TLS: the server's certificate is not accepted \(.*certificate.*\)/)
    expect(logs[0]).toContain("set EVENTFLOW_REDIS_TLS_CA_FILE")
  })

  it("a CA that did not sign the server's certificate is refused too", async () => {
    const other = newCertificates("other")
    const { result } = await runWith({ EVENTFLOW_REDIS_TLS_CA_FILE: other.caFile }, claimTwice(redis.url))
    expect(leftMessage(result)).toMatch(/^Redis is unavailable: .*certificate/)
  })

  it("EVENTFLOW_REDIS_TLS_INSECURE=on connects without the CA, and says so at start", async () => {
    const { result, logs } = await runWith({ EVENTFLOW_REDIS_TLS_INSECURE: "on" }, claimTwice(redis.url))
    expect(result).toEqual(Either.right(["claimed", "duplicate"]))
    expect(logs).toEqual([
      "EVENTFLOW_REDIS_TLS_INSECURE=on: the Redis server's certificate is not verified (encrypted, but open to impersonation)"
    ])
  })

  it("EVENTFLOW_REDIS_TLS_SERVERNAME is the name the certificate must carry", async () => {
    const ca = certificates().caFile
    const wrong = await runWith(
      { EVENTFLOW_REDIS_TLS_CA_FILE: ca, EVENTFLOW_REDIS_TLS_SERVERNAME: "redis.example" },
      claimTwice(redis.url)
    )
    expect(leftMessage(wrong.result)).toMatch(/redis\.example.*altnames/)
    const right = await runWith(
      { EVENTFLOW_REDIS_TLS_CA_FILE: ca, EVENTFLOW_REDIS_TLS_SERVERNAME: "localhost" },
      claimTwice(redis.url)
    )
    expect(right.result).toEqual(Either.right(["claimed", "duplicate"]))
  })
})

describe("PostgreSQL TLS settings", () => {
  const none: PgSslSettings = { mode: Option.none(), ca: Option.none() }
  const base = "postgres://app:pw@db.example:5432/eventflow"

  it("leave a URL without TLS settings as it is, to node-postgres's defaults", () => {
    expect(pgConnectionOptions(base, none)).toEqual(
      Either.right({ url: base, ssl: undefined, mode: undefined })
    )
  })

  it("take sslmode out of the URL, with libpq's meaning (no-verify and require: encrypted, not verified)", () => {
    for (const sslmode of ["require", "no-verify"]) {
      const options = Either.getOrThrow(
        pgConnectionOptions(`${base}?sslmode=${sslmode}&application_name=x`, none)
      )
      expect(options.url).toBe(`${base}?application_name=x`)
      expect(options.mode).toBe("require")
      expect(options.ssl).toMatchObject({ rejectUnauthorized: false })
    }
    const full = Either.getOrThrow(pgConnectionOptions(`${base}?sslmode=verify-full`, none))
    expect(full).toEqual({ url: base, ssl: {}, mode: "verify-full" })
  })

  it("EVENTFLOW_PG_SSL wins over the URL", () => {
    expect(
      pgConnectionOptions(`${base}?sslmode=require`, { mode: Option.some("off"), ca: Option.none() })
    ).toEqual(Either.right({ url: base, ssl: false, mode: "off" }))
  })

  it("say in a sentence what is wrong", async () => {
    expect(leftMessage(pgConnectionOptions(`${base}?sslmode=sometimes`, none))).toBe(
      "DATABASE_URL has sslmode=sometimes: use disable, require, no-verify, verify-ca or verify-full"
    )
    expect(
      leftMessage(
        pgConnectionOptions(base, {
          mode: Option.some("off"),
          ca: Option.some("-----BEGIN CERTIFICATE-----")
        })
      )
    ).toBe(
      "EVENTFLOW_PG_SSL_CA_FILE is set, but TLS to PostgreSQL is off (EVENTFLOW_PG_SSL=off or sslmode=disable)"
    )
    const missing = await runWith(
      { EVENTFLOW_PG_SSL_CA_FILE: "/nonexistent/pg-ca.pem" },
      Effect.scoped(Layer.build(layerPgClient({ url: Redacted.make(base) })))
    )
    expect(leftMessage(missing.result)).toBe(
      "EVENTFLOW_PG_SSL_CA_FILE is /nonexistent/pg-ca.pem, which cannot be read (no such file)"
    )
  })
})

/** Whether the connection that answers is encrypted, through the layer the services use. */
const encrypted = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ ssl: boolean }>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`
    return rows[0]?.ssl
  }).pipe(Effect.provide(layerPgClient({ url: Redacted.make(url), maxConnections: 1 })))

describeWithPrograms(
  [...opensslMissing(), ...postgresMissing()],
  "PostgreSQL over TLS (a private cluster)",
  () => {
    let cluster: PostgresCluster
    beforeAll(async () => {
      cluster = await startPostgresCluster({ database: "test", tls: certificates() })
    })
    afterAll(async () => {
      await cluster?.cleanup()
    })

    it("verify-full with EVENTFLOW_PG_SSL_CA_FILE connects encrypted", async () => {
      const ca = certificates().caFile
      const byVariable = await runWith(
        { EVENTFLOW_PG_SSL: "verify-full", EVENTFLOW_PG_SSL_CA_FILE: ca },
        encrypted(cluster.url)
      )
      expect(byVariable.result).toEqual(Either.right(true))
      // The same from the URL's sslmode, and for the host name (the certificate names both).
      const byUrl = await runWith(
        { EVENTFLOW_PG_SSL_CA_FILE: ca },
        encrypted(`${cluster.url.replace("127.0.0.1", "localhost")}?sslmode=verify-full`)
      )
      expect(byUrl.result).toEqual(Either.right(true))
    })

    it("verify-full without the CA, or with another CA, fails and says why", async () => {
      const without = await runWith({ EVENTFLOW_PG_SSL: "verify-full" }, encrypted(cluster.url))
      expect(leftMessage(without.result)).toMatch(/^PgClient: Failed to connect \(.*certificate.*\)$/)
      const other = newCertificates("other-pg")
      const wrongCa = await runWith(
        { EVENTFLOW_PG_SSL: "verify-full", EVENTFLOW_PG_SSL_CA_FILE: other.caFile },
        encrypted(cluster.url)
      )
      expect(leftMessage(wrongCa.result)).toMatch(/certificate/)
    })

    it("require encrypts without verifying; off and an unset mode stay plaintext", async () => {
      expect((await runWith({ EVENTFLOW_PG_SSL: "require" }, encrypted(cluster.url))).result).toEqual(
        Either.right(true)
      )
      expect((await runWith({}, encrypted(`${cluster.url}?sslmode=no-verify`))).result).toEqual(
        Either.right(true)
      )
      expect((await runWith({ EVENTFLOW_PG_SSL: "off" }, encrypted(cluster.url))).result).toEqual(
        Either.right(false)
      )
      expect((await runWith({}, encrypted(cluster.url))).result).toEqual(Either.right(false))
    })

    it("the distributed backends (Modes.ts) connect with these settings", async () => {
      const mode = { _tag: "distributed", kafka: {}, databaseUrl: Redacted.make(cluster.url) } as Mode
      const keys = Effect.gen(function* () {
        const keys = yield* WriteKeys
        return (yield* keys.list).length
      }).pipe(Effect.provide(layerBackends(mode, { dedup: false, embedded: "attach", eventLog: false })))
      const ca = certificates().caFile
      expect(
        (await runWith({ EVENTFLOW_PG_SSL: "verify-full", EVENTFLOW_PG_SSL_CA_FILE: ca }, keys)).result
      ).toEqual(Either.right(0))
      expect(leftMessage((await runWith({ EVENTFLOW_PG_SSL: "verify-full" }, keys)).result)).toMatch(
        /certificate/
      )
    })

    it("the cluster stops, refuses connections, and starts again on the same port with its data", async () => {
      const query = async (text: string) => {
        const client = new pg.Client({ connectionString: cluster.url })
        await client.connect()
        try {
          return (await client.query(text)).rows
        } finally {
          await client.end()
        }
      }
      await query("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
      await cluster.stop()
      expect(cluster.running()).toBe(false)
      await expect(query("SELECT 1")).rejects.toThrow(/ECONNREFUSED/)
      await cluster.start()
      expect(await query("SELECT n FROM kept")).toEqual([{ n: 7 }])
    })
  }
)

describe("Kafka TLS settings", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSync(Effect.either(Effect.withConfigProvider(KafkaConnectionConfig, provider(env))))

  it("KAFKA_SSL_INSECURE turns TLS on and verification off", () => {
    expect(read({ KAFKA_SSL_INSECURE: "true" })).toEqual(Either.right({ ssl: true, insecure: true }))
    expect(connectionConfig({ ssl: true, insecure: true })).toEqual({ ssl: { rejectUnauthorized: false } })
  })

  it("say in a sentence what is wrong", () => {
    expect(leftMessage(read({ KAFKA_SSL_CA_FILE: "/nonexistent/kafka-ca.pem" }))).toBe(
      "KAFKA_SSL_CA_FILE is /nonexistent/kafka-ca.pem, which cannot be read (no such file)"
    )
    expect(leftMessage(read({ KAFKA_SSL: "false", KAFKA_SSL_INSECURE: "true" }))).toBe(
      "KAFKA_SSL_INSECURE is set, but KAFKA_SSL is false"
    )
  })
})

/** A TLS endpoint that counts completed handshakes and the ones clients broke off. */
const tlsEndpoint = (certs: TestCertificates) =>
  new Promise<{ broker: string; handshakes: () => number; server: Server }>((resolve) => {
    let handshakes = 0
    const server = createServer(
      { cert: readText(certs.certFile), key: readText(certs.keyFile) },
      (socket) => {
        handshakes++
        socket.destroy()
      }
    )
    server.on("tlsClientError", () => {})
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resolve({ broker: `127.0.0.1:${port}`, handshakes: () => handshakes, server })
    })
  })

const readText = (path: string) => readFileSync(path, "utf8")

/** Starts the producer thread with `connection` and returns the reason it gives for not connecting. */
const producerThreadFailure = (broker: string, connection: KafkaConnection) =>
  new Promise<string>((resolve, reject) => {
    const settings: ProducerSettings = {
      clientId: "eventflow-tls-test",
      brokers: [broker],
      connection,
      // The idempotent producer wants at least one retry.
      retries: 1,
      timeoutMillis: 2_000,
      maxRequestBytes: 900_000,
      maxRequestRecords: 1000
    }
    const worker = new Worker(new URL("../src/kafkaProducerThread.mjs", import.meta.url), {
      workerData: settings
    })
    worker.on("message", (message: FromProducer) => {
      if (message.type === "failed") {
        void worker.terminate()
        resolve(message.message)
      } else if (message.type === "ready") {
        void worker.terminate()
        reject(new Error("the producer connected to something that is not Kafka"))
      }
    })
    worker.on("error", reject)
  })

describeWithPrograms(opensslMissing(), "Kafka TLS settings reach every kafkajs client", () => {
  let endpoint: Awaited<ReturnType<typeof tlsEndpoint>>
  beforeAll(async () => {
    endpoint = await tlsEndpoint(certificates())
  })
  afterAll(async () => {
    await new Promise((resolve) => endpoint?.server.close(resolve))
  })

  const adminConnects = async (connection: KafkaConnection) => {
    const kafka = new Kafka({
      clientId: "eventflow-tls-test",
      brokers: [endpoint.broker],
      ...connectionConfig(connection),
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 }
    })
    const admin = kafka.admin()
    const error = await admin.connect().then(
      () => undefined,
      (e: Error) => e.message
    )
    await admin.disconnect()
    return error
  }

  it("KAFKA_SSL_CA_FILE is read at start and its text trusted by the admin client and the producer thread", async () => {
    const connection = Either.getOrThrow(read({ KAFKA_SSL_CA_FILE: certificates().caFile }))
    expect(connection).toEqual({ ssl: true, ca: certificates().ca })
    const before = endpoint.handshakes()
    // The endpoint is not a broker: the client fails after the handshake, which it completed.
    await adminConnects(connection)
    expect(endpoint.handshakes()).toBeGreaterThan(before)
    const afterAdmin = endpoint.handshakes()
    await producerThreadFailure(endpoint.broker, connection)
    expect(endpoint.handshakes()).toBeGreaterThan(afterAdmin)
  })

  it("without the CA both refuse the certificate; KAFKA_SSL_INSECURE accepts it", async () => {
    const before = endpoint.handshakes()
    expect(await adminConnects({ ssl: true })).toMatch(/certificate/)
    expect(await producerThreadFailure(endpoint.broker, { ssl: true })).toMatch(/certificate/)
    expect(endpoint.handshakes()).toBe(before)
    const insecure = Either.getOrThrow(read({ KAFKA_SSL_INSECURE: "true" }))
    await producerThreadFailure(endpoint.broker, insecure)
    expect(endpoint.handshakes()).toBeGreaterThan(before)
  })

  const read = (env: Record<string, string>) =>
    Effect.runSync(Effect.either(Effect.withConfigProvider(KafkaConnectionConfig, provider(env))))
})

// A CA file that is not a certificate is refused as such.
describeWithPrograms(opensslMissing(), "CA files", () => {
  it("must hold a PEM certificate", () => {
    const notPem = join(certificates().dir, "not-a-cert.txt")
    writeFileSync(notPem, "hello")
    expect(
      leftMessage(
        Effect.runSync(
          Effect.either(
            Effect.withConfigProvider(KafkaConnectionConfig, provider({ KAFKA_SSL_CA_FILE: notPem }))
          )
        )
      )
    ).toBe(`KAFKA_SSL_CA_FILE is ${notPem}, which holds no PEM certificate`)
  })
})
