/**
 * The local stack (`eventflow:target: local`, see Pulumi.local.yaml): EventFlow in distributed mode
 * on this machine's Docker engine. Kafka (KRaft, one node), Postgres and Redis as in
 * infra/docker-compose.yml; the ingest, query and process services from an image built from
 * infra/docker/Dockerfile; Prometheus, Grafana and Jaeger as the compose file's `monitoring` profile,
 * with the configuration uploaded into the containers (read from infra/monitoring at `pulumi up`).
 *
 * Every published port is bound to 127.0.0.1. Config keys (namespace `eventflow`), all optional:
 *   localIngestPort 8080, localQueryPort 8081, localProcessPort 8082   the services on the host
 *   localKafkaPort 9092, localPostgresPort 5432, localRedisPort 6379    the backends on the host
 *   localPrometheusPort 9090, localGrafanaPort 3000, localJaegerUiPort 16686,
 *   localOtlpGrpcPort 4317, localOtlpHttpPort 4318                       monitoring on the host
 *   localNamePrefix "eventflow"     Docker names: <prefix>-kafka, <prefix>-ingest, <prefix>-net, ...
 *   localImageName "eventflow:local"  the tag of the built image
 *   localPlatform                   build for this platform (e.g. linux/amd64); default: the engine's
 */
import { readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import * as docker from "@pulumi/docker"
import * as pulumi from "@pulumi/pulumi"
import * as random from "@pulumi/random"
import {
  containerPorts,
  endpoints,
  envList,
  grafanaEnv,
  hosts,
  httpHealthcheck,
  images,
  kafkaEnv,
  type LocalSettings,
  postgres,
  prometheusConfig,
  type Role,
  readSettings,
  roles,
  serviceEnv,
  serviceTargets
} from "./settings.ts"

export * from "./settings.ts"

/** The repo root (this file is infra/src/local/index.ts). */
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))

/** A file of the repo, read now: its contents go into the stack (uploads), not its path. */
const repoFile = (path: string): string => readFileSync(join(repoRoot, path), "utf8")

/** The build context, relative to the working directory (the repo root, where Pulumi.yaml is). */
const buildContext = (): string => relative(process.cwd(), repoRoot) || "."

export interface LocalStackOutputs {
  readonly ingestUrl: pulumi.Output<string>
  readonly queryUrl: pulumi.Output<string>
  readonly dashboardUrl: pulumi.Output<string>
}

const restart = "unless-stopped"

/** A published port, reachable from this machine only. */
const localPort = (internal: number, external: number) => ({ internal, external, ip: "127.0.0.1" })

