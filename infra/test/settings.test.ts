import * as pulumi from "@pulumi/pulumi"
import { beforeAll, describe, expect, it } from "vitest"
import {
  DEFAULT_PIPELINES,
  loadSettings,
  mergeSizing,
  parseCertificateArn,
  parseDnsName,
  parseList,
  settingsWarnings,
  sizing
} from "../src/settings.ts"

describe("sizing", () => {
  it("always runs 3 brokers over 3 zones and replicates topics 3 times", () => {
    for (const env of ["dev", "prod"] as const) {
      const s = sizing(env)
      expect(s.network.zones).toBe(3)
      expect(s.kafka.brokers).toBe(3)
      expect(s.topics).toEqual({ partitions: 3, replication: 3 })
    }
  })

  it("makes prod highly available and dev small", () => {
    const dev = sizing("dev")
    const prod = sizing("prod")
    expect(dev.network.natGateways).toBe(1)
    expect(prod.network.natGateways).toBe(3)
    expect(dev.redis).toMatchObject({ replicas: 0, automaticFailover: false, multiAz: false })
    expect(prod.redis).toMatchObject({ replicas: 2, automaticFailover: true, multiAz: true })
    expect(dev.database).toMatchObject({ multiAz: false, backupRetentionDays: 7, deletionProtection: false })
    expect(prod.database).toMatchObject({ multiAz: true, backupRetentionDays: 30, deletionProtection: true })
    expect(prod.kafka.volumeSizeGb).toBeGreaterThan(dev.kafka.volumeSizeGb)
    for (const role of ["ingest", "process", "query"] as const) {
      expect(dev.services[role].minInstances).toBe(1)
      expect(prod.services[role].minInstances).toBeGreaterThanOrEqual(2)
      for (const s of [dev, prod]) {
        expect(s.services[role].maxInstances).toBeGreaterThanOrEqual(s.services[role].minInstances)
      }
    }
  })

  it("is pure: each call gives a fresh, equal value", () => {
    expect(sizing("prod")).toEqual(sizing("prod"))
    expect(sizing("prod")).not.toBe(sizing("prod"))
  })
})

describe("mergeSizing", () => {
  it("deep-merges an override", () => {
    const merged = mergeSizing(sizing("dev"), {
      redis: { nodeType: "cache.t4g.small" },
      services: { query: { maxInstances: 5 } }
    })
    expect(merged.redis.nodeType).toBe("cache.t4g.small")
    expect(merged.redis.replicas).toBe(0)
    expect(merged.services.query).toEqual({ instanceType: "t3.small", minInstances: 1, maxInstances: 5 })
    expect(mergeSizing(sizing("dev"), undefined)).toEqual(sizing("dev"))
  })

  it("rejects unknown keys and wrong types with a sentence", () => {
    expect(() => mergeSizing(sizing("dev"), { redis: { nodetype: "x" } })).toThrow(
      "eventflow:sizing.redis.nodetype is not a sizing setting."
    )
    expect(() => mergeSizing(sizing("dev"), { database: { multiAz: "yes" } })).toThrow(
      'eventflow:sizing.database.multiAz must be a boolean, not "yes".'
    )
    expect(() => mergeSizing(sizing("dev"), { kafka: 3 })).toThrow(
      "eventflow:sizing.kafka must be an object."
    )
  })
})

describe("parseList", () => {
  it("reads JSON lists and comma-separated strings", () => {
    expect(parseList("k", undefined)).toBeUndefined()
    expect(parseList("k", '["a", " b "]')).toEqual(["a", "b"])
    expect(parseList("k", "a, b,,c")).toEqual(["a", "b", "c"])
    expect(() => parseList("k", "[1]")).toThrow("eventflow:k must be a list of strings.")
    expect(() => parseList("k", "[oops")).toThrow("eventflow:k is not a valid JSON list.")
  })
})

