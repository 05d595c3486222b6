/**
 * The ingest service end to end on the real Kafka, Redis and PostgreSQL: what lands in which
 * topic, the dedup protocol's outcomes and failure paths, and the answer to every kind of bad input.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { PgClient } from "@effect/sql-pg"
import { layer as withLayer } from "@effect/vitest"
import { type Backends, layerKafka, layerRedisDedup, layerSqlWriteKeys } from "@eventflow/backends"
import { identityKey, WriteKeys } from "@eventflow/core"
import {
  describeWithServices,
  readTopics,
  serviceUrls,
  startRedis,
  tempDir,
  testKafka,
  topicEndOffsets,
  uniquePrefix
} from "@eventflow/testing"
import { Duration, Effect, Layer, Redacted } from "effect"
import { Redis } from "ioredis"
import { expect } from "vitest"
import { baseUrl, cloudEvent, layerTestIngest, post, routesDocument } from "./support.ts"

const routesFile = join(tempDir("routes"), "routes.json")
writeFileSync(routesFile, JSON.stringify(routesDocument))

const STRUCTURED = { "content-type": "application/cloudevents+json" }
const BATCH = { "content-type": "application/cloudevents-batch+json" }

const distributedBackends = (redisUrl: string, dedupPrefix: string): Layer.Layer<Backends, unknown> =>
  Layer.mergeAll(
    layerKafka({
      brokers: serviceUrls.kafka.split(","),
      clientId: "eventflow-test",
      connection: { ssl: false },
      produceTimeout: Duration.seconds(10),
      retries: 2,
      maxBatchRecords: 10_000,
      maxRequestBytes: 900_000,
      maxRequestRecords: 1000
    }),
    layerRedisDedup({
      url: Redacted.make(redisUrl),
      keyPrefix: dedupPrefix,
      commandTimeout: Duration.seconds(1),
      pendingMillis: 30_000,
      doneMillis: 600_000
    }),
    layerSqlWriteKeys({ cacheTtl: Duration.zero }).pipe(
      Layer.provideMerge(PgClient.layer({ url: Redacted.make(serviceUrls.postgres) }))
    )
  ) as Layer.Layer<Backends, unknown>

const keyFor = (source: string) =>
  Effect.flatMap(WriteKeys, (keys) => keys.create({ source, description: "test" })).pipe(
    Effect.map((created) => ({ authorization: `Bearer ${created.key}` }))
  )

await describeWithServices(["kafka", "redis", "postgres"], "ingest on Kafka, Redis and PostgreSQL", () => {
  const prefix = uniquePrefix("ingest")
  const dedupPrefix = `eventflow-test:${prefix}`
  const topics = {
    orders: `${prefix}events.orders`,
    clicks: `${prefix}events.clicks`,
    fallback: `${prefix}events.default`,
    dlq: `${prefix}events.dlq`
  }
  const server = layerTestIngest(distributedBackends(serviceUrls.redis, dedupPrefix), {
    topicPrefix: prefix,
    routesFile
  })

  withLayer(server, { timeout: 120_000, excludeTestServices: true })((it) => {
    it.effect(
      "routes events to typed topics with the partition key, the structured body and its headers",
      () =>
        Effect.gen(function* () {
          const url = yield* baseUrl
          const auth = yield* keyFor("/shop")
          const order = cloudEvent("order-1", {
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
          })
          const single = yield* post(url, JSON.stringify(order), { ...STRUCTURED, ...auth })
          expect(single.status).toBe(202)
          expect(single.body).toEqual({
            accepted: 1,
            duplicate: 0,
            rejected: 0,
            retry: 0,
            results: [{ index: 0, status: "accepted", id: "order-1", source: "/shop", topic: topics.orders }]
          })
          const click = {
            specversion: "1.0",
            id: "c1",
            source: "/shop",
            type: "web.click",
            subject: "ignored"
          }
          const other = { specversion: "1.0", id: "o1", source: "/shop", type: "misc.thing" }
          const batch = yield* post(url, JSON.stringify([click, other]), { ...BATCH, ...auth })
          expect(batch.body.results.map((r: { topic: string }) => r.topic)).toEqual([
            topics.clicks,
            topics.fallback
          ])

          const records = yield* Effect.promise(() =>
            readTopics([topics.orders, topics.clicks, topics.fallback])
          )
          const byTopic = Object.fromEntries(records.map((r) => [r.topic, r]))
          expect(records).toHaveLength(3)
          expect(byTopic[topics.orders]!.key).toBe("customer-7")
          expect(JSON.parse(byTopic[topics.orders]!.value)).toEqual(order)
          expect(byTopic[topics.orders]!.headers).toEqual({
            "content-type": "application/cloudevents+json; charset=UTF-8",
            traceparent: order.traceparent
          })
          // The clicks route keys by source; the default route by subject, else source.
          expect(byTopic[topics.clicks]!.key).toBe("/shop")
          expect(byTopic[topics.fallback]!.key).toBe("/shop")
        })
    )

    it.effect(
      "accepts the valid events of a batch and sends the rejected ones to the DLQ with the reason",
      () =>
        Effect.gen(function* () {
          const url = yield* baseUrl
          const auth = yield* keyFor("/shop")
          const batch = [
            cloudEvent("mix-1"),
            { ...cloudEvent("mix-2"), specversion: "0.3" },
            cloudEvent("mix-3", { data: { amount: -5 } }),
            cloudEvent("mix-4", { data: { amount: 1, pad: "x".repeat(5000) } }),
            cloudEvent("mix-1")
          ]
          const response = yield* post(url, JSON.stringify(batch), { ...BATCH, ...auth })
          expect(response.status).toBe(202)
          expect(response.body).toMatchObject({ accepted: 1, duplicate: 1, rejected: 3, retry: 0 })
          expect(response.body.results).toEqual([
            { index: 0, status: "accepted", id: "mix-1", source: "/shop", topic: topics.orders },
            {
              index: 1,
              status: "rejected",
              id: "mix-2",
              source: "/shop",
              reason: 'unsupported specversion "0.3": only "1.0" is accepted'
            },
            {
              index: 2,
              status: "rejected",
              id: "mix-3",
              source: "/shop",
              reason: "data does not match the schema of route 'orders': data.amount must be >= 0"
            },
            {
              index: 3,
              status: "rejected",
              id: "mix-4",
              source: "/shop",
              reason: expect.stringMatching(/^the event has \d+ bytes; the limit is 4096$/)
            },
            {
              index: 4,
              status: "duplicate",
              id: "mix-1",
              source: "/shop",
              reason: "the same source and id came earlier in this batch"
            }
          ])
          const dlq = yield* Effect.promise(() => readTopics([topics.dlq]))
          expect(dlq.map((r) => r.headers["eventflow-reason"]).sort()).toEqual([
            "invalid",
            "schema",
            "too-large"
          ])
          const schema = dlq.find((r) => r.headers["eventflow-reason"] === "schema")!
          expect(schema.headers["eventflow-error"]).toBe(
            "data does not match the schema of route 'orders': data.amount must be >= 0"
          )
          expect(schema.headers["eventflow-route"]).toBe(topics.orders)
          expect(JSON.parse(schema.value).id).toBe("mix-3")
          // The too-large event is kept in the DLQ without its data.
          const large = JSON.parse(dlq.find((r) => r.headers["eventflow-reason"] === "too-large")!.value)
          expect(large.id).toBe("mix-4")
          expect(large.data).toBeUndefined()
        })
    )

    it.effect("stores an event as sent, byte for byte, unless null attributes had to be dropped", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const auth = yield* keyFor("/raw")
        const asSent =
          '{ "specversion": "1.0", "id": "raw-1", "source": "/raw", "type": "raw.t",\n  "data": {"z": 1, "a": [ 1.50 ]} }'
        const withNull = '{"specversion":"1.0","id":"raw-2","source":"/raw","type":"raw.t","subject":null}'
        const response = yield* post(url, `[ ${asSent} ,\n${withNull}]`, { ...BATCH, ...auth })
        expect(response.body.accepted).toBe(2)
        const records = (yield* Effect.promise(() => readTopics([topics.fallback]))).filter(
          (r) => r.key === "/raw"
        )
        expect(records.map((r) => r.value)).toEqual([
          asSent,
          '{"specversion":"1.0","id":"raw-2","source":"/raw","type":"raw.t"}'
        ])
      })
    )

    it.effect("takes binary mode: attributes from ce- headers, the body as data", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const auth = yield* keyFor("/sensors*")
        const binary = {
          "ce-specversion": "1.0",
          "ce-id": "bin-1",
          "ce-source": "/sensors/7",
          "ce-type": "sensor.reading",
          "ce-subject": "room%201",
          "ce-region": "eu"
        }
        const json = yield* post(url, '{"celsius":21.5}', {
          ...binary,
          "content-type": "application/json",
          ...auth
        })
        expect(json.body.results[0]).toMatchObject({ status: "accepted", topic: topics.fallback })
        const bytes = yield* post(url, new Uint8Array([0, 1, 2, 255]), {
          ...binary,
          "ce-id": "bin-2",
          "content-type": "application/octet-stream",
          ...auth
        })
        expect(bytes.body.results[0]).toMatchObject({ status: "accepted" })
        const records = yield* Effect.promise(() => readTopics([topics.fallback]))
        const events = records.map((r) => JSON.parse(r.value)).filter((e) => e.source === "/sensors/7")
        expect(events.find((e) => e.id === "bin-1")).toEqual({
          specversion: "1.0",
          id: "bin-1",
          source: "/sensors/7",
          type: "sensor.reading",
          subject: "room 1",
          region: "eu",
          datacontenttype: "application/json",
          data: { celsius: 21.5 }
        })
        expect(events.find((e) => e.id === "bin-2").data_base64).toBe("AAEC/w==")
      })
    )

    it.effect(
      "catches duplicates across requests, and says retry while another request holds the event",
      () =>
        Effect.gen(function* () {
          const url = yield* baseUrl
          const auth = yield* keyFor("/shop")
          const first = yield* post(url, JSON.stringify(cloudEvent("dup-1")), { ...STRUCTURED, ...auth })
          expect(first.body.results[0].status).toBe("accepted")
          const again = yield* post(url, JSON.stringify([cloudEvent("dup-1"), cloudEvent("dup-2")]), {
            ...BATCH,
            ...auth
          })
          expect(again.body.results.map((r: { status: string }) => r.status)).toEqual([
            "duplicate",
            "accepted"
          ])

          // A pending claim of another request (as a concurrent request or a crash leaves it).
          const redis = new Redis(serviceUrls.redis)
          yield* Effect.promise(() =>
            redis.set(
              identityKey(dedupPrefix, { source: "/shop", id: "dup-3" }),
              "p:someone-else",
              "PX",
              30_000
            )
          )
          yield* Effect.promise(() => redis.quit())
          const pending = yield* post(url, JSON.stringify(cloudEvent("dup-3")), { ...STRUCTURED, ...auth })
          expect(pending.body.results[0]).toEqual({
            index: 0,
            status: "retry",
            id: "dup-3",
            source: "/shop",
            reason: "another request with this event is in flight; send it again later"
          })
          const orders = yield* Effect.promise(() => readTopics([topics.orders]))
          expect(
            orders.filter((r) => JSON.parse(r.value).id.startsWith("dup-")).map((r) => JSON.parse(r.value).id)
          ).toEqual(["dup-1", "dup-2"])
        })
    )

    it.effect("a produce failure answers 503, releases the pending keys, and the retry is accepted", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const auth = yield* keyFor("/shop")
        // A real broker refusal: the orders topic will not take records over 1,000 bytes.
        const admin = testKafka().admin()
        yield* Effect.promise(() => admin.connect())
        const alter = (bytes: string) =>
          Effect.promise(() =>
            admin.alterConfigs({
              validateOnly: false,
              resources: [
                { type: 2, name: topics.orders, configEntries: [{ name: "max.message.bytes", value: bytes }] }
              ]
            })
          )
        yield* alter("1000")
        const event = cloudEvent("fail-1", { data: { amount: 1, note: "n".repeat(1500) } })
        const before = yield* Effect.promise(() => topicEndOffsets(topics.orders))
        const failed = yield* post(url, JSON.stringify(event), { ...STRUCTURED, ...auth })
        expect(failed.status).toBe(503)
        expect(failed.contentType).toBe("application/problem+json")
        expect(failed.headers.get("retry-after")).toBe("3")
        expect(failed.body).toMatchObject({
          status: 503,
          type: "urn:eventflow:problem:unavailable",
          retryAfter: 3
        })
        const redis = new Redis(serviceUrls.redis)
        const pendingKey = yield* Effect.promise(() =>
          redis.get(identityKey(dedupPrefix, { source: "/shop", id: "fail-1" }))
        )
        yield* Effect.promise(() => redis.quit())
        expect(pendingKey).toBeNull()
        expect(yield* Effect.promise(() => topicEndOffsets(topics.orders))).toBe(before)

        yield* alter("1048588")
        yield* Effect.promise(() => admin.disconnect())
        const retried = yield* post(url, JSON.stringify(event), { ...STRUCTURED, ...auth })
        expect(retried.body.results[0]).toMatchObject({ status: "accepted", id: "fail-1" })
      })
    )

    it.effect("answers every kind of bad input with the right status and problem", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const auth = yield* keyFor("/shop")
        const event = JSON.stringify(cloudEvent("bad-1"))
        const cases: Array<[string, string | Uint8Array, Record<string, string>, number, string, string?]> = [
          ["invalid JSON", "{nope", { ...STRUCTURED, ...auth }, 400, "bad-request"],
          ["empty body", "", { ...STRUCTURED, ...auth }, 400, "bad-request", "the body is empty"],
          [
            "invalid UTF-8",
            new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
            { ...STRUCTURED, ...auth },
            400,
            "bad-request",
            "the body is not valid UTF-8"
          ],
          [
            "deep nesting",
            `${"[".repeat(20)}${"]".repeat(20)}`,
            { "content-type": "application/json", ...auth },
            400,
            "bad-request",
            "JSON nesting is deeper than the limit of 8"
          ],
          ["array as a single event", `[${event}]`, { ...STRUCTURED, ...auth }, 400, "bad-request"],
          [
            "object as a batch",
            event,
            { ...BATCH, ...auth },
            400,
            "bad-request",
            "a batch must be a JSON array of events"
          ],
          [
            "body over the limit",
            "x".repeat(70 * 1024),
            { ...STRUCTURED, ...auth },
            413,
            "too-large",
            "the body has 71680 bytes; the limit is 65536"
          ],
          [
            "batch over the limit",
            JSON.stringify(Array.from({ length: 51 }, (_, i) => cloudEvent(`b${i}`))),
            { ...BATCH, ...auth },
            413,
            "too-large",
            "the batch has 51 events; the limit is 50"
          ],
          [
            "form content type",
            "a=b",
            { "content-type": "application/x-www-form-urlencoded", ...auth },
            415,
            "unsupported-media-type"
          ],
          ["no content type", event, { ...auth }, 415, "unsupported-media-type"],
          ["no write key", event, { ...STRUCTURED }, 401, "unauthorized"],
          [
            "unknown write key",
            event,
            {
              ...STRUCTURED,
              authorization: "Bearer efk_000000000000_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            },
            401,
            "unauthorized",
            "the write key is unknown or revoked"
          ],
          [
            "another source",
            JSON.stringify(cloudEvent("bad-2", { source: "/other" })),
            { ...STRUCTURED, ...auth },
            403,
            "forbidden",
            "this write key may write events of source '/shop', not '/other'"
          ]
        ]
        for (const [name, body, headers, status, type, detail] of cases) {
          const response = yield* post(url, body, headers)
          expect({ name, status: response.status, contentType: response.contentType }).toEqual({
            name,
            status,
            contentType: "application/problem+json"
          })
          expect(response.body).toMatchObject({ type: `urn:eventflow:problem:${type}`, status })
          if (detail !== undefined) expect(response.body.detail).toBe(detail)
        }
        // Basic auth with the key as user works as Bearer does.
        const basic = `Basic ${Buffer.from(`${auth.authorization.slice(7)}:`).toString("base64")}`
        const viaBasic = yield* post(url, event, { ...STRUCTURED, authorization: basic })
        expect(viaBasic.status).toBe(202)
        // A body without Content-Length that passes the limit is cut off while streaming.
        const chunked = yield* Effect.promise(async () => {
          const stream = new ReadableStream({
            start(controller) {
              for (let i = 0; i < 80; i++) controller.enqueue(new TextEncoder().encode("x".repeat(1024)))
              controller.close()
            }
          })
          const response = await fetch(`${url}/v1/events`, {
            method: "POST",
            body: stream,
            headers: { ...STRUCTURED, ...auth },
            duplex: "half"
          } as RequestInit)
          return { status: response.status, body: await response.json() }
        })
        expect(chunked).toMatchObject({
          status: 413,
          body: { detail: "the body is larger than the limit of 65536 bytes" }
        })
        const wrongMethod = yield* Effect.promise(() => fetch(`${url}/v1/events`))
        expect([wrongMethod.status, wrongMethod.headers.get("allow")]).toEqual([405, "POST"])
        const missing = yield* Effect.promise(() => fetch(`${url}/v2/nothing`))
        expect([missing.status, missing.headers.get("content-type")]).toEqual([
          404,
          "application/problem+json"
        ])
      })
    )

    it.effect("serves its OpenAPI document", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const doc = (yield* Effect.promise(() => fetch(`${url}/openapi.json`).then((r) => r.json()))) as any
        expect(doc.openapi).toBe("3.1.0")
        expect(Object.keys(doc.paths)).toEqual(["/v1/events", "/healthz", "/readyz", "/openapi.json"])
      })
    )

    it.effect("reports readiness of each backend", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const ready = yield* Effect.promise(() =>
          fetch(`${url}/readyz`).then(async (r) => [r.status, await r.json()])
        )
        expect(ready[0]).toBe(200)
        expect(
          (ready[1] as { components: Array<{ name: string; ok: boolean }> }).components.map((c) => [
            c.name,
            c.ok
          ])
        ).toEqual([
          ["eventlog", true],
          ["dedup", true],
          ["keys", true]
        ])
      })
    )
  })

  // A second server on the same Redis and Kafka: as after a restart, what the first accepted is a duplicate.
  withLayer(
    layerTestIngest(distributedBackends(serviceUrls.redis, dedupPrefix), { topicPrefix: prefix, routesFile }),
    {
      timeout: 120_000,
      excludeTestServices: true
    }
  )((it) => {
    it.effect("catches duplicates across a restart of the ingest service", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const auth = yield* keyFor("/shop")
        const response = yield* post(url, JSON.stringify(cloudEvent("order-1")), { ...STRUCTURED, ...auth })
        expect(response.body.results[0].status).toBe("duplicate")
      })
    )
  })
})

await describeWithServices(["kafka", "redis", "postgres"], "ingest when Redis goes away", () => {
  const prefix = uniquePrefix("noredis")
  const redis = startRedis()
  const backends = Layer.unwrapEffect(
    Effect.map(
      Effect.promise(() => redis),
      (r) => distributedBackends(r.url, "eventflow-test:")
    )
  )
  withLayer(layerTestIngest(backends, { topicPrefix: prefix, routesFile }), {
    timeout: 120_000,
    excludeTestServices: true
  })((it) => {
    it.effect("answers 503 with Retry-After and writes nothing to Kafka, and is unready", () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const auth = yield* keyFor("/shop")
        const ok = yield* post(url, JSON.stringify(cloudEvent("r-1")), { ...STRUCTURED, ...auth })
        expect(ok.body.results[0].status).toBe("accepted")
        const before = yield* Effect.promise(() => topicEndOffsets(`${prefix}events.orders`))
        yield* Effect.promise(() => redis.then((r) => r.stop()))
        const down = yield* post(url, JSON.stringify([cloudEvent("r-2"), { bad: true }]), {
          ...BATCH,
          ...auth
        })
        expect(down.status).toBe(503)
        expect(down.headers.get("retry-after")).toBe("3")
        expect(down.body).toMatchObject({
          type: "urn:eventflow:problem:unavailable",
          title: "A backend is unavailable; nothing of this request was accepted"
        })
        expect(yield* Effect.promise(() => topicEndOffsets(`${prefix}events.orders`))).toBe(before)
        expect(yield* Effect.promise(() => topicEndOffsets(`${prefix}events.dlq`))).toBe(0)
        const ready = yield* Effect.promise(() => fetch(`${url}/readyz`))
        expect(ready.status).toBe(503)
      })
    )
  })
})
