/**
 * The AWS program under Pulumi's runtime mocks: every resource the program registers is recorded
 * (type, name, inputs) and the tests assert on the graph of a dev and of a prod stack (both without
 * a certificate: plain HTTP load balancers), and of a prod stack with a certificate (`tls`).
 */
import * as pulumi from "@pulumi/pulumi"
import { beforeAll, describe, expect, it } from "vitest"

interface Recorded {
  readonly type: string
  readonly name: string
  readonly custom: boolean
  readonly inputs: Record<string, any>
  readonly id: string
  /** Top-level inputs that held a secret value (anywhere inside). */
  readonly secretInputs: ReadonlyArray<string>
}

interface StackRun {
  readonly resources: ReadonlyArray<Recorded>
  readonly calls: ReadonlyArray<string>
  readonly outputs: { ingestUrl: string; queryUrl: string; dashboardUrl: string }
  readonly warnings: ReadonlyArray<string>
}

const ACCOUNT = "123456789012"
const REGION = "eu-west-1"
const ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
const MOCK_STACK_NAME = "64bit Amazon Linux 2023 v4.7.0 running Docker"

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve))

/** The id (and computed outputs) the mock gives each resource type. */
const mockState = (type: string, name: string, inputs: Record<string, any>): { id: string; state: any } => {
  const arn = `arn:aws:mock:${REGION}:${ACCOUNT}:${name}`
  const base = { ...inputs, arn }
  switch (type) {
    case "aws:ec2/securityGroup:SecurityGroup":
      return { id: `sg-${name}`, state: base }
    case "aws:ec2/subnet:Subnet":
      return { id: `subnet-${name}`, state: base }
    case "aws:ec2/vpc:Vpc":
      return { id: `vpc-${name}`, state: base }
    case "aws:kms/key:Key":
      return {
        id: `key-${name}`,
        state: { ...base, arn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/${name}`, keyId: name }
      }
    case "aws:secretsmanager/secret:Secret":
      return {
        id: `secret-${name}`,
        state: { ...base, arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${inputs.name}-AbCdEf` }
      }
    case "random:index/randomPassword:RandomPassword":
      return { id: name, state: { ...inputs, result: `pw${name.replace(/[^A-Za-z0-9]/g, "")}` } }
    case "aws:msk/cluster:Cluster":
      return {
        id: name,
        state: {
          ...base,
          bootstrapBrokersSaslScram: "b-1.kafka.mock:9096,b-2.kafka.mock:9096,b-3.kafka.mock:9096",
          bootstrapBrokers: "b-1.kafka.mock:9092"
        }
      }
    case "aws:msk/configuration:Configuration":
      return { id: name, state: { ...base, latestRevision: 1 } }
    case "aws:elasticache/replicationGroup:ReplicationGroup":
      return {
        id: inputs.replicationGroupId,
        state: { ...base, primaryEndpointAddress: "master.redis.mock" }
      }
    case "aws:rds/instance:Instance":
      return { id: inputs.identifier, state: { ...base, address: "postgres.mock", port: 5432 } }
    case "aws:ecr/repository:Repository":
      return {
        id: inputs.name,
        state: { ...base, repositoryUrl: `ecr.mock/${inputs.name}`, registryId: ACCOUNT }
      }
    case "docker:index/image:Image":
      return {
        id: name,
        state: {
          ...inputs,
          repoDigest: `${String(inputs.imageName).split(":")[0]}@sha256:0123456789abcdef0123`
        }
      }
    case "aws:elasticbeanstalk/environment:Environment":
      return {
        id: `e-${inputs.name}`,
        state: {
          ...base,
          cname: `${inputs.name}.mock.${REGION}.elasticbeanstalk.com`,
          loadBalancers: [
            `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}:loadbalancer/app/awseb-${inputs.name}/0123456789`
          ],
          autoscalingGroups: [`awseb-${inputs.name}-asg`]
        }
      }
    case "aws:amplify/app:App":
      return { id: "d1mock", state: { ...base, defaultDomain: "d1mock.amplifyapp.com" } }
    case "aws:iam/role:Role":
    case "aws:iam/instanceProfile:InstanceProfile":
      return { id: name, state: { ...base, name: inputs.name ?? `${name}-physical` } }
    case "aws:sns/topic:Topic":
      return { id: name, state: { ...base, arn: `arn:aws:sns:${REGION}:${ACCOUNT}:${inputs.name}` } }
    default:
      return { id: `${name}-id`, state: base }
  }
}

const SECRET_SIG_KEY = pulumi.runtime.specialSigKey
const SECRET_SIG = pulumi.runtime.specialSecretSig

/** `value` without the secret wrappers the mocks receive; `found` is called for each one. */
const unwrap = (input: unknown, found: () => void): any => {
  if (Array.isArray(input)) return input.map((item) => unwrap(item, found))
  if (typeof input === "object" && input !== null && !(input instanceof pulumi.asset.Archive)) {
    const record = input as Record<string, unknown>
    if (record[SECRET_SIG_KEY] === SECRET_SIG) {
      found()
      return unwrap(record.value, found)
    }
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, unwrap(v, found)]))
  }
  return input
}

const unwrapInputs = (inputs: Record<string, unknown>) => {
  const secretInputs: string[] = []
  const plain = Object.fromEntries(
    Object.entries(inputs).map(([key, v]) => [
      key,
      unwrap(v, () => secretInputs.includes(key) || secretInputs.push(key))
    ])
  )
  return { plain, secretInputs }
}