describe("loadSettings", () => {
  beforeAll(async () => {
    await pulumi.runtime.setMocks(
      { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
      "eventflow",
      "aws-test",
      false
    )
  })
  const withConfig = (config: Record<string, string>) => {
    pulumi.runtime.setAllConfig({ "eventflow:target": "aws", ...config })
    return loadSettings()
  }

  it("has documented defaults", () => {
    const s = withConfig({})
    expect(s).toMatchObject({
      env: "dev",
      name: "eventflow-aws-test",
      vpcCidr: "10.40.0.0/16",
      allowedCorsOrigins: undefined,
      dashboardRepository: undefined,
      dashboardBranch: "main",
      githubAccessToken: undefined,
      solutionStackName: undefined,
      kafkaVersion: "3.9.x",
      postgresVersion: "16",
      redisVersion: "7.1",
      databaseSslMode: "no-verify",
      topicPrefix: "",
      logLevel: "info",
      otelEndpoint: undefined,
      pipelines: DEFAULT_PIPELINES,
      alarmEmail: undefined,
      certificateArn: undefined,
      domainName: undefined,
      hostNames: { ingest: undefined, query: undefined }
    })
    expect(s.sizing).toEqual(sizing("dev"))
    expect(DEFAULT_PIPELINES).toEqual(["active-users", "events-per-type", "order-revenue", "user-sessions"])
  })

  it("reads every key", async () => {
    const s = withConfig({
      "eventflow:env": "prod",
      "eventflow:vpcCidr": "10.50.0.0/16",
      "eventflow:allowedCorsOrigins": '["https://a.example.com"]',
      "eventflow:dashboardRepository": "https://github.com/example/eventflow",
      "eventflow:dashboardBranch": "release",
      "eventflow:githubAccessToken": "token",
      "eventflow:pipelines": "a,b",
      "eventflow:sizing": JSON.stringify({ kafka: { volumeSizeGb: 1000 } }),
      "eventflow:logLevel": "debug"
    })
    expect(s.env).toBe("prod")
    expect(s.vpcCidr).toBe("10.50.0.0/16")
    expect(s.allowedCorsOrigins).toEqual(["https://a.example.com"])
    expect(s.dashboardBranch).toBe("release")
    expect(s.pipelines).toEqual(["a", "b"])
    expect(s.logLevel).toBe("debug")
    expect(s.sizing.kafka.volumeSizeGb).toBe(1000)
    expect(s.sizing.database.deletionProtection).toBe(true)
    expect(await new Promise((resolve) => s.githubAccessToken!.apply(resolve))).toBe("token")
    expect(pulumi.Output.isInstance(s.githubAccessToken)).toBe(true)
  })

  const ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"

  it("reads the certificate and the DNS names of the load balancers", () => {
    const s = withConfig({
      "aws:region": "eu-west-1",
      "eventflow:certificateArn": ARN,
      "eventflow:domainName": "EventFlow.Example.com."
    })
    expect(s.certificateArn).toBe(ARN)
    expect(s.domainName).toBe("eventflow.example.com")
    expect(s.hostNames).toEqual({
      ingest: "ingest.eventflow.example.com",
      query: "query.eventflow.example.com"
    })
    // A host name of its own wins over the domain's; without a domain, the other has none.
    expect(
      withConfig({ "eventflow:domainName": "example.com", "eventflow:queryHostName": "api.example.org" })
        .hostNames
    ).toEqual({ ingest: "ingest.example.com", query: "api.example.org" })
    expect(withConfig({ "eventflow:ingestHostName": "collect.example.com" }).hostNames).toEqual({
      ingest: "collect.example.com",
      query: undefined
    })
    // Without aws:region (a test), the certificate's region is not checked.
    expect(
      withConfig({ "eventflow:certificateArn": ARN.replace("eu-west-1", "us-east-1") }).certificateArn
    ).toBe(ARN.replace("eu-west-1", "us-east-1"))
  })

  it("rejects what is not an ACM certificate of the stack's region, or not a DNS name, with a sentence", () => {
    for (const arn of [
      "arn:aws:iam::123456789012:server-certificate/eventflow",
      "arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/0a1b2c3d",
      "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
    ]) {
      expect(() => withConfig({ "eventflow:certificateArn": arn })).toThrow(
        `eventflow:certificateArn must be the ARN of an ACM certificate (arn:aws:acm:<region>:<account>:certificate/<id>), not '${arn}'.`
      )
    }
    expect(() =>
      withConfig({
        "aws:region": "eu-west-1",
        "eventflow:certificateArn": ARN.replace("eu-west-1", "us-east-1")
      })
    ).toThrow(
      "eventflow:certificateArn is a certificate of us-east-1, but the stack deploys to eu-west-1: the load balancers need an ACM certificate of their own region."
    )
    expect(() => withConfig({ "eventflow:domainName": "https://example.com" })).toThrow(
      "eventflow:domainName must be a DNS name such as eventflow.example.com, not 'https://example.com'."
    )
    expect(() => withConfig({ "eventflow:queryHostName": "query" })).toThrow(
      "eventflow:queryHostName must be a DNS name such as eventflow.example.com, not 'query'."
    )
    expect(parseCertificateArn(" ", "eu-west-1")).toBeUndefined()
    expect(parseDnsName("domainName", undefined)).toBeUndefined()
  })

  it("rejects bad values with a sentence", () => {
    expect(() => withConfig({ "eventflow:env": "staging" })).toThrow(
      "eventflow:env must be 'dev' or 'prod', not 'staging'."
    )
    expect(() => withConfig({ "eventflow:logLevel": "loud" })).toThrow("eventflow:logLevel must be one of")
    expect(() => withConfig({ "eventflow:pipelines": "a b" })).toThrow(
      "eventflow:pipelines has 'a b', not a pipeline name."
    )
    expect(() => withConfig({ "eventflow:sizing": '{"nat":1}' })).toThrow(
      "eventflow:sizing.nat is not a sizing setting."
    )
  })
})

describe("settingsWarnings", () => {
  const named = { ingest: "ingest.example.com", query: "query.example.com" }
  it("warns that write keys travel in the clear without a certificate", () => {
    const [warning, ...rest] = settingsWarnings({ certificateArn: undefined, hostNames: named })
    expect(rest).toEqual([])
    expect(warning).toContain("write keys (and read tokens) cross the network in the clear")
  })

  it("warns that a certificate cannot cover an Elastic Beanstalk name", () => {
    const arn = "arn:aws:acm:eu-west-1:123456789012:certificate/x"
    expect(settingsWarnings({ certificateArn: arn, hostNames: named })).toEqual([])
    expect(settingsWarnings({ certificateArn: arn, hostNames: { ...named, query: undefined } })).toEqual([
      expect.stringMatching(
        /^eventflow:certificateArn is set but query has no host name: its URL is its load balancer's Elastic Beanstalk name/
      )
    ])
    expect(
      settingsWarnings({ certificateArn: arn, hostNames: { ingest: undefined, query: undefined } })[0]
    ).toMatch(/^eventflow:certificateArn is set but ingest and query have no host name: their URLs are/)
  })
})

describe("the example stack configurations", () => {
  beforeAll(async () => {
    await pulumi.runtime.setMocks(
      { newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args) => args.inputs },
      "eventflow",
      "aws-example",
      false
    )
  })

  it.each([
    ["Pulumi.aws-dev.yaml", "dev"],
    ["Pulumi.aws-prod.yaml", "prod"]
  ] as const)("%s is a valid %s AWS stack", async (file, env) => {
    const { readFileSync } = await import("node:fs")
    const { parse } = await import("yaml")
    const text = readFileSync(new URL(`../../${file}`, import.meta.url), "utf8")
    const config = parse(text).config as Record<string, unknown>
    expect(config["eventflow:target"]).toBe("aws")
    expect(config["aws:region"]).toEqual(expect.any(String))
    // The language host hands structured values to the program as JSON.
    const asStrings = Object.fromEntries(
      Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])
    )
    pulumi.runtime.setAllConfig(asStrings)
    const s = loadSettings()
    expect(s.env).toBe(env)
    expect(s.pipelines).toEqual(DEFAULT_PIPELINES)
    expect(text).not.toMatch(/secure:/)
  })
})
