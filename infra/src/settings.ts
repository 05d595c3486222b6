/**
 * The AWS stack's settings: `pulumi.Config("eventflow")` keys with their defaults, and the sizing of
 * each environment (`eventflow:env`: `dev` or `prod`).
 *
 * | key (`eventflow:…`) | default | meaning |
 * | --- | --- | --- |
 * | `env` | `dev` | `dev` (small, single NAT, no failover) or `prod` (multi-AZ everything) |
 * | `vpcCidr` | `10.40.0.0/16` | the VPC block, `/16` to `/20` (see `cidr.ts` for the subnet plan) |
 * | `allowedCorsOrigins` | the dashboard's URL | JSON list (or comma-separated) of origins the query API answers (`EVENTFLOW_CORS_ORIGINS`) |
 * | `dashboardRepository` | none: an Amplify app for manual deployments | Git repository URL the Amplify app builds the dashboard from |
 * | `dashboardBranch` | `main` | the branch Amplify builds |
 * | `githubAccessToken` | none | (secret) GitHub token Amplify uses to read `dashboardRepository` |
 * | `solutionStackName` | newest `64bit Amazon Linux 2023 vX.Y.Z running Docker`, looked up at deployment | the Elastic Beanstalk platform, e.g. `64bit Amazon Linux 2023 v4.6.0 running Docker` |
 * | `kafkaVersion` | `3.9.x` | MSK Kafka version |
 * | `postgresVersion` | `16` | RDS PostgreSQL engine version (major, or major.minor) |
 * | `redisVersion` | `7.1` | ElastiCache Redis engine version |
 * | `databaseSslMode` | `no-verify` | `sslmode` of `DATABASE_URL`: RDS PostgreSQL 16 requires TLS; `no-verify` encrypts without checking the RDS certificate (Node does not trust the RDS CA) |
 * | `topicPrefix` | empty | `EVENTFLOW_TOPIC_PREFIX` (also the prefix of the consumer groups the alarms watch) |
 * | `logLevel` | `info` | `EVENTFLOW_LOG_LEVEL` |
 * | `otelEndpoint` | none: tracing off | `OTEL_EXPORTER_OTLP_ENDPOINT` of every service |
 * | `pipelines` | `["active-users","events-per-type","order-revenue","user-sessions"]` | pipelines whose consumer lag is alarmed on (group `<topicPrefix>eventflow.<pipeline>`) |
 * | `alarmEmail` | none | an email address subscribed to the alarms' SNS topic |
 * | `certificateArn` | none: plain HTTP (see below) | ARN of an ACM certificate of the stack's region (`arn:aws:acm:<region>:<account>:certificate/<id>`): the ingest and query load balancers then listen on HTTPS 443 only (TLS 1.3/1.2 policy), port 80 closed, and the URLs are `https://` |
 * | `domainName` | none | the DNS domain whose names point at the load balancers (CNAME or alias records, made outside this stack): `ingestHostName` and `queryHostName` default to `ingest.<domainName>` and `query.<domainName>` |
 * | `ingestHostName` | `ingest.<domainName>`, else none: the load balancer's Elastic Beanstalk name | host name of the ingest URL (the certificate must cover it) |
 * | `queryHostName` | `query.<domainName>`, else none: the load balancer's Elastic Beanstalk name | host name of the query URL (the certificate must cover it) |
 * | `sizing` | none | an object deep-merged over `sizing(env)`, e.g. `{ "redis": { "nodeType": "cache.t4g.small" } }` |
 *
 * Without `certificateArn` the load balancers speak plain HTTP: the dashboard (HTTPS on Amplify) then
 * reaches the query API through a rewrite of its own origin (`/v1/*`, see `aws/dashboard.ts`), and the
 * program warns that ingest's write keys cross the network in the clear. No ACM certificate can cover
 * an `…elasticbeanstalk.com` name: with a certificate, point DNS names at the load balancers and set
 * `domainName` (or the host names), else clients reject the URLs (the program warns about that too).
 */
import * as pulumi from "@pulumi/pulumi"

export type Env = "dev" | "prod"
export type Role = "ingest" | "process" | "query"
export const ROLES: ReadonlyArray<Role> = ["ingest", "process", "query"]