/** Waits until no resource has been registered for a while (registrations are asynchronous). */
const settle = async (count: () => number) => {
  let last = -1
  let quiet = 0
  while (quiet < 4) {
    await new Promise((resolve) => setTimeout(resolve, 25))
    const now = count()
    quiet = now === last ? quiet + 1 : 0
    last = now
  }
}

const runStack = async (stack: string, config: Record<string, string>): Promise<StackRun> => {
  const resources: Recorded[] = []
  const calls: string[] = []
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const { plain, secretInputs } = unwrapInputs(args.inputs)
        const { id, state } = mockState(args.type, args.name, plain)
        resources.push({
          type: args.type,
          name: args.name,
          custom: args.custom ?? true,
          inputs: plain,
          id,
          secretInputs
        })
        return { id, state }
      },
      call: (args) => {
        calls.push(args.token)
        switch (args.token) {
          case "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {
              id: REGION,
              names: [...ZONES, "eu-west-1d"],
              zoneIds: ["euw1-az1", "euw1-az2", "euw1-az3", "euw1-az4"]
            }
          case "aws:ecr/getAuthorizationToken:getAuthorizationToken":
            return {
              id: REGION,
              userName: "AWS",
              password: "mock-token",
              authorizationToken: "QVdTOm1vY2s=",
              proxyEndpoint: "https://ecr.mock",
              expiresAt: "2030-01-01T00:00:00Z",
              region: REGION
            }
          case "aws:elasticbeanstalk/getSolutionStack:getSolutionStack":
            return { id: REGION, name: MOCK_STACK_NAME, nameRegex: args.inputs.nameRegex }
          default:
            return args.inputs
        }
      }
    },
    "eventflow",
    stack,
    false
  )
  const all = { "eventflow:target": "aws", "aws:region": REGION, ...config }
  process.env.PULUMI_CONFIG = JSON.stringify(all)
  pulumi.runtime.setAllConfig(all)
  const { awsStack } = await import("../src/aws/index.ts")
  const out = awsStack()
  const outputs = {
    ingestUrl: await value(out.ingestUrl),
    queryUrl: await value(out.queryUrl),
    dashboardUrl: await value(out.dashboardUrl)
  }
  await settle(() => resources.length)
  return { resources: [...resources], calls, outputs, warnings: out.warnings }
}

// --- helpers over a run -------------------------------------------------------------------------

const ofType = (run: StackRun, type: string) => run.resources.filter((r) => r.type === type && r.custom)
const one = (run: StackRun, type: string, name?: string): Recorded => {
  const found = ofType(run, type).filter((r) => name === undefined || r.name === name)
  if (found.length !== 1) throw new Error(`expected one ${type} ${name ?? ""}, found ${found.length}`)
  return found[0]!
}
const byId = (run: StackRun, id: string) => run.resources.find((r) => r.id === id)

const countsByType = (run: StackRun) => {
  const counts: Record<string, number> = {}
  for (const r of run.resources) {
    if (r.type.startsWith("pulumi:providers:")) continue
    const key = r.type.split(":").at(-1)!
    const ns =
      r.type.split(":")[0] === "eventflow"
        ? r.type
        : `${r.type.split(":")[0]}:${r.type.split("/")[0]!.split(":")[1]}/${key}`
    counts[ns] = (counts[ns] ?? 0) + 1
  }
  return counts
}

const TYPE = {
  sg: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  subnet: "aws:ec2/subnet:Subnet",
  nat: "aws:ec2/natGateway:NatGateway",
  msk: "aws:msk/cluster:Cluster",
  redis: "aws:elasticache/replicationGroup:ReplicationGroup",
  rds: "aws:rds/instance:Instance",
  ebEnv: "aws:elasticbeanstalk/environment:Environment",
  secret: "aws:secretsmanager/secret:Secret",
  secretVersion: "aws:secretsmanager/secretVersion:SecretVersion",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm"
} as const

/** A rule's peer: the logical name of the referenced group, or the CIDR. */
const peerOf = (run: StackRun, rule: Recorded) =>
  rule.inputs.referencedSecurityGroupId !== undefined
    ? (byId(run, rule.inputs.referencedSecurityGroupId)?.name ?? `?${rule.inputs.referencedSecurityGroupId}`)
    : rule.inputs.cidrIpv4

/** `{ <group name>: ["<peer>:<port>", …] }` of the ingress (or egress) rules, sorted. */
const rulesBySg = (run: StackRun, type: string) => {
  const result: Record<string, string[]> = {}
  for (const sg of ofType(run, TYPE.sg)) result[sg.name] = []
  for (const rule of ofType(run, type)) {
    expect(rule.inputs.ipProtocol).toBe("tcp")
    expect(rule.inputs.fromPort).toBe(rule.inputs.toPort)
    const sg = byId(run, rule.inputs.securityGroupId)!.name
    result[sg]!.push(`${peerOf(run, rule)}:${rule.inputs.fromPort}`)
  }
  for (const key of Object.keys(result)) result[key]!.sort()
  return result
}

const ebSettings = (env: Recorded, namespace: string): Record<string, string> =>
  Object.fromEntries(
    (env.inputs.settings as Array<{ namespace: string; name: string; value: string }>)
      .filter((s) => s.namespace === namespace)
      .map((s) => [s.name, s.value])
  )