export const localStack = (): LocalStackOutputs => {
  const settings: LocalSettings = readSettings(new pulumi.Config("eventflow"))
  const { ports, namePrefix } = settings
  const name = (what: string) => `${namePrefix}-${what}`

  const network = new docker.Network("network", { name: name("net"), driver: "bridge" })
  const onNetwork = (alias: string) => [{ name: network.name, aliases: [alias] }]

  const kafkaData = new docker.Volume("kafka-data", { name: name("kafka-data") })
  const postgresData = new docker.Volume("postgres-data", { name: name("postgres-data") })

  const pulled = (key: keyof typeof images) =>
    new docker.RemoteImage(`${key}-image`, { name: images[key], keepLocally: true })

  // --- backends --------------------------------------------------------------------------------

  const kafka = new docker.Container("kafka", {
    name: name("kafka"),
    image: pulled("kafka").imageId,
    envs: envList(kafkaEnv(ports.kafka)),
    ports: [localPort(9092, ports.kafka)],
    volumes: [{ volumeName: kafkaData.name, containerPath: "/var/lib/kafka/data" }],
    networksAdvanced: onNetwork(hosts.kafka),
    healthcheck: {
      tests: [
        "CMD-SHELL",
        "/opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 --list >/dev/null 2>&1"
      ],
      interval: "10s",
      timeout: "20s",
      retries: 12,
      startPeriod: "20s"
    },
    restart,
    // `pulumi up` goes on to the services only once the backends are healthy.
    wait: true,
    waitTimeout: 180
  })

  const password = new random.RandomPassword("postgres-password", { length: 32, special: false })
  const postgresContainer = new docker.Container("postgres", {
    name: name("postgres"),
    image: pulled("postgres").imageId,
    envs: password.result.apply((pw) => [
      `POSTGRES_USER=${postgres.user}`,
      `POSTGRES_PASSWORD=${pw}`,
      `POSTGRES_DB=${postgres.database}`
    ]),
    ports: [localPort(postgres.port, ports.postgres)],
    volumes: [{ volumeName: postgresData.name, containerPath: "/var/lib/postgresql/data" }],
    networksAdvanced: onNetwork(hosts.postgres),
    healthcheck: {
      tests: ["CMD-SHELL", `pg_isready -U ${postgres.user} -d ${postgres.database}`],
      interval: "5s",
      timeout: "5s",
      retries: 20
    },
    restart,
    wait: true,
    waitTimeout: 120
  })

  const redis = new docker.Container("redis", {
    name: name("redis"),
    image: pulled("redis").imageId,
    command: ["redis-server", "--save", "", "--appendonly", "no"],
    ports: [localPort(6379, ports.redis)],
    networksAdvanced: onNetwork(hosts.redis),
    healthcheck: { tests: ["CMD", "redis-cli", "ping"], interval: "5s", timeout: "3s", retries: 20 },
    restart,
    wait: true,
    waitTimeout: 120
  })

  // --- monitoring (before the services: they send traces to jaeger from the start) ---------------

  const jaeger = new docker.Container("jaeger", {
    name: name("jaeger"),
    image: pulled("jaeger").imageId,
    envs: ["JAEGER_LISTEN_HOST=0.0.0.0"],
    ports: [
      localPort(16686, ports.jaegerUi),
      localPort(4317, ports.otlpGrpc),
      localPort(4318, ports.otlpHttp)
    ],
    networksAdvanced: onNetwork(hosts.jaeger),
    restart
  })

  // --- the EventFlow services --------------------------------------------------------------------

  const image = new docker.Image("eventflow-image", {
    imageName: settings.imageName,
    build: {
      context: buildContext(),
      dockerfile: join(buildContext(), "infra/docker/Dockerfile"),
      ...(settings.platform === undefined ? {} : { platform: settings.platform })
    },
    skipPush: true
  })

  const hostPort: Record<Role, number> = { ingest: ports.ingest, query: ports.query, process: ports.process }
  const services = roles.map(
    (role) =>
      new docker.Container(
        role,
        {
          name: name(role),
          // The image ID: a rebuilt image replaces the containers.
          image: image.repoDigest,
          command: [role],
          envs: password.result.apply((pw) => envList(serviceEnv(role, endpoints(pw)))),
          ports: [localPort(containerPorts[role], hostPort[role])],
          networksAdvanced: onNetwork(role),
          healthcheck: httpHealthcheck(containerPorts[role], "/readyz"),
          restart,
          // SIGTERM, then up to 30 s to drain before SIGKILL.
          stopTimeout: 30,
          destroyGraceSeconds: 30
        },
        { dependsOn: [kafka, postgresContainer, redis, jaeger] }
      )
  )

  const prometheus = new docker.Container(
    "prometheus",
    {
      name: name("prometheus"),
      image: pulled("prometheus").imageId,
      ports: [localPort(9090, ports.prometheus)],
      networksAdvanced: onNetwork(hosts.prometheus),
      uploads: [
        // The image's command reads /etc/prometheus/prometheus.yml; rule_files are relative to it.
        {
          file: "/etc/prometheus/prometheus.yml",
          content: prometheusConfig(serviceTargets()),
          permissions: "0644"
        },
        {
          file: "/etc/prometheus/alerts.yml",
          content: repoFile("infra/monitoring/alerts.yml"),
          permissions: "0644"
        }
      ],
      restart
    },
    { dependsOn: services }
  )

  new docker.Container(
    "grafana",
    {
      name: name("grafana"),
      image: pulled("grafana").imageId,
      envs: envList(grafanaEnv),
      ports: [localPort(3000, ports.grafana)],
      networksAdvanced: onNetwork(hosts.grafana),
      uploads: [
        {
          file: "/etc/grafana/provisioning/datasources/prometheus.yml",
          content: repoFile("infra/monitoring/grafana/provisioning/datasources/prometheus.yml"),
          permissions: "0644"
        },
        {
          file: "/etc/grafana/provisioning/dashboards/eventflow.yml",
          content: repoFile("infra/monitoring/grafana/provisioning/dashboards/eventflow.yml"),
          permissions: "0644"
        },
        {
          file: "/var/lib/grafana/dashboards/eventflow.json",
          content: repoFile("infra/monitoring/grafana/dashboards/eventflow.json"),
          permissions: "0644"
        }
      ],
      restart
    },
    { dependsOn: [prometheus, jaeger] }
  )

  return {
    ingestUrl: pulumi.output(`http://localhost:${ports.ingest}`),
    queryUrl: pulumi.output(`http://localhost:${ports.query}`),
    dashboardUrl: pulumi.output(`http://localhost:${ports.query}/`)
  }
}
