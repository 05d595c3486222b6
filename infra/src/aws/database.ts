/**
 * RDS for PostgreSQL 16: encrypted storage, never publicly accessible, in the private subnets,
 * multi-AZ and deletion protection in prod, automated backups (7 days in dev, 30 in prod).
 *
 * Credentials: a `random.RandomPassword` (letters and digits: safe in a URL) rather than
 * `manageMasterUserPassword`, because the services want one `DATABASE_URL` and RDS's managed secret
 * only holds the user and password. The whole URL is kept in a Secrets Manager secret; the Elastic
 * Beanstalk environments get it as an *environment secret* (namespace
 * `aws:elasticbeanstalk:application:environmentsecrets`, on platform versions of 2025-03-26 and
 * later): the instances fetch it at boot with their instance profile, so the password is never
 * written in the environment's configuration (only the secret's ARN is). In Pulumi's state the
 * password is a secret output.
 *
 * The security group has no ingress rule of its own: the services add theirs (5432, from their
 * instances' groups only).
 */
import * as aws from "@pulumi/aws"
import * as pulumi from "@pulumi/pulumi"
import * as random from "@pulumi/random"
import type { Env, Sizing } from "../settings.ts"
import { securityGroup } from "./security.ts"

export const POSTGRES_PORT = 5432
export const DATABASE_NAME = "eventflow"
export const DATABASE_USER = "eventflow"

export interface DatabaseArgs {
  readonly name: string
  readonly env: Env
  readonly vpcId: pulumi.Input<string>
  readonly subnetIds: pulumi.Input<string>[]
  readonly engineVersion: string
  /** `sslmode` of the URL (see `databaseSslMode` in settings). */
  readonly sslMode: string
  readonly sizing: Sizing["database"]
}

export class Database extends pulumi.ComponentResource {
  readonly securityGroupId: pulumi.Output<string>
  readonly identifier: pulumi.Output<string>
  readonly address: pulumi.Output<string>
  /** The secret whose value is `DATABASE_URL`. */
  readonly urlSecretArn: pulumi.Output<string>

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("eventflow:aws:Database", name, {}, opts)
    const parent = { parent: this }
    const prod = args.env === "prod"

    const sg = securityGroup(
      `${name}-postgres`,
      { vpcId: args.vpcId, description: "EventFlow PostgreSQL", tagName: `${args.name}-postgres` },
      parent
    )
    this.securityGroupId = sg.id

    const subnets = new aws.rds.SubnetGroup(
      name,
      {
        name: `${args.name}-postgres`,
        description: "EventFlow PostgreSQL (private subnets)",
        subnetIds: args.subnetIds
      },
      parent
    )

    const password = new random.RandomPassword(
      `${name}-master`,
      { length: 32, special: false },
      { parent: this, additionalSecretOutputs: ["result"] }
    )

    const db = new aws.rds.Instance(
      name,
      {
        identifier: args.name,
        engine: "postgres",
        engineVersion: args.engineVersion,
        instanceClass: args.sizing.instanceClass,
        allocatedStorage: args.sizing.allocatedStorageGb,
        maxAllocatedStorage: args.sizing.maxAllocatedStorageGb,
        storageType: "gp3",
        storageEncrypted: true,
        dbName: DATABASE_NAME,
        username: DATABASE_USER,
        password: password.result,
        port: POSTGRES_PORT,
        dbSubnetGroupName: subnets.name,
        vpcSecurityGroupIds: [sg.id],
        publiclyAccessible: false,
        multiAz: args.sizing.multiAz,
        backupRetentionPeriod: args.sizing.backupRetentionDays,
        deletionProtection: args.sizing.deletionProtection,
        skipFinalSnapshot: !prod,
        ...(prod ? { finalSnapshotIdentifier: `${args.name}-final` } : {}),
        copyTagsToSnapshot: true,
        autoMinorVersionUpgrade: true,
        performanceInsightsEnabled: prod,
        applyImmediately: !prod
      },
      parent
    )
    this.identifier = db.identifier
    this.address = db.address

    const secret = new aws.secretsmanager.Secret(
      `${name}-url`,
      {
        name: `${args.name}/database-url`,
        description: "DATABASE_URL of the EventFlow services",
        recoveryWindowInDays: prod ? 30 : 0
      },
      parent
    )
    new aws.secretsmanager.SecretVersion(
      `${name}-url`,
      {
        secretId: secret.id,
        secretString: pulumi.interpolate`postgres://${DATABASE_USER}:${password.result}@${db.address}:${db.port}/${DATABASE_NAME}?sslmode=${args.sslMode}`
      },
      parent
    )
    this.urlSecretArn = secret.arn

    this.registerOutputs({ identifier: this.identifier, securityGroupId: this.securityGroupId })
  }
}