const ebEnvOf = (run: StackRun, role: string) => one(run, TYPE.ebEnv, `services-${role}`)

const privateSubnetIds = (run: StackRun) =>
  ofType(run, TYPE.subnet)
    .filter((s) => s.name.startsWith("network-private-"))
    .map((s) => s.id)
    .sort()
const publicSubnetIds = (run: StackRun) =>
  ofType(run, TYPE.subnet)
    .filter((s) => s.name.startsWith("network-public-"))
    .map((s) => s.id)
    .sort()

// --- the stacks ---------------------------------------------------------------------------------

const DEV_CONFIG = { "eventflow:env": "dev" }
const PROD_CONFIG = {
  "eventflow:env": "prod",
  "eventflow:topicPrefix": "prod.",
  "eventflow:otelEndpoint": "http://otel.internal:4318",
  "eventflow:allowedCorsOrigins": JSON.stringify([
    "https://dashboard.example.com",
    "https://ops.example.com"
  ]),
  "eventflow:alarmEmail": "oncall@example.com",
  "eventflow:dashboardRepository": "https://github.com/example/eventflow",
  "eventflow:solutionStackName": "64bit Amazon Linux 2023 v4.9.9 running Docker"
}

const CERTIFICATE_ARN = `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789`
/** prod with a certificate, DNS names under a domain (one overridden), CORS left to its default. */
const { "eventflow:allowedCorsOrigins": _cors, ...PROD_WITHOUT_CORS } = PROD_CONFIG
const TLS_CONFIG = {
  ...PROD_WITHOUT_CORS,
  "eventflow:certificateArn": CERTIFICATE_ARN,
  "eventflow:domainName": "eventflow.example.com",
  "eventflow:ingestHostName": "collect.example.com"
}

/** The Amplify rule of a single-page app (every path that is not a file serves index.html). */
const SPA_RULE = {
  source: "</^[^.]+$|\\.(?!(css|gif|ico|jpg|js|png|txt|svg|woff|woff2|ttf|map|json|webp)$)([^.]+$)/>",
  target: "/index.html",
  status: "200"
}

const runs: Record<"dev" | "prod" | "tls", StackRun> = {} as any

beforeAll(async () => {
  runs.dev = await runStack("aws-dev", DEV_CONFIG)
  runs.prod = await runStack("aws-prod", PROD_CONFIG)
  runs.tls = await runStack("aws-prod", TLS_CONFIG)
}, 90_000)

