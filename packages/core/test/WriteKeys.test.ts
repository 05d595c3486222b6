import { describe, expect, it } from "vitest"
import { generateWriteKey, hashWriteKey, sourceAllowed, writeKeyId, writeKeyMatches } from "../src/index.ts"

describe("write keys", () => {
  it("embeds a public id in generated keys and derives one for chosen keys", () => {
    const key = generateWriteKey()
    expect(key).toMatch(/^efk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    expect(writeKeyId(key)).toBe(key.slice(4, 16))
    expect(writeKeyId("my-dev-key")).toMatch(/^[0-9a-f]{12}$/)
    expect(writeKeyId("my-dev-key")).toBe(writeKeyId("my-dev-key"))
  })

  it("matches only the key whose hash is stored", () => {
    const key = generateWriteKey()
    const stored = hashWriteKey(key)
    expect(writeKeyMatches(key, stored)).toBe(true)
    expect(writeKeyMatches(`${key}x`, stored)).toBe(false)
    expect(writeKeyMatches(key, stored.subarray(1))).toBe(false)
  })

  it("allows exact sources and prefixes", () => {
    expect(sourceAllowed("/shop", "/shop")).toBe(true)
    expect(sourceAllowed("/shop", "/shop/eu")).toBe(false)
    expect(sourceAllowed("/shop*", "/shop/eu")).toBe(true)
    expect(sourceAllowed("*", "anything")).toBe(true)
  })
})
