/**
 * The local stack (`eventflow:target: local`, infra/src/local) under Pulumi's runtime mocks: every
 * resource the program registers is recorded (type, name, inputs) and checked, no Docker engine needed.
 * One stack configuration per file: the program runs once, at import.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type * as Pulumi from "@pulumi/pulumi"
import { describe, expect, it, vi } from "vitest"
import { parse } from "yaml"
import {
  databaseUrl as databaseUrlOf,
  endpoints,
  kafkaEnv,
  prometheusConfig,
  readSettings,
  serviceEnv
} from "../src/local/settings.ts"

// The AWS stack is not what this file tests, and @pulumi/aws is slow to load: stand in for it.
vi.mock("../src/aws/index.ts", () => ({
  awsStack: () => {
    throw new Error("the aws stack must not run when eventflow:target is local")
  }
}))

const root = fileURLToPath(new URL("../../", import.meta.url))
const repoFile = (path: string) => readFileSync(join(root, path), "utf8")

interface Recorded {
  readonly type: string
  readonly name: string
  readonly inputs: Record<string, any>
}
const recorded: Recorded[] = []
const mockPassword = "MockPassword0123456789abcdefABCD"
const mockImageId = "sha256:0123456789abcdef"

// @pulumi/pulumi reads PULUMI_CONFIG when it loads: set it first, then load it.
process.env.PULUMI_CONFIG = JSON.stringify({ "eventflow:target": "local" })
const pulumi = await import("@pulumi/pulumi")
await pulumi.runtime.setMocks(
  {
    newResource: (args) => {
      recorded.push({ type: args.type, name: args.name, inputs: args.inputs })
      const computed: Record<string, unknown> =
        args.type === "random:index/randomPassword:RandomPassword"
          ? { result: mockPassword }
          : args.type === "docker:index/image:Image"
            ? { repoDigest: mockImageId }
            : args.type === "docker:index/remoteImage:RemoteImage"
              ? { imageId: `sha256:${args.inputs.name}` }
              : {}
      return { id: `${args.name}-id`, state: { ...args.inputs, ...computed } }
    },
    call: (args) => args.inputs
  },
  "eventflow",
  "local",
  false
)

const program = await import("../index.ts")
const resolve = <T>(output: Pulumi.Output<T>) => new Promise<T>((r) => output.apply(r))
const outputs = {
  ingestUrl: await resolve(program.ingestUrl),
  queryUrl: await resolve(program.queryUrl),
  dashboardUrl: await resolve(program.dashboardUrl)
}
// Resources whose inputs wait on other resources (the password, the image ID) register later.
await pulumi.runtime.disconnect()

const ofType = (type: string) => recorded.filter((r) => r.type === type)
const containers = () => ofType("docker:index/container:Container")
const container = (name: string) => {
  const found = containers().filter((c) => c.name === name)
  expect(found, `container ${name}`).toHaveLength(1)
  return found[0]!.inputs
}
/** `envs` (KEY=value lines) as an object; a repeated key fails. */
const envOf = (name: string): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const line of container(name).envs as string[]) {
    const eq = line.indexOf("=")
    const key = line.slice(0, eq)
    expect(env, `${name}: ${key} set twice`).not.toHaveProperty(key)
    env[key] = line.slice(eq + 1)
  }
  return env
}
const upload = (name: string, file: string): string => {
  const found = (container(name).uploads as Array<{ file: string; content: string }>).filter(
    (u) => u.file === file
  )
  expect(found, `${name}: upload ${file}`).toHaveLength(1)
  return found[0]!.content
}

const databaseUrl = `postgres://postgres:${mockPassword}@postgres:5432/eventflow`
const services = [
  { role: "ingest", port: 8080 },
  { role: "query", port: 8081 },
  { role: "process", port: 8082 }
] as const