describe.each(["dev", "prod", "tls"] as const)("the %s stack", (env) => {
  const prod = env !== "dev"
  /** With `eventflow:certificateArn`: HTTPS only on the public load balancers. */
  const tls = env === "tls"
  const run = () => runs[env]
  const name = `eventflow-aws-${prod ? "prod" : "dev"}`
  const ebQueryUrl = `http://${name}-query.mock.${REGION}.elasticbeanstalk.com`

  it("creates the expected resource graph (counts by type)", () => {
    const nodes = prod ? 3 : 1
    const rolesUsingRedis = 2
    const ingressRules = 3 /* lb */ + 3 /* instances */ + 3 /* kafka */ + 3 /* postgres */ + rolesUsingRedis
    const egressRules = 3 /* lb */ + 3 /* https */ + 3 + 3 + rolesUsingRedis + (prod ? 3 /* otel */ : 0)
    const alarms = 4 /* lag */ + 3 * 2 /* 5xx + cpu */ + 2 /* postgres */ + 2 * nodes
    expect(countsByType(run())).toEqual({
      "eventflow:aws:Network": 1,
      "eventflow:aws:Kafka": 1,
      "eventflow:aws:Cache": 1,
      "eventflow:aws:Database": 1,
      "eventflow:aws:Services": 1,
      "eventflow:aws:Dashboard": 1,
      "eventflow:aws:Alarms": 1,
      "aws:ec2/Vpc": 1,
      "aws:ec2/InternetGateway": 1,
      "aws:ec2/Subnet": 6,
      "aws:ec2/RouteTable": 4,
      "aws:ec2/RouteTableAssociation": 6,
      "aws:ec2/Eip": prod ? 3 : 1,
      "aws:ec2/NatGateway": prod ? 3 : 1,
      "aws:ec2/SecurityGroup": 3 + 6,
      "aws:vpc/SecurityGroupIngressRule": ingressRules,
      "aws:vpc/SecurityGroupEgressRule": egressRules,
      "aws:kms/Key": 1,
      "random:index/RandomPassword": 3,
      "aws:secretsmanager/Secret": 3,
      "aws:secretsmanager/SecretVersion": 3,
      "aws:secretsmanager/SecretPolicy": 1,
      "aws:msk/Configuration": 1,
      "aws:msk/Cluster": 1,
      "aws:msk/ScramSecretAssociation": 1,
      "aws:cloudwatch/LogGroup": 1,
      "aws:elasticache/SubnetGroup": 1,
      "aws:elasticache/ReplicationGroup": 1,
      "aws:rds/SubnetGroup": 1,
      "aws:rds/Instance": 1,
      "aws:ecr/Repository": 1,
      "aws:ecr/LifecyclePolicy": 1,
      "docker:index/Image": 1,
      "aws:s3/Bucket": 1,
      "aws:s3/BucketServerSideEncryptionConfiguration": 1,
      "aws:s3/BucketPublicAccessBlock": 1,
      "aws:s3/BucketOwnershipControls": 1,
      "aws:s3/BucketObjectv2": 1,
      "aws:elasticbeanstalk/Application": 1,
      "aws:elasticbeanstalk/ApplicationVersion": 1,
      "aws:elasticbeanstalk/Environment": 3,
      "aws:iam/Role": 2,
      "aws:iam/RolePolicyAttachment": 5,
      "aws:iam/RolePolicy": 1,
      "aws:iam/InstanceProfile": 1,
      "aws:amplify/App": 1,
      "aws:amplify/Branch": 1,
      "aws:sns/Topic": 1,
      ...(prod ? { "aws:sns/TopicSubscription": 1 } : {}),
      "aws:cloudwatch/MetricAlarm": alarms
    })
  })

  it("returns the three URLs: https:// and the DNS names with a certificate", () => {
    expect(run().outputs).toEqual(
      tls
        ? {
            ingestUrl: "https://collect.example.com",
            queryUrl: "https://query.eventflow.example.com",
            dashboardUrl: "https://main.d1mock.amplifyapp.com"
          }
        : {
            ingestUrl: `http://${name}-ingest.mock.${REGION}.elasticbeanstalk.com`,
            queryUrl: ebQueryUrl,
            dashboardUrl: "https://main.d1mock.amplifyapp.com"
          }
    )
  })

  it("warns that write keys cross the network in the clear until a certificate is set", () => {
    if (tls) {
      expect(run().warnings).toEqual([])
      return
    }
    expect(run().warnings).toHaveLength(1)
    expect(run().warnings[0]).toMatch(/^eventflow:certificateArn is not set: .*plain HTTP/)
    expect(run().warnings[0]).toContain(
      "write keys (and read tokens) cross the network in the clear until eventflow:certificateArn is set"
    )
  })

  it("spreads the network over 3 zones with NAT gateways per environment", () => {
    const subnets = ofType(run(), TYPE.subnet)
    const plan = Object.fromEntries(
      subnets.map((s) => [s.name, [s.inputs.cidrBlock, s.inputs.availabilityZone]])
    )
    expect(plan).toEqual({
      "network-public-0": ["10.40.0.0/24", ZONES[0]],
      "network-public-1": ["10.40.1.0/24", ZONES[1]],
      "network-public-2": ["10.40.2.0/24", ZONES[2]],
      "network-private-0": ["10.40.16.0/20", ZONES[0]],
      "network-private-1": ["10.40.32.0/20", ZONES[1]],
      "network-private-2": ["10.40.48.0/20", ZONES[2]]
    })
    expect(subnets.every((s) => s.inputs.mapPublicIpOnLaunch === false)).toBe(true)
    const vpc = one(run(), "aws:ec2/vpc:Vpc")
    expect(vpc.inputs).toMatchObject({
      cidrBlock: "10.40.0.0/16",
      enableDnsHostnames: true,
      enableDnsSupport: true
    })

    const nats = ofType(run(), TYPE.nat)
    expect(nats.map((n) => byId(run(), n.inputs.subnetId)!.name).sort()).toEqual(
      prod ? ["network-public-0", "network-public-1", "network-public-2"] : ["network-public-0"]
    )
    const tables = ofType(run(), "aws:ec2/routeTable:RouteTable")
    const routeOf = (tableName: string) => tables.find((t) => t.name === tableName)!.inputs.routes[0]
    expect(routeOf("network-public")).toEqual({ cidrBlock: "0.0.0.0/0", gatewayId: "network-id" })
    for (const i of [0, 1, 2]) {
      expect(routeOf(`network-private-${i}`)).toEqual({
        cidrBlock: "0.0.0.0/0",
        natGatewayId: `network-nat-${prod ? i : 0}-id`
      })
    }
    const associations = ofType(run(), "aws:ec2/routeTableAssociation:RouteTableAssociation")
    expect(
      Object.fromEntries(
        associations.map((a) => [byId(run(), a.inputs.subnetId)!.name, a.inputs.routeTableId])
      )
    ).toEqual({
      "network-public-0": "network-public-id",
      "network-public-1": "network-public-id",
      "network-public-2": "network-public-id",
      "network-private-0": "network-private-0-id",
      "network-private-1": "network-private-1-id",
      "network-private-2": "network-private-2-id"
    })
    expect(run().calls).toContain("aws:index/getAvailabilityZones:getAvailabilityZones")
  })

  it("runs MSK with 3 brokers, KMS at rest, TLS-only in transit and SASL/SCRAM", () => {
    const cluster = one(run(), TYPE.msk)
    const key = one(run(), "aws:kms/key:Key")
    expect(key.inputs.enableKeyRotation).toBe(true)
    expect(cluster.inputs).toMatchObject({
      clusterName: name,
      numberOfBrokerNodes: 3,
      brokerNodeGroupInfo: {
        instanceType: prod ? "kafka.m7g.large" : "kafka.t3.small",
        securityGroups: ["sg-kafka-brokers"],
        storageInfo: { ebsStorageInfo: { volumeSize: prod ? 500 : 20 } }
      },
      clientAuthentication: { sasl: { scram: true, iam: false }, unauthenticated: false },
      encryptionInfo: {
        encryptionAtRestKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/kafka`,
        encryptionInTransit: { clientBroker: "TLS", inCluster: true }
      },
      configurationInfo: { arn: `arn:aws:mock:${REGION}:${ACCOUNT}:kafka`, revision: 1 }
    })
    expect(cluster.inputs.clientAuthentication.tls).toBeUndefined()
    expect([...cluster.inputs.brokerNodeGroupInfo.clientSubnets].sort()).toEqual(privateSubnetIds(run()))

    const configuration = one(run(), "aws:msk/configuration:Configuration")
    expect(configuration.inputs.serverProperties.split("\n")).toEqual(
      expect.arrayContaining([
        "auto.create.topics.enable=false",
        "default.replication.factor=3",
        "min.insync.replicas=2"
      ])
    )

    const secret = one(run(), TYPE.secret, "kafka-scram")
    const secretArn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:AmazonMSK_${name}-AbCdEf`
    expect(secret.inputs.name).toBe(`AmazonMSK_${name}`)
    expect(secret.inputs.kmsKeyId).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/kafka`)
    const version = one(run(), TYPE.secretVersion, "kafka-scram")
    expect(version.secretInputs).toEqual(["secretString"])
    expect(JSON.parse(version.inputs.secretString)).toEqual({
      username: "eventflow",
      password: "pwkafkascram"
    })
    const association = one(run(), "aws:msk/scramSecretAssociation:ScramSecretAssociation")
    expect(association.inputs).toEqual({
      clusterArn: `arn:aws:mock:${REGION}:${ACCOUNT}:kafka`,
      secretArnLists: [secretArn]
    })
    const policy = JSON.parse(one(run(), "aws:secretsmanager/secretPolicy:SecretPolicy").inputs.policy)
    expect(policy.Statement[0].Principal).toEqual({ Service: "kafka.amazonaws.com" })
  })

  it("runs Redis with TLS, an AUTH token, encryption at rest, failover and multi-AZ only in prod", () => {
    const redis = one(run(), TYPE.redis)
    expect(redis.inputs).toMatchObject({
      engine: "redis",
      engineVersion: "7.1",
      nodeType: prod ? "cache.r7g.large" : "cache.t4g.micro",
      numCacheClusters: prod ? 3 : 1,
      automaticFailoverEnabled: prod,
      multiAzEnabled: prod,
      transitEncryptionEnabled: true,
      atRestEncryptionEnabled: true,
      authToken: "pwcacheauth",
      port: 6379,
      securityGroupIds: ["sg-cache-redis"]
    })
    expect(redis.secretInputs).toEqual(["authToken"])
    const subnetGroup = one(run(), "aws:elasticache/subnetGroup:SubnetGroup")
    expect(redis.inputs.subnetGroupName).toBe(subnetGroup.inputs.name)
    expect([...subnetGroup.inputs.subnetIds].sort()).toEqual(privateSubnetIds(run()))
    expect(one(run(), TYPE.secretVersion, "cache-url").secretInputs).toEqual(["secretString"])
    expect(one(run(), TYPE.secretVersion, "cache-url").inputs.secretString).toBe(
      "rediss://:pwcacheauth@master.redis.mock:6379"
    )
  })

  it("runs PostgreSQL 16 encrypted, private, multi-AZ and protected only in prod", () => {
    const db = one(run(), TYPE.rds)
    expect(db.inputs).toMatchObject({
      engine: "postgres",
      engineVersion: "16",
      instanceClass: prod ? "db.m7g.large" : "db.t4g.micro",
      allocatedStorage: prod ? 100 : 20,
      storageEncrypted: true,
      publiclyAccessible: false,
      multiAz: prod,
      backupRetentionPeriod: prod ? 30 : 7,
      deletionProtection: prod,
      skipFinalSnapshot: !prod,
      vpcSecurityGroupIds: ["sg-database-postgres"]
    })
    expect(db.secretInputs).toEqual(["password"])
    const subnetGroup = one(run(), "aws:rds/subnetGroup:SubnetGroup")
    expect(db.inputs.dbSubnetGroupName).toBe(subnetGroup.inputs.name)
    expect([...subnetGroup.inputs.subnetIds].sort()).toEqual(privateSubnetIds(run()))
    expect(one(run(), TYPE.secretVersion, "database-url").secretInputs).toEqual(["secretString"])
    expect(one(run(), TYPE.secretVersion, "database-url").inputs.secretString).toBe(
      "postgres://eventflow:pwdatabasemaster@postgres.mock:5432/eventflow?sslmode=no-verify"
    )
  })

  it("keeps the application versions' bucket private and encrypted", () => {
    const bucket = one(run(), "aws:s3/bucket:Bucket")
    expect(one(run(), "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs).toEqual({
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true
    })
    const sse = one(
      run(),
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    expect(sse.inputs).toMatchObject({
      bucket: bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]
    })
  })

  it("has exactly the expected ingress rules on every security group", () => {
    const vpcCidr = "10.40.0.0/16"
    const instances = (role: string) => `services-${role}-instances`
    expect(rulesBySg(run(), TYPE.ingress)).toEqual({
      "kafka-brokers": [
        `${instances("ingest")}:9096`,
        `${instances("process")}:9096`,
        `${instances("query")}:9096`
      ],
      "cache-redis": [`${instances("ingest")}:6379`, `${instances("query")}:6379`],
      "database-postgres": [
        `${instances("ingest")}:5432`,
        `${instances("process")}:5432`,
        `${instances("query")}:5432`
      ],
      "services-ingest-lb": [tls ? "0.0.0.0/0:443" : "0.0.0.0/0:80"],
      "services-query-lb": [tls ? "0.0.0.0/0:443" : "0.0.0.0/0:80"],
      "services-process-lb": [`${vpcCidr}:80`],
      [instances("ingest")]: ["services-ingest-lb:80"],
      [instances("process")]: ["services-process-lb:80"],
      [instances("query")]: ["services-query-lb:80"]
    })
    // No security group carries inline rules, and 0.0.0.0/0 ingress is only on public load balancers, 80/443.
    for (const sg of ofType(run(), TYPE.sg)) {
      expect(sg.inputs.ingress ?? []).toEqual([])
      expect(sg.inputs.egress ?? []).toEqual([])
    }
    for (const rule of ofType(run(), TYPE.ingress).filter((r) => r.inputs.cidrIpv4 === "0.0.0.0/0")) {
      expect(["services-ingest-lb", "services-query-lb"]).toContain(
        byId(run(), rule.inputs.securityGroupId)!.name
      )
      expect([tls ? 443 : 80]).toContain(rule.inputs.fromPort)
    }
  })

  it("listens on HTTPS 443 only with a certificate, else on HTTP 80 (process: always HTTP, internal)", () => {
    for (const role of ["ingest", "process", "query"] as const) {
      const env = ebEnvOf(run(), role)
      const https = tls && role !== "process"
      const listeners = Object.fromEntries(
        [
          ...new Set(
            (env.inputs.settings as Array<{ namespace: string }>)
              .map((s) => s.namespace)
              .filter((ns) => ns.startsWith("aws:elbv2:listener"))
          )
        ].map((ns) => [ns, ebSettings(env, ns)])
      )
      expect(listeners).toEqual(
        https
          ? {
              "aws:elbv2:listener:default": { ListenerEnabled: "false" },
              "aws:elbv2:listener:443": {
                ListenerEnabled: "true",
                Protocol: "HTTPS",
                SSLCertificateArns: CERTIFICATE_ARN,
                SSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06"
              }
            }
          : { "aws:elbv2:listener:default": { ListenerEnabled: "true" } }
      )
      // TLS ends at the load balancer: its targets are the instances' nginx on HTTP 80.
      expect(ebSettings(env, "aws:elasticbeanstalk:environment:process:default")).toMatchObject({
        Port: "80",
        Protocol: "HTTP"
      })
    }
  })

  it("has exactly the expected egress rules", () => {
    const otel = prod ? ["0.0.0.0/0:4318"] : []
    expect(rulesBySg(run(), TYPE.egress)).toEqual({
      "kafka-brokers": [],
      "cache-redis": [],
      "database-postgres": [],
      "services-ingest-lb": ["services-ingest-instances:80"],
      "services-process-lb": ["services-process-instances:80"],
      "services-query-lb": ["services-query-instances:80"],
      "services-ingest-instances": [
        "0.0.0.0/0:443",
        ...otel,
        "cache-redis:6379",
        "database-postgres:5432",
        "kafka-brokers:9096"
      ].sort(),
      "services-process-instances": [
        "0.0.0.0/0:443",
        ...otel,
        "database-postgres:5432",
        "kafka-brokers:9096"
      ].sort(),
      "services-query-instances": [
        "0.0.0.0/0:443",
        ...otel,
        "cache-redis:6379",
        "database-postgres:5432",
        "kafka-brokers:9096"
      ].sort()
    })
  })

  it("places instances in private subnets and only public load balancers in public subnets", () => {
    const join = (ids: string[]) => ids.join(",")
    for (const role of ["ingest", "process", "query"]) {
      const vpc = ebSettings(ebEnvOf(run(), role), "aws:ec2:vpc")
      expect(vpc.VPCId).toBe("vpc-network")
      expect(vpc.Subnets!.split(",").sort().join(",")).toBe(join(privateSubnetIds(run())))
      expect(vpc.AssociatePublicIpAddress).toBe("false")
      const isPublic = role !== "process"
      expect(vpc.ELBScheme).toBe(isPublic ? "public" : "internal")
      expect(vpc.ELBSubnets!.split(",").sort().join(",")).toBe(
        join(isPublic ? publicSubnetIds(run()) : privateSubnetIds(run()))
      )
    }
  })

  it("configures each environment: platform, health on /readyz, CPU autoscaling, security groups", () => {
    const sizes = prod
      ? { ingest: ["c6i.large", "2", "6"], process: ["m6i.large", "2", "3"], query: ["m6i.large", "2", "4"] }
      : { ingest: ["t3.small", "1", "2"], process: ["t3.small", "1", "2"], query: ["t3.small", "1", "2"] }
    for (const role of ["ingest", "process", "query"] as const) {
      const env = ebEnvOf(run(), role)
      expect(env.inputs.name).toBe(`${name}-${role}`)
      expect(env.inputs.solutionStackName).toBe(
        prod ? PROD_CONFIG["eventflow:solutionStackName"] : MOCK_STACK_NAME
      )
      expect(env.inputs.version).toMatch(new RegExp(`^${name}-0123456789abcdef$`))
      expect(ebSettings(env, "aws:elasticbeanstalk:environment")).toMatchObject({
        EnvironmentType: "LoadBalanced",
        LoadBalancerType: "application"
      })
      expect(ebSettings(env, "aws:elasticbeanstalk:environment:process:default")).toMatchObject({
        Port: "80",
        Protocol: "HTTP",
        HealthCheckPath: "/readyz"
      })
      expect(ebSettings(env, "aws:elasticbeanstalk:healthreporting:system")).toEqual({
        SystemType: "enhanced"
      })
      const [instanceType, min, max] = sizes[role]
      expect(ebSettings(env, "aws:ec2:instances")).toEqual({ InstanceTypes: instanceType })
      expect(ebSettings(env, "aws:autoscaling:asg")).toEqual({ MinSize: min, MaxSize: max })
      expect(ebSettings(env, "aws:autoscaling:trigger")).toMatchObject({
        MeasureName: "CPUUtilization",
        Unit: "Percent"
      })
      expect(ebSettings(env, "aws:autoscaling:launchconfiguration")).toMatchObject({
        SecurityGroups: `sg-services-${role}-instances`,
        DisableDefaultEC2SecurityGroup: "true",
        IamInstanceProfile: "services-instance-physical"
      })
      expect(ebSettings(env, "aws:elbv2:loadbalancer")).toEqual({
        SecurityGroups: `sg-services-${role}-lb`,
        ManagedSecurityGroup: `sg-services-${role}-lb`
      })
    }
    if (!prod) expect(run().calls).toContain("aws:elasticbeanstalk/getSolutionStack:getSolutionStack")
  })

  it("gives each role exactly its environment variables, wired to the right outputs", () => {
    const brokers = "b-1.kafka.mock:9096,b-2.kafka.mock:9096,b-3.kafka.mock:9096"
    const common = {
      PORT: "8080",
      EVENTFLOW_HOST: "0.0.0.0",
      EVENTFLOW_LOG_LEVEL: "info",
      EVENTFLOW_TOPIC_PARTITIONS: "3",
      EVENTFLOW_TOPIC_REPLICATION: "3",
      KAFKA_BROKERS: brokers,
      KAFKA_SASL_MECHANISM: "scram-sha-512",
      KAFKA_SASL_USERNAME: "eventflow",
      KAFKA_SSL: "true",
      ...(prod
        ? { EVENTFLOW_TOPIC_PREFIX: "prod.", OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel.internal:4318" }
        : {})
    }
    // dev: no CORS (the dashboard proxies the API through its own origin); prod: the configured
    // origins; tls: the dashboard's origin (it calls the https query URL).
    const cors = {
      dev: {},
      prod: { EVENTFLOW_CORS_ORIGINS: "https://dashboard.example.com,https://ops.example.com" },
      tls: { EVENTFLOW_CORS_ORIGINS: "https://main.d1mock.amplifyapp.com" }
    }[env]
    const secretArn = (secretName: string) =>
      `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${secretName}-AbCdEf`
    const expected = {
      ingest: {
        plain: { ...common, EVENTFLOW_ROLE: "ingest" },
        secrets: {
          DATABASE_URL: secretArn(`${name}/database-url`),
          REDIS_URL: secretArn(`${name}/redis-url`),
          KAFKA_SASL_PASSWORD: `${secretArn(`AmazonMSK_${name}`)}:password`
        }
      },
      process: {
        plain: { ...common, EVENTFLOW_ROLE: "process" },
        secrets: {
          DATABASE_URL: secretArn(`${name}/database-url`),
          KAFKA_SASL_PASSWORD: `${secretArn(`AmazonMSK_${name}`)}:password`
        }
      },
      query: {
        plain: { ...common, EVENTFLOW_ROLE: "query", ...cors },
        secrets: {
          DATABASE_URL: secretArn(`${name}/database-url`),
          REDIS_URL: secretArn(`${name}/redis-url`),
          KAFKA_SASL_PASSWORD: `${secretArn(`AmazonMSK_${name}`)}:password`
        }
      }
    }
    for (const role of ["ingest", "process", "query"] as const) {
      const env = ebEnvOf(run(), role)
      expect(ebSettings(env, "aws:elasticbeanstalk:application:environment")).toEqual(expected[role].plain)
      expect(ebSettings(env, "aws:elasticbeanstalk:application:environmentsecrets")).toEqual(
        expected[role].secrets
      )
    }
    // The instances may read exactly those secrets.
    const policy = JSON.parse(one(run(), "aws:iam/rolePolicy:RolePolicy").inputs.policy)
    const read = policy.Statement.find((s: any) => s.Action === "secretsmanager:GetSecretValue")
    expect([...read.Resource].sort()).toEqual(
      [
        secretArn(`${name}/database-url`),
        secretArn(`${name}/redis-url`),
        secretArn(`AmazonMSK_${name}`)
      ].sort()
    )
  })

  it("deploys the image from ECR through a Dockerrun.aws.json v1 bundle", async () => {
    const image = one(run(), "docker:index/image:Image")
    expect(image.inputs).toMatchObject({
      imageName: `ecr.mock/${name}:latest`,
      build: { context: ".", dockerfile: "infra/docker/Dockerfile" },
      registry: { server: `ecr.mock/${name}`, username: "AWS", password: "mock-token" }
    })
    expect(run().calls).toContain("aws:ecr/getAuthorizationToken:getAuthorizationToken")
    const object = one(run(), "aws:s3/bucketObjectv2:BucketObjectv2")
    expect(object.inputs.key).toBe("bundles/0123456789abcdef.zip")
    const archive = object.inputs.source as pulumi.asset.AssetArchive
    const assets = (await archive.assets) as Record<string, pulumi.asset.StringAsset>
    expect(Object.keys(assets)).toEqual(["Dockerrun.aws.json"])
    expect(JSON.parse((await assets["Dockerrun.aws.json"]!.text) as string)).toEqual({
      AWSEBDockerrunVersion: "1",
      Image: { Name: `ecr.mock/${name}@sha256:0123456789abcdef0123`, Update: "true" },
      Ports: [{ ContainerPort: 8080 }]
    })
    const version = one(run(), "aws:elasticbeanstalk/applicationVersion:ApplicationVersion")
    expect(version.inputs).toMatchObject({ key: "bundles/0123456789abcdef.zip", application: name })
  })

  it("gives the instances ECR read and logs, and Elastic Beanstalk its service role", () => {
    const attachments = ofType(run(), "aws:iam/rolePolicyAttachment:RolePolicyAttachment").map(
      (a) => `${a.inputs.role}:${a.inputs.policyArn.split("/").at(-1)}`
    )
    expect(attachments.sort()).toEqual(
      [
        "services-instance-physical:AWSElasticBeanstalkWebTier",
        "services-instance-physical:AmazonEC2ContainerRegistryReadOnly",
        "services-instance-physical:AmazonSSMManagedInstanceCore",
        "services-service-physical:AWSElasticBeanstalkEnhancedHealth",
        "services-service-physical:AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy"
      ].sort()
    )
  })

  it("builds the dashboard on Amplify: API through its own origin over HTTP, direct over HTTPS", () => {
    const app = one(run(), "aws:amplify/app:App")
    expect(app.inputs.buildSpec).toContain("npm ci")
    expect(app.inputs.buildSpec).toContain("npm run build -w dashboard")
    expect(app.inputs.buildSpec).toContain("baseDirectory: dashboard/dist")
    expect(app.inputs.repository).toBe(prod ? "https://github.com/example/eventflow" : undefined)
    expect(app.inputs.customRules).toEqual(
      tls ? [SPA_RULE] : [{ source: "/v1/<*>", target: `${ebQueryUrl}/v1/<*>`, status: "200" }, SPA_RULE]
    )
    const branch = one(run(), "aws:amplify/branch:Branch")
    expect(branch.inputs).toMatchObject({
      appId: "d1mock",
      branchName: "main",
      environmentVariables: { VITE_EVENTFLOW_API: tls ? "https://query.eventflow.example.com" : "" }
    })
  })

  it("alarms on consumer lag, 5xx, CPU, database and Redis, to an SNS topic", () => {
    const alarms = ofType(run(), TYPE.alarm)
    const topicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:${name}-alarms`
    for (const a of alarms) {
      expect(a.inputs.alarmActions).toEqual([topicArn])
      expect(a.inputs.okActions).toEqual([topicArn])
    }
    const byName = Object.fromEntries(alarms.map((a) => [a.name.replace(/^alarms-/, ""), a.inputs]))
    const prefix = prod ? "prod." : ""
    for (const pipeline of ["active-users", "events-per-type", "order-revenue", "user-sessions"]) {
      const lag = byName[`lag-${pipeline}`]!
      expect(lag.metricQueries[0].expression).toBe(
        `SELECT MAX(SumOffsetLag) FROM SCHEMA("AWS/Kafka", "Cluster Name", "Consumer Group", Topic) ` +
          `WHERE "Cluster Name" = '${name}' AND "Consumer Group" = '${prefix}eventflow.${pipeline}'`
      )
      expect(lag.threshold).toBe(prod ? 100_000 : 500_000)
    }
    for (const role of ["ingest", "process", "query"]) {
      expect(byName[`${role}-5xx`]).toMatchObject({
        namespace: "AWS/ApplicationELB",
        metricName: "HTTPCode_Target_5XX_Count",
        dimensions: { LoadBalancer: `app/awseb-${name}-${role}/0123456789` }
      })
      expect(byName[`${role}-cpu`]).toMatchObject({
        namespace: "AWS/EC2",
        metricName: "CPUUtilization",
        dimensions: { AutoScalingGroupName: `awseb-${name}-${role}-asg` }
      })
    }
    expect(byName["postgres-cpu"]).toMatchObject({ dimensions: { DBInstanceIdentifier: name } })
    expect(byName["postgres-storage"]).toMatchObject({
      metricName: "FreeStorageSpace",
      comparisonOperator: "LessThanThreshold"
    })
    const nodes = prod ? ["001", "002", "003"] : ["001"]
    nodes.forEach((node, i) => {
      expect(byName[`redis-${i + 1}-cpu`]).toMatchObject({
        dimensions: { CacheClusterId: `${name}-${node}` }
      })
      expect(byName[`redis-${i + 1}-memory`]).toMatchObject({
        metricName: "DatabaseMemoryUsagePercentage",
        dimensions: { CacheClusterId: `${name}-${node}` }
      })
    })
    const subscriptions = ofType(run(), "aws:sns/topicSubscription:TopicSubscription")
    expect(subscriptions.map((s) => s.inputs.endpoint)).toEqual(prod ? ["oncall@example.com"] : [])
  })
})
