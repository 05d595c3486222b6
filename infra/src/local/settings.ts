/**
 * The local Docker stack's pure parts: its settings (with their defaults), the services' environment,
 * the generated Prometheus configuration. No Pulumi resources here, so that each is tested alone.
 *
 * Third-party images and their settings are those of infra/docker-compose.yml: keep the two in step.
 */

/** The images of infra/docker-compose.yml. */
export const images = {
  kafka: "apache/kafka:3.9.1",
  postgres: "postgres:16",
  redis: "redis:7",
  prometheus: "prom/prometheus:v3.5.0",
  grafana: "grafana/grafana:12.0.0",
  jaeger: "jaegertracing/jaeger:2.9.0"
} as const

/** The EventFlow services, one container each (`eventflow <role>`). */
export type Role = "ingest" | "query" | "process"
export const roles: ReadonlyArray<Role> = ["ingest", "query", "process"]

/** Each service's PORT inside the Docker network (the CLI's defaults); Prometheus scrapes these. */
export const containerPorts: Readonly<Record<Role, number>> = { ingest: 8080, query: 8081, process: 8082 }

/**
 * Host names on the stack's Docker network (network aliases). Grafana's provisioned data sources
 * (infra/monitoring/grafana/provisioning/datasources) point at `prometheus` and `jaeger`.
 */
export const hosts = {
  kafka: "kafka",
  postgres: "postgres",
  redis: "redis",
  prometheus: "prometheus",
  grafana: "grafana",
  jaeger: "jaeger"
} as const

/** Postgres as in infra/docker-compose.yml, but with a generated password. */
export const postgres = { user: "postgres", database: "eventflow", port: 5432 } as const

/** Kafka's listener for the other containers (`DOCKER` in infra/docker-compose.yml). */
export const kafkaInternalBootstrap = "kafka:29092"

/** The stack's settings: `pulumi config set eventflow:<key> <value>` (see Pulumi.local.yaml). */
export interface LocalSettings {
  /** Prefix of the Docker names (containers, network, volumes): `<prefix>-kafka`, ... */
  readonly namePrefix: string
  /** The tag given to the EventFlow image built from infra/docker/Dockerfile. */
  readonly imageName: string
  /** Build the image for this platform (`linux/amd64`, ...); default: the Docker engine's. */
  readonly platform: string | undefined
  /** Host ports, all bound to 127.0.0.1. */
  readonly ports: {
    readonly ingest: number
    readonly query: number
    readonly process: number
    readonly kafka: number
    readonly postgres: number
    readonly redis: number
    readonly prometheus: number
    readonly grafana: number
    readonly jaegerUi: number
    readonly otlpGrpc: number
    readonly otlpHttp: number
  }
}

/** Config key (in the `eventflow` namespace) and default of each host port. */
export const portKeys = {
  ingest: ["localIngestPort", 8080],
  query: ["localQueryPort", 8081],
  process: ["localProcessPort", 8082],
  kafka: ["localKafkaPort", 9092],
  postgres: ["localPostgresPort", 5432],
  redis: ["localRedisPort", 6379],
  prometheus: ["localPrometheusPort", 9090],
  grafana: ["localGrafanaPort", 3000],
  jaegerUi: ["localJaegerUiPort", 16686],
  otlpGrpc: ["localOtlpGrpcPort", 4317],
  otlpHttp: ["localOtlpHttpPort", 4318]
} as const satisfies Record<keyof LocalSettings["ports"], readonly [string, number]>

/** What is read of a `pulumi.Config` (an interface, so that tests pass a plain object). */
export interface ConfigReader {
  get(key: string): string | undefined
  getNumber(key: string): number | undefined
}

/** The settings from the stack's config, with the defaults; an invalid or repeated port throws. */
export const readSettings = (config: ConfigReader): LocalSettings => {
  const ports = {} as Record<keyof LocalSettings["ports"], number>
  const used = new Map<number, string>()
  for (const [name, [key, fallback]] of Object.entries(portKeys)) {
    const port = config.getNumber(key) ?? fallback
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new Error(`eventflow:${key} must be a port number from 1 to 65535, not ${port}`)
    }
    const other = used.get(port)
    if (other !== undefined) throw new Error(`eventflow:${key} and eventflow:${other} are both ${port}`)
    used.set(port, key)
    ports[name as keyof LocalSettings["ports"]] = port
  }
  return {
    namePrefix: config.get("localNamePrefix") ?? "eventflow",
    imageName: config.get("localImageName") ?? "eventflow:local",
    platform: config.get("localPlatform"),
    ports
  }
}

/** Where the services find their backends, from inside the Docker network. */
export interface Endpoints {
  readonly kafkaBrokers: string
  readonly redisUrl: string
  readonly databaseUrl: string
  readonly otlpEndpoint: string
}

/** The in-network endpoints of the stack, given the Postgres password. */
export const endpoints = (postgresPassword: string): Endpoints => ({
  kafkaBrokers: kafkaInternalBootstrap,
  redisUrl: `redis://${hosts.redis}:6379`,
  databaseUrl: databaseUrl(postgresPassword),
  otlpEndpoint: `http://${hosts.jaeger}:4318`
})