describe("local stack: resources", () => {
  it("registers the network, the volumes, the password, one image and the containers", () => {
    expect(ofType("docker:index/network:Network").map((r) => r.inputs.name)).toEqual(["eventflow-net"])
    expect(
      ofType("docker:index/volume:Volume")
        .map((r) => r.inputs.name)
        .sort()
    ).toEqual(["eventflow-kafka-data", "eventflow-postgres-data"])
    expect(ofType("random:index/randomPassword:RandomPassword")).toHaveLength(1)
    expect(ofType("docker:index/image:Image")).toHaveLength(1)
    expect(
      containers()
        .map((c) => c.name)
        .sort()
    ).toEqual(["grafana", "ingest", "jaeger", "kafka", "postgres", "process", "prometheus", "query", "redis"])
    expect(
      ofType("docker:index/remoteImage:RemoteImage")
        .map((r) => r.inputs.name)
        .sort()
    ).toEqual([
      "apache/kafka:3.9.1",
      "grafana/grafana:12.0.0",
      "jaegertracing/jaeger:2.9.0",
      "postgres:16",
      "prom/prometheus:v3.5.0",
      "redis:7"
    ])
    const known = new Set([
      "pulumi:pulumi:Stack",
      "pulumi:providers:docker",
      "pulumi:providers:random",
      "docker:index/network:Network",
      "docker:index/volume:Volume",
      "docker:index/image:Image",
      "docker:index/remoteImage:RemoteImage",
      "docker:index/container:Container",
      "random:index/randomPassword:RandomPassword"
    ])
    expect(recorded.map((r) => r.type).filter((t) => !known.has(t))).toEqual([])
  })

  it("builds the EventFlow image from infra/docker/Dockerfile with the repo root as context, without pushing", () => {
    const [image] = ofType("docker:index/image:Image")
    expect(image!.inputs).toMatchObject({
      imageName: "eventflow:local",
      skipPush: true,
      build: { context: ".", dockerfile: "infra/docker/Dockerfile" }
    })
  })

  it("publishes every port on 127.0.0.1 only", () => {
    const published = containers().flatMap((c) =>
      ((c.inputs.ports ?? []) as Array<{ ip?: string; internal: number; external: number }>).map((p) => ({
        container: c.name,
        ...p
      }))
    )
    // 3 services, kafka, postgres, redis, prometheus, grafana, jaeger (UI, OTLP gRPC, OTLP HTTP)
    expect(published).toHaveLength(11)
    for (const port of published) expect(port, port.container).toMatchObject({ ip: "127.0.0.1" })
  })

  it("puts every container on the stack's network under its role's name", () => {
    for (const c of containers()) {
      expect(c.inputs.networksAdvanced, c.name).toEqual([{ name: "eventflow-net", aliases: [c.name] }])
      expect(c.inputs.restart, c.name).toBe("unless-stopped")
    }
  })
})

describe("local stack: the EventFlow services", () => {
  for (const { role, port } of services) {
    it(`${role}: the built image, command [${role}], its env, port ${port} on 127.0.0.1, /readyz healthcheck`, () => {
      const c = container(role)
      expect(c.image).toBe(mockImageId)
      expect(c.command).toEqual([role])
      expect(envOf(role)).toEqual({
        KAFKA_BROKERS: "kafka:29092",
        REDIS_URL: "redis://redis:6379",
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        EVENTFLOW_HOST: "0.0.0.0",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318"
      })
      expect(c.ports).toEqual([{ internal: port, external: port, ip: "127.0.0.1" }])
      expect(c.healthcheck.tests.slice(0, 3)).toEqual(["CMD", "node", "-e"])
      expect(c.healthcheck.tests[3]).toContain(`'http://127.0.0.1:${port}/readyz'`)
      expect(c.healthcheck).toMatchObject({ interval: "10s", timeout: "5s", retries: 6, startPeriod: "30s" })
    })
  }
})

