import { ConfigProvider, Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { connectionConfig, KafkaConnectionConfig } from "../src/index.ts"

const read = (env: Record<string, string>) =>
  Effect.runSync(
    Effect.either(
      Effect.withConfigProvider(KafkaConnectionConfig, ConfigProvider.fromMap(new Map(Object.entries(env))))
    )
  )

describe("Kafka connection settings", () => {
  it("are plaintext without SASL by default, TLS with KAFKA_SSL", () => {
    expect(read({})).toEqual(Either.right({ ssl: false }))
    expect(read({ KAFKA_SSL: "true" })).toEqual(Either.right({ ssl: true }))
    expect(connectionConfig({ ssl: false })).toEqual({ ssl: false })
  })

  it("take SASL/SCRAM (Amazon MSK), over TLS unless told otherwise", () => {
    const scram = {
      KAFKA_SASL_MECHANISM: "scram-sha-512",
      KAFKA_SASL_USERNAME: "app",
      KAFKA_SASL_PASSWORD: "pw"
    }
    const sasl = { mechanism: "scram-sha-512", username: "app", password: "pw" }
    expect(read(scram)).toEqual(Either.right({ ssl: true, sasl }))
    expect(read({ ...scram, KAFKA_SSL: "false" })).toEqual(Either.right({ ssl: false, sasl }))
    expect(
      connectionConfig({ ssl: true, sasl: { mechanism: "scram-sha-512", username: "app", password: "pw" } })
    ).toEqual({
      ssl: true,
      sasl
    })
  })

  it("say in a sentence what is missing or wrong, never the password", () => {
    const missing = read({ KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_PASSWORD: "secret-pw" })
    expect(Either.isLeft(missing)).toBe(true)
    const text = String(Either.isLeft(missing) ? missing.left : "")
    expect(text).toContain("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required")
    expect(text).not.toContain("secret-pw")
    expect(
      Either.isLeft(
        read({ KAFKA_SASL_MECHANISM: "gssapi", KAFKA_SASL_USERNAME: "a", KAFKA_SASL_PASSWORD: "b" })
      )
    ).toBe(true)
  })
})