/** The size of one Elastic Beanstalk environment. */
export interface ServiceSizing {
  readonly instanceType: string
  readonly minInstances: number
  readonly maxInstances: number
}

/** Everything that differs between `dev` and `prod`. */
export interface Sizing {
  readonly network: {
    /** Availability zones used (always 3: MSK's 3 brokers are spread over them). */
    readonly zones: number
    /** NAT gateways: one per zone in prod, a single one in dev. */
    readonly natGateways: number
  }
  readonly kafka: {
    readonly instanceType: string
    /** EBS volume per broker, GiB. */
    readonly volumeSizeGb: number
    /** Brokers (3, one per zone, in both environments). */
    readonly brokers: number
  }
  readonly redis: {
    readonly nodeType: string
    /** Read replicas besides the primary (0 in dev: a single node). */
    readonly replicas: number
    readonly automaticFailover: boolean
    readonly multiAz: boolean
    readonly snapshotRetentionDays: number
  }
  readonly database: {
    readonly instanceClass: string
    readonly allocatedStorageGb: number
    readonly maxAllocatedStorageGb: number
    readonly multiAz: boolean
    readonly backupRetentionDays: number
    readonly deletionProtection: boolean
  }
  readonly services: { readonly [R in Role]: ServiceSizing }
  readonly topics: {
    readonly partitions: number
    readonly replication: number
  }
  readonly alarms: {
    /** Records a pipeline's consumer group may be behind (max over its topics) for 5 minutes. */
    readonly consumerLagRecords: number
    /** 5xx answers of an environment's targets per minute, for 5 minutes. */
    readonly http5xxPerMinute: number
    /** Average CPU % of an environment's instances, for 10 minutes. */
    readonly serviceCpuPercent: number
    readonly databaseCpuPercent: number
    /** Free storage of the database, bytes. */
    readonly databaseFreeStorageBytes: number
    /** Redis engine CPU % (the Redis thread). */
    readonly redisCpuPercent: number
    /** Redis memory used, % of the node's maxmemory. */
    readonly redisMemoryPercent: number
  }
}

const GiB = 1024 ** 3

