import { describe, expect, it } from "vitest"
import { contains, formatCidr, overlaps, parseCidr, planSubnets, subdivide } from "../src/cidr.ts"

describe("parseCidr / formatCidr", () => {
  it("round-trips valid blocks", () => {
    for (const text of ["10.40.0.0/16", "0.0.0.0/0", "192.168.1.128/25", "255.255.255.255/32"]) {
      expect(formatCidr(parseCidr(text))).toBe(text)
    }
    expect(parseCidr("10.40.0.0/16")).toEqual({ address: 10 * 2 ** 24 + 40 * 2 ** 16, prefix: 16 })
  })

  it("rejects malformed blocks with a sentence", () => {
    expect(() => parseCidr("10.40.0.0")).toThrow("'10.40.0.0' is not an IPv4 CIDR block like 10.40.0.0/16.")
    expect(() => parseCidr("10.40.0/16")).toThrow("is not an IPv4 CIDR block")
    expect(() => parseCidr("fd00::/8")).toThrow("is not an IPv4 CIDR block")
    expect(() => parseCidr("10.256.0.0/16")).toThrow("'10.256.0.0/16' has an address part above 255.")
    expect(() => parseCidr("10.0.0.0/33")).toThrow("'10.0.0.0/33' has a prefix length above 32.")
  })

  it("rejects a block whose host bits are set, suggesting the network", () => {
    expect(() => parseCidr("10.40.1.0/16")).toThrow(
      "'10.40.1.0/16' is not a network address: its host bits are not zero (did you mean 10.40.0.0/16?)."
    )
  })
})

describe("subdivide, contains, overlaps", () => {
  const vpc = parseCidr("10.40.0.0/16")

  it("cuts numbered blocks out of a parent", () => {
    expect(formatCidr(subdivide(vpc, 20, 0))).toBe("10.40.0.0/20")
    expect(formatCidr(subdivide(vpc, 20, 15))).toBe("10.40.240.0/20")
    expect(formatCidr(subdivide(vpc, 24, 255))).toBe("10.40.255.0/24")
    expect(() => subdivide(vpc, 20, 16)).toThrow("A /16 block has 16 blocks of /20, not a block number 16.")
    expect(() => subdivide(vpc, 8, 0)).toThrow("A /8 block cannot be cut out of a /16 block.")
  })

  it("knows containment and overlap", () => {
    expect(contains(vpc, parseCidr("10.40.16.0/20"))).toBe(true)
    expect(contains(vpc, parseCidr("10.41.0.0/20"))).toBe(false)
    expect(contains(parseCidr("10.40.16.0/20"), vpc)).toBe(false)
    expect(overlaps(parseCidr("10.40.0.0/24"), parseCidr("10.40.0.0/20"))).toBe(true)
    expect(overlaps(parseCidr("10.40.0.0/24"), parseCidr("10.40.16.0/20"))).toBe(false)
  })
})

describe("planSubnets", () => {
  it("plans the default /16: three public /24 and three private /20", () => {
    expect(planSubnets("10.40.0.0/16")).toEqual({
      public: ["10.40.0.0/24", "10.40.1.0/24", "10.40.2.0/24"],
      private: ["10.40.16.0/20", "10.40.32.0/20", "10.40.48.0/20"]
    })
  })

  it("plans the smallest accepted VPC, a /20: public /28 and private /24", () => {
    expect(planSubnets("172.16.32.0/20")).toEqual({
      public: ["172.16.32.0/28", "172.16.32.16/28", "172.16.32.32/28"],
      private: ["172.16.33.0/24", "172.16.34.0/24", "172.16.35.0/24"]
    })
  })

  it("gives disjoint subnets, all inside the VPC, for every accepted size", () => {
    for (const prefix of [16, 17, 18, 19, 20]) {
      const vpcText = `10.0.0.0/${prefix}`
      const vpc = parseCidr(vpcText)
      const plan = planSubnets(vpcText)
      const all = [...plan.public, ...plan.private].map(parseCidr)
      expect(all).toHaveLength(6)
      for (const subnet of all) expect(contains(vpc, subnet)).toBe(true)
      for (let i = 0; i < all.length; i++) {
        for (let j = i + 1; j < all.length; j++) expect(overlaps(all[i]!, all[j]!)).toBe(false)
      }
      for (const subnet of plan.public) expect(parseCidr(subnet).prefix).toBeLessThanOrEqual(28)
    }
  })

  it("plans fewer zones on request", () => {
    expect(planSubnets("10.40.0.0/16", 1)).toEqual({ public: ["10.40.0.0/24"], private: ["10.40.16.0/20"] })
    expect(() => planSubnets("10.40.0.0/16", 4)).toThrow(
      "The subnet plan covers 1 to 3 availability zones, not 4."
    )
  })

  it("refuses ranges AWS or the plan cannot use, with a sentence", () => {
    expect(() => planSubnets("10.0.0.0/8")).toThrow(
      "The VPC block 10.0.0.0/8 is too large: AWS accepts /16 at most."
    )
    expect(() => planSubnets("10.40.0.0/21")).toThrow(
      "The VPC block 10.40.0.0/21 is too small: it must be /20 or larger (e.g. 10.40.0.0/16)."
    )
    expect(() => planSubnets("10.40.0.0/28")).toThrow("is too small")
    expect(() => planSubnets("not a cidr")).toThrow("'not a cidr' is not an IPv4 CIDR block")
  })
})