describe("local stack: the backends", () => {
  it("postgres gets the generated password, its data volume, port 5432 on 127.0.0.1", () => {
    expect(envOf("postgres")).toEqual({
      POSTGRES_USER: "postgres",
      POSTGRES_PASSWORD: mockPassword,
      POSTGRES_DB: "eventflow"
    })
    const pg = container("postgres")
    expect(pg.image).toBe("sha256:postgres:16")
    expect(pg.ports).toEqual([{ internal: 5432, external: 5432, ip: "127.0.0.1" }])
    expect(pg.volumes).toEqual([
      { volumeName: "eventflow-postgres-data", containerPath: "/var/lib/postgresql/data" }
    ])
    expect(pg.healthcheck.tests).toEqual(["CMD-SHELL", "pg_isready -U postgres -d eventflow"])
    const [password] = ofType("random:index/randomPassword:RandomPassword")
    expect(password!.inputs).toMatchObject({ length: 32, special: false })
  })

  it("kafka: KRaft single node with infra/docker-compose.yml's settings", () => {
    const compose = parse(repoFile("infra/docker-compose.yml")).services.kafka
    const expected = Object.fromEntries(
      Object.entries(compose.environment as Record<string, unknown>).map(([k, v]) => [k, String(v)])
    )
    expect(envOf("kafka")).toEqual(expected)
    const kafka = container("kafka")
    expect(kafka.image).toBe(`sha256:${compose.image}`)
    expect(kafka.ports).toEqual([{ internal: 9092, external: 9092, ip: "127.0.0.1" }])
    expect(kafka.volumes).toEqual([
      { volumeName: "eventflow-kafka-data", containerPath: "/var/lib/kafka/data" }
    ])
    expect(kafka.healthcheck.tests).toEqual(compose.healthcheck.test)
    expect(kafka.wait).toBe(true)
  })

  it("redis: as in infra/docker-compose.yml", () => {
    const compose = parse(repoFile("infra/docker-compose.yml")).services.redis
    const redis = container("redis")
    expect(redis.image).toBe(`sha256:${compose.image}`)
    expect(redis.command).toEqual(compose.command)
    expect(redis.healthcheck.tests).toEqual(compose.healthcheck.test)
    expect(redis.ports).toEqual([{ internal: 6379, external: 6379, ip: "127.0.0.1" }])
  })
})

describe("local stack: monitoring", () => {
  it("prometheus scrapes the three service containers, with the alert rules uploaded", () => {
    const config = parse(upload("prometheus", "/etc/prometheus/prometheus.yml"))
    expect(config.rule_files).toEqual(["alerts.yml"])
    expect(
      (
        config.scrape_configs as Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>
      ).map((j) => [j.job_name, j.static_configs.flatMap((s) => s.targets)])
    ).toEqual([
      ["eventflow-ingest", ["ingest:8080"]],
      ["eventflow-query", ["query:8081"]],
      ["eventflow-process", ["process:8082"]]
    ])
    expect(upload("prometheus", "/etc/prometheus/alerts.yml")).toBe(repoFile("infra/monitoring/alerts.yml"))
    // the same settings and job names (the dashboard and the alerts select on them) as the compose setup's
    const compose = parse(repoFile("infra/monitoring/prometheus.yml"))
    expect(config.global).toEqual(compose.global)
    expect(config.rule_files).toEqual(compose.rule_files)
    expect(config.scrape_configs.map((j: { job_name: string }) => j.job_name)).toEqual(
      compose.scrape_configs.map((j: { job_name: string }) => j.job_name)
    )
  })

  it("grafana gets the provisioning files and the dashboard, byte for byte", () => {
    const dashboard = upload("grafana", "/var/lib/grafana/dashboards/eventflow.json")
    const onDisk = readFileSync(join(root, "infra/monitoring/grafana/dashboards/eventflow.json"))
    expect(Buffer.from(dashboard, "utf8").equals(onDisk)).toBe(true)
    expect(upload("grafana", "/etc/grafana/provisioning/datasources/prometheus.yml")).toBe(
      repoFile("infra/monitoring/grafana/provisioning/datasources/prometheus.yml")
    )
    expect(upload("grafana", "/etc/grafana/provisioning/dashboards/eventflow.yml")).toBe(
      repoFile("infra/monitoring/grafana/provisioning/dashboards/eventflow.yml")
    )
    expect(envOf("grafana")).toMatchObject({
      GF_AUTH_ANONYMOUS_ENABLED: "true",
      GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: "/var/lib/grafana/dashboards/eventflow.json"
    })
    expect(container("grafana").ports).toEqual([{ internal: 3000, external: 3000, ip: "127.0.0.1" }])
  })

  it("jaeger: OTLP and the UI, as in infra/docker-compose.yml", () => {
    expect(container("jaeger").image).toBe("sha256:jaegertracing/jaeger:2.9.0")
    expect(envOf("jaeger")).toEqual({ JAEGER_LISTEN_HOST: "0.0.0.0" })
    expect(container("jaeger").ports).toEqual([
      { internal: 16686, external: 16686, ip: "127.0.0.1" },
      { internal: 4317, external: 4317, ip: "127.0.0.1" },
      { internal: 4318, external: 4318, ip: "127.0.0.1" }
    ])
  })
})