/** The sizing of an environment (pure: no Pulumi config read). */
export const sizing = (env: Env): Sizing => {
  const prod = env === "prod"
  return {
    network: { zones: 3, natGateways: prod ? 3 : 1 },
    kafka: {
      instanceType: prod ? "kafka.m7g.large" : "kafka.t3.small",
      volumeSizeGb: prod ? 500 : 20,
      brokers: 3
    },
    redis: {
      nodeType: prod ? "cache.r7g.large" : "cache.t4g.micro",
      replicas: prod ? 2 : 0,
      automaticFailover: prod,
      multiAz: prod,
      snapshotRetentionDays: prod ? 7 : 0
    },
    database: {
      instanceClass: prod ? "db.m7g.large" : "db.t4g.micro",
      allocatedStorageGb: prod ? 100 : 20,
      maxAllocatedStorageGb: prod ? 1000 : 50,
      multiAz: prod,
      backupRetentionDays: prod ? 30 : 7,
      deletionProtection: prod
    },
    services: prod
      ? {
          ingest: { instanceType: "c6i.large", minInstances: 2, maxInstances: 6 },
          process: { instanceType: "m6i.large", minInstances: 2, maxInstances: 3 },
          query: { instanceType: "m6i.large", minInstances: 2, maxInstances: 4 }
        }
      : {
          ingest: { instanceType: "t3.small", minInstances: 1, maxInstances: 2 },
          process: { instanceType: "t3.small", minInstances: 1, maxInstances: 2 },
          query: { instanceType: "t3.small", minInstances: 1, maxInstances: 2 }
        },
    topics: { partitions: 3, replication: 3 },
    alarms: {
      consumerLagRecords: prod ? 100_000 : 500_000,
      http5xxPerMinute: prod ? 10 : 50,
      serviceCpuPercent: 80,
      databaseCpuPercent: 80,
      databaseFreeStorageBytes: (prod ? 20 : 2) * GiB,
      redisCpuPercent: 80,
      redisMemoryPercent: 80
    }
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * `base` with `override`'s values deep-merged over it. Throws on a key `base` does not have or on a
 * value of another type than the one it replaces (a typo in `eventflow:sizing` must not pass silently).
 */
export const mergeSizing = <T>(base: T, override: unknown, path = "sizing"): T => {
  if (override === undefined || override === null) return base
  if (!isObject(override) || !isObject(base)) {
    throw new Error(`eventflow:${path} must be an object.`)
  }
  const result: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(override)) {
    const current = (base as Record<string, unknown>)[key]
    const where = `${path}.${key}`
    if (current === undefined) {
      throw new Error(`eventflow:${where} is not a sizing setting.`)
    }
    if (isObject(current)) {
      result[key] = mergeSizing(current, value, where)
    } else if (typeof value !== typeof current) {
      throw new Error(`eventflow:${where} must be a ${typeof current}, not ${JSON.stringify(value)}.`)
    } else {
      result[key] = value
    }
  }
  return result as T
}

export const DEFAULT_PIPELINES: ReadonlyArray<string> = [
  "active-users",
  "events-per-type",
  "order-revenue",
  "user-sessions"
]

/** Everything the AWS stack reads from its configuration. */
export interface Settings {
  readonly env: Env
  /** `eventflow-<stack>`: the prefix of physical names. */
  readonly name: string
  readonly vpcCidr: string
  /** Undefined: the dashboard's own origin. */
  readonly allowedCorsOrigins: ReadonlyArray<string> | undefined
  readonly dashboardRepository: string | undefined
  readonly dashboardBranch: string
  readonly githubAccessToken: pulumi.Output<string> | undefined
  /** Undefined: the newest Docker on Amazon Linux 2023 platform, looked up at deployment. */
  readonly solutionStackName: string | undefined
  readonly kafkaVersion: string
  readonly postgresVersion: string
  readonly redisVersion: string
  readonly databaseSslMode: string
  readonly topicPrefix: string
  readonly logLevel: string
  readonly otelEndpoint: string | undefined
  readonly pipelines: ReadonlyArray<string>
  readonly alarmEmail: string | undefined
  /** An ACM certificate of the stack's region; undefined: the load balancers speak plain HTTP. */
  readonly certificateArn: string | undefined
  readonly domainName: string | undefined
  /** The host names of the public URLs; undefined: the load balancer's Elastic Beanstalk name. */
  readonly hostNames: { readonly ingest: string | undefined; readonly query: string | undefined }
  readonly sizing: Sizing
}

/** An ACM certificate ARN; groups: partition, region, account. */
const CERTIFICATE_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):acm:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):certificate\/[A-Za-z0-9-]+$/
/** A fully qualified DNS name (at least two labels), lower case. */
const DNS_NAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/

/** `eventflow:certificateArn`, checked: an ACM certificate ARN, of `region` when it is known. */
export const parseCertificateArn = (
  text: string | undefined,
  region: string | undefined
): string | undefined => {
  if (text === undefined || text.trim() === "") return undefined
  const arn = text.trim()
  const match = CERTIFICATE_ARN.exec(arn)
  if (match === null) {
    throw new Error(
      `eventflow:certificateArn must be the ARN of an ACM certificate (arn:aws:acm:<region>:<account>:certificate/<id>), not '${arn}'.`
    )
  }
  if (region !== undefined && match[2] !== region) {
    throw new Error(
      `eventflow:certificateArn is a certificate of ${match[2]}, but the stack deploys to ${region}: the load balancers need an ACM certificate of their own region.`
    )
  }
  return arn
}

/** A DNS name setting, checked and lower-cased. */
export const parseDnsName = (key: string, text: string | undefined): string | undefined => {
  if (text === undefined || text.trim() === "") return undefined
  const name = text.trim().toLowerCase().replace(/\.$/, "")
  if (!DNS_NAME.test(name)) {
    throw new Error(
      `eventflow:${key} must be a DNS name such as eventflow.example.com, not '${text.trim()}'.`
    )
  }
  return name
}

