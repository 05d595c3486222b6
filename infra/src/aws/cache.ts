/**
 * ElastiCache for Redis 7 (a replication group, cluster mode off): TLS in transit (required), an
 * AUTH token, encryption at rest; in prod a primary and replicas over the zones with automatic
 * failover and multi-AZ, in dev a single node. `REDIS_URL` (`rediss://:<token>@<primary>:6379`) is
 * kept in a Secrets Manager secret the services read at boot (Elastic Beanstalk environment secrets).
 *
 * The security group has no ingress rule of its own: the services that use Redis add theirs (6379,
 * from their instances' groups only).
 */
import * as aws from "@pulumi/aws"
import * as pulumi from "@pulumi/pulumi"
import * as random from "@pulumi/random"
import type { Env, Sizing } from "../settings.ts"
import { securityGroup } from "./security.ts"

export const REDIS_PORT = 6379

export interface CacheArgs {
  readonly name: string
  readonly env: Env
  readonly vpcId: pulumi.Input<string>
  readonly subnetIds: pulumi.Input<string>[]
  readonly engineVersion: string
  readonly sizing: Sizing["redis"]
}

export class Cache extends pulumi.ComponentResource {
  readonly securityGroupId: pulumi.Output<string>
  readonly replicationGroupId: pulumi.Output<string>
  /** The cache clusters (nodes) of the group, `<group>-001`…, for per-node metrics. */
  readonly nodeIds: pulumi.Output<string>[]
  /** The secret whose value is `REDIS_URL`. */
  readonly urlSecretArn: pulumi.Output<string>

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("eventflow:aws:Cache", name, {}, opts)
    const parent = { parent: this }
    const nodes = 1 + args.sizing.replicas
    if (args.sizing.automaticFailover && nodes < 2) {
      throw new Error("Redis automatic failover needs at least one replica.")
    }

    const sg = securityGroup(
      `${name}-redis`,
      { vpcId: args.vpcId, description: "EventFlow Redis", tagName: `${args.name}-redis` },
      parent
    )
    this.securityGroupId = sg.id

    const subnets = new aws.elasticache.SubnetGroup(
      name,
      {
        name: `${args.name}-redis`,
        description: "EventFlow Redis (private subnets)",
        subnetIds: args.subnetIds
      },
      parent
    )

    // 16 to 128 printable characters without '@', '"' or '/': letters and digits are safe in a URL too.
    const token = new random.RandomPassword(
      `${name}-auth`,
      { length: 48, special: false },
      { parent: this, additionalSecretOutputs: ["result"] }
    )

    const group = new aws.elasticache.ReplicationGroup(
      name,
      {
        replicationGroupId: args.name.slice(0, 40),
        description: `${args.name}: EventFlow dedup and stats`,
        engine: "redis",
        engineVersion: args.engineVersion,
        nodeType: args.sizing.nodeType,
        numCacheClusters: nodes,
        port: REDIS_PORT,
        subnetGroupName: subnets.name,
        securityGroupIds: [sg.id],
        automaticFailoverEnabled: args.sizing.automaticFailover,
        multiAzEnabled: args.sizing.multiAz,
        transitEncryptionEnabled: true,
        transitEncryptionMode: "required",
        atRestEncryptionEnabled: true,
        authToken: token.result,
        snapshotRetentionLimit: args.sizing.snapshotRetentionDays,
        applyImmediately: args.env !== "prod"
      },
      parent
    )
    this.replicationGroupId = group.id
    this.nodeIds = Array.from({ length: nodes }, (_, i) =>
      group.id.apply((id) => `${id}-${String(i + 1).padStart(3, "0")}`)
    )

    const secret = new aws.secretsmanager.Secret(
      `${name}-url`,
      {
        name: `${args.name}/redis-url`,
        description: "REDIS_URL of the EventFlow services",
        recoveryWindowInDays: args.env === "prod" ? 30 : 0
      },
      parent
    )
    new aws.secretsmanager.SecretVersion(
      `${name}-url`,
      {
        secretId: secret.id,
        secretString: pulumi.interpolate`rediss://:${token.result}@${group.primaryEndpointAddress}:${REDIS_PORT}`
      },
      parent
    )
    this.urlSecretArn = secret.arn

    this.registerOutputs({
      replicationGroupId: this.replicationGroupId,
      securityGroupId: this.securityGroupId
    })
  }
}