describe("local stack: outputs", () => {
  it("the services' URLs on localhost", () => {
    expect(outputs).toEqual({
      ingestUrl: "http://localhost:8080",
      queryUrl: "http://localhost:8081",
      dashboardUrl: "http://localhost:8081/"
    })
  })
})

describe("local stack: pure helpers", () => {
  const config = (values: Record<string, string | number>) => ({
    get: (key: string) => (key in values ? String(values[key]) : undefined),
    getNumber: (key: string) => (key in values ? Number(values[key]) : undefined)
  })

  it("readSettings: the defaults, then the config's values", () => {
    expect(readSettings(config({}))).toEqual({
      namePrefix: "eventflow",
      imageName: "eventflow:local",
      platform: undefined,
      ports: {
        ingest: 8080,
        query: 8081,
        process: 8082,
        kafka: 9092,
        postgres: 5432,
        redis: 6379,
        prometheus: 9090,
        grafana: 3000,
        jaegerUi: 16686,
        otlpGrpc: 4317,
        otlpHttp: 4318
      }
    })
    const custom = readSettings(
      config({ localIngestPort: 18080, localNamePrefix: "ef", localPlatform: "linux/arm64" })
    )
    expect(custom.ports.ingest).toBe(18080)
    expect(custom.namePrefix).toBe("ef")
    expect(custom.platform).toBe("linux/arm64")
  })

  it("readSettings: rejects a port out of range and two services on one port", () => {
    expect(() => readSettings(config({ localQueryPort: 70000 }))).toThrow(/localQueryPort/)
    expect(() => readSettings(config({ localGrafanaPort: 8080 }))).toThrow(
      /localGrafanaPort and eventflow:localIngestPort/
    )
  })

  it("serviceEnv: distributed mode, the role's port", () => {
    expect(serviceEnv("process", endpoints("pw"))).toEqual({
      KAFKA_BROKERS: "kafka:29092",
      REDIS_URL: "redis://redis:6379",
      DATABASE_URL: "postgres://postgres:pw@postgres:5432/eventflow",
      PORT: "8082",
      EVENTFLOW_HOST: "0.0.0.0",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://jaeger:4318"
    })
  })

  it("databaseUrl: the password is URL-encoded", () => {
    expect(databaseUrlOf("a/b@c:d")).toBe("postgres://postgres:a%2Fb%40c%3Ad@postgres:5432/eventflow")
  })

  it("kafkaEnv: host clients are told the host port", () => {
    expect(kafkaEnv(19092).KAFKA_ADVERTISED_LISTENERS).toBe(
      "PLAINTEXT://localhost:19092,DOCKER://kafka:29092"
    )
  })

  it("prometheusConfig: valid YAML, one job per role, every target", () => {
    const config = parse(prometheusConfig({ ingest: ["a:1", "b:2"], query: ["q:3"], process: ["p:4"] }))
    expect(config.global).toEqual({ scrape_interval: "5s", scrape_timeout: "5s", evaluation_interval: "5s" })
    expect(config.scrape_configs).toEqual([
      {
        job_name: "eventflow-ingest",
        metrics_path: "/metrics",
        static_configs: [{ targets: ["a:1", "b:2"] }]
      },
      { job_name: "eventflow-query", metrics_path: "/metrics", static_configs: [{ targets: ["q:3"] }] },
      { job_name: "eventflow-process", metrics_path: "/metrics", static_configs: [{ targets: ["p:4"] }] }
    ])
  })
})