/** What the stack's operator should know about its settings (logged as warnings at deployment). */
export const settingsWarnings = (s: Pick<Settings, "certificateArn" | "hostNames">): string[] => {
  if (s.certificateArn === undefined) {
    return [
      "eventflow:certificateArn is not set: the ingest and query load balancers listen on plain HTTP, so write keys (and read tokens) cross the network in the clear until eventflow:certificateArn is set. The dashboard reaches the query API through its own HTTPS origin (an Amplify rewrite), whose hop to the load balancer is plain HTTP too."
    ]
  }
  const unnamed = (["ingest", "query"] as const).filter((role) => s.hostNames[role] === undefined)
  if (unnamed.length === 0) return []
  return [
    `eventflow:certificateArn is set but ${unnamed.join(" and ")} ${unnamed.length === 1 ? "has" : "have"} no host name: ${unnamed.length === 1 ? "its URL is its load balancer's" : "their URLs are their load balancers'"} Elastic Beanstalk name, which no ACM certificate covers, so clients will refuse the connection. Point DNS names covered by the certificate at the load balancers and set eventflow:domainName (or eventflow:ingestHostName and eventflow:queryHostName).`
  ]
}

/** The regular expression of the default solution stack (looked up, newest first). */
export const DOCKER_SOLUTION_STACK_REGEX = "^64bit Amazon Linux 2023 v[0-9.]+ running Docker$"

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "none"]

/** A list given as a JSON array or as a comma-separated string. */
export const parseList = (key: string, text: string | undefined): ReadonlyArray<string> | undefined => {
  if (text === undefined) return undefined
  const trimmed = text.trim()
  if (trimmed.startsWith("[")) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      throw new Error(`eventflow:${key} is not a valid JSON list.`)
    }
    if (!Array.isArray(parsed) || parsed.some((item) => typeof item !== "string")) {
      throw new Error(`eventflow:${key} must be a list of strings.`)
    }
    return parsed.map((item: string) => item.trim()).filter((item) => item !== "")
  }
  return trimmed
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "")
}

/** Reads the settings of the current stack (`eventflow:*` keys). */
export const loadSettings = (): Settings => {
  const config = new pulumi.Config("eventflow")
  const env = config.get("env") ?? "dev"
  if (env !== "dev" && env !== "prod") {
    throw new Error(`eventflow:env must be 'dev' or 'prod', not '${env}'.`)
  }
  const logLevel = config.get("logLevel") ?? "info"
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new Error(`eventflow:logLevel must be one of ${LOG_LEVELS.join(", ")}, not '${logLevel}'.`)
  }
  const pipelines = parseList("pipelines", config.get("pipelines")) ?? DEFAULT_PIPELINES
  for (const pipeline of pipelines) {
    if (!/^[A-Za-z0-9._-]+$/.test(pipeline)) {
      throw new Error(`eventflow:pipelines has '${pipeline}', not a pipeline name.`)
    }
  }
  const domainName = parseDnsName("domainName", config.get("domainName"))
  const hostName = (role: "ingest" | "query") =>
    parseDnsName(`${role}HostName`, config.get(`${role}HostName`)) ??
    (domainName === undefined ? undefined : `${role}.${domainName}`)
  return {
    env,
    name: `eventflow-${pulumi.getStack()}`,
    vpcCidr: config.get("vpcCidr") ?? "10.40.0.0/16",
    allowedCorsOrigins: parseList("allowedCorsOrigins", config.get("allowedCorsOrigins")),
    dashboardRepository: config.get("dashboardRepository"),
    dashboardBranch: config.get("dashboardBranch") ?? "main",
    githubAccessToken: config.getSecret("githubAccessToken"),
    solutionStackName: config.get("solutionStackName"),
    kafkaVersion: config.get("kafkaVersion") ?? "3.9.x",
    postgresVersion: config.get("postgresVersion") ?? "16",
    redisVersion: config.get("redisVersion") ?? "7.1",
    databaseSslMode: config.get("databaseSslMode") ?? "no-verify",
    topicPrefix: config.get("topicPrefix") ?? "",
    logLevel,
    otelEndpoint: config.get("otelEndpoint"),
    pipelines,
    alarmEmail: config.get("alarmEmail"),
    certificateArn: parseCertificateArn(config.get("certificateArn"), new pulumi.Config("aws").get("region")),
    domainName,
    hostNames: { ingest: hostName("ingest"), query: hostName("query") },
    sizing: mergeSizing(sizing(env), config.getObject<unknown>("sizing"))
  }
}