/** `postgres://` URL of the stack's database, for the containers on its network. */
export const databaseUrl = (password: string): string =>
  `postgres://${postgres.user}:${encodeURIComponent(password)}@${hosts.postgres}:${postgres.port}/${postgres.database}`

/** A service's environment: distributed mode (KAFKA_BROKERS set), listening on its port on every interface. */
export const serviceEnv = (role: Role, endpoints: Endpoints): Record<string, string> => ({
  KAFKA_BROKERS: endpoints.kafkaBrokers,
  REDIS_URL: endpoints.redisUrl,
  DATABASE_URL: endpoints.databaseUrl,
  PORT: String(containerPorts[role]),
  EVENTFLOW_HOST: "0.0.0.0",
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoints.otlpEndpoint
})

/** `KEY=value` lines, as docker.Container's `envs` takes them. */
export const envList = (env: Readonly<Record<string, string>>): string[] =>
  Object.entries(env).map(([key, value]) => `${key}=${value}`)

/**
 * Kafka's environment, as in infra/docker-compose.yml: one KRaft node (broker and controller).
 * The PLAINTEXT listener is for clients on the host, advertised as localhost:<host port>; DOCKER
 * (kafka:29092) is for the other containers.
 */
export const kafkaEnv = (hostPort: number): Record<string, string> => ({
  CLUSTER_ID: "ZXZlbnRmbG93LWxvY2FsLQ",
  KAFKA_NODE_ID: "1",
  KAFKA_PROCESS_ROLES: "broker,controller",
  KAFKA_CONTROLLER_QUORUM_VOTERS: "1@localhost:9093",
  KAFKA_LISTENERS: "PLAINTEXT://0.0.0.0:9092,DOCKER://0.0.0.0:29092,CONTROLLER://localhost:9093",
  KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://localhost:${hostPort},DOCKER://${kafkaInternalBootstrap}`,
  KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,DOCKER:PLAINTEXT",
  KAFKA_CONTROLLER_LISTENER_NAMES: "CONTROLLER",
  KAFKA_INTER_BROKER_LISTENER_NAME: "PLAINTEXT",
  KAFKA_LOG_DIRS: "/var/lib/kafka/data",
  KAFKA_NUM_PARTITIONS: "3",
  KAFKA_DEFAULT_REPLICATION_FACTOR: "1",
  KAFKA_MIN_INSYNC_REPLICAS: "1",
  KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: "1",
  KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1",
  KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: "1",
  KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false",
  KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: "0",
  KAFKA_HEAP_OPTS: "-Xmx768m -Xms256m"
})

/** Grafana's environment, as in infra/docker-compose.yml (local use only: anonymous admin, no login). */
export const grafanaEnv: Readonly<Record<string, string>> = {
  GF_AUTH_ANONYMOUS_ENABLED: "true",
  GF_AUTH_ANONYMOUS_ORG_ROLE: "Admin",
  GF_AUTH_DISABLE_LOGIN_FORM: "true",
  GF_ANALYTICS_REPORTING_ENABLED: "false",
  GF_ANALYTICS_CHECK_FOR_UPDATES: "false",
  GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: "/var/lib/grafana/dashboards/eventflow.json"
}

/**
 * A container healthcheck that GETs `path` on the service's own port with Node's fetch (the image
 * has no curl): healthy on a 2xx answer.
 */
export const httpHealthcheck = (port: number, path: string) => ({
  tests: [
    "CMD",
    "node",
    "-e",
    `fetch('http://127.0.0.1:${port}${path}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`
  ],
  interval: "10s",
  timeout: "5s",
  retries: 6,
  startPeriod: "30s"
})

/**
 * prometheus.yml for the stack: infra/monitoring/prometheus.yml's settings (interval, alerts.yml,
 * the job names the dashboard and the alerts use), scraping the service containers by name.
 * JSON strings are YAML strings, hence JSON.stringify for every value.
 */
export const prometheusConfig = (targets: Readonly<Record<Role, ReadonlyArray<string>>>): string => {
  const jobs = roles.map((role) =>
    [
      `  - job_name: ${JSON.stringify(`eventflow-${role}`)}`,
      "    metrics_path: /metrics",
      "    static_configs:",
      `      - targets: [${targets[role].map((t) => JSON.stringify(t)).join(", ")}]`
    ].join("\n")
  )
  return [
    "# Generated by infra/src/local (the Pulumi local stack): EventFlow's containers on the stack's network.",
    "global:",
    "  scrape_interval: 5s",
    "  scrape_timeout: 5s",
    "  evaluation_interval: 5s",
    "rule_files:",
    "  - alerts.yml",
    "scrape_configs:",
    ...jobs,
    ""
  ].join("\n")
}

/** The scrape targets of the stack's services: `<alias>:<port>` on the Docker network. */
export const serviceTargets = (): Record<Role, string[]> => ({
  ingest: [`ingest:${containerPorts.ingest}`],
  query: [`query:${containerPorts.query}`],
  process: [`process:${containerPorts.process}`]
})
