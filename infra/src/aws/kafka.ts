/**
 * Amazon MSK: 3 brokers over the 3 private subnets; clients authenticate with SASL/SCRAM-SHA-512 over
 * TLS (port 9096) and nothing else (no plaintext, no unauthenticated access); TLS between brokers;
 * storage encrypted with a customer KMS key. The SCRAM credentials are a Secrets Manager secret named
 * `AmazonMSK_…` (MSK requires the prefix) encrypted with that customer key (MSK refuses secrets
 * under the default key), associated with the cluster.
 *
 * The security group has no ingress rule of its own: the services add theirs (port 9096, from their
 * instances' groups only).
 */
import * as aws from "@pulumi/aws"
import * as pulumi from "@pulumi/pulumi"
import * as random from "@pulumi/random"
import type { Env, Sizing } from "../settings.ts"
import { securityGroup } from "./security.ts"

/** SASL/SCRAM over TLS, the only listener clients may use. */
export const KAFKA_SASL_SCRAM_PORT = 9096
export const KAFKA_USERNAME = "eventflow"

export interface KafkaArgs {
  readonly name: string
  readonly env: Env
  readonly vpcId: pulumi.Input<string>
  readonly subnetIds: pulumi.Input<string>[]
  readonly kafkaVersion: string
  readonly sizing: Sizing["kafka"]
  /** `default.replication.factor` and the topics' replication. */
  readonly replication: number
}

/** The broker configuration (`server.properties` lines). */
export const kafkaServerProperties = (replication: number): string =>
  [
    "auto.create.topics.enable=false",
    `default.replication.factor=${replication}`,
    `min.insync.replicas=${Math.min(2, replication)}`,
    "unclean.leader.election.enable=false",
    "delete.topic.enable=true"
  ].join("\n")

export class Kafka extends pulumi.ComponentResource {
  readonly securityGroupId: pulumi.Output<string>
  readonly clusterName: pulumi.Output<string>
  readonly clusterArn: pulumi.Output<string>
  /** The SASL/SCRAM bootstrap brokers, `host:9096,…` (`KAFKA_BROKERS`). */
  readonly bootstrapBrokers: pulumi.Output<string>
  readonly username = KAFKA_USERNAME
  /** The SCRAM secret (JSON `{ username, password }`). */
  readonly secretArn: pulumi.Output<string>
  /** The customer key of the secret and of the brokers' storage. */
  readonly kmsKeyArn: pulumi.Output<string>

  constructor(name: string, args: KafkaArgs, opts?: pulumi.ComponentResourceOptions) {
    super("eventflow:aws:Kafka", name, {}, opts)
    const parent = { parent: this }

    const sg = securityGroup(
      `${name}-brokers`,
      { vpcId: args.vpcId, description: "EventFlow MSK brokers", tagName: `${args.name}-kafka` },
      parent
    )
    this.securityGroupId = sg.id

    const key = new aws.kms.Key(
      name,
      {
        description: `${args.name}: MSK storage and SCRAM secret`,
        enableKeyRotation: true,
        deletionWindowInDays: args.env === "prod" ? 30 : 7
      },
      parent
    )
    this.kmsKeyArn = key.arn

    const password = new random.RandomPassword(
      `${name}-scram`,
      { length: 32, special: false },
      { parent: this, additionalSecretOutputs: ["result"] }
    )
    const secret = new aws.secretsmanager.Secret(
      `${name}-scram`,
      {
        name: `AmazonMSK_${args.name}`,
        description: "EventFlow's SASL/SCRAM credentials on MSK",
        kmsKeyId: key.arn,
        recoveryWindowInDays: args.env === "prod" ? 30 : 0
      },
      parent
    )
    this.secretArn = secret.arn
    const secretVersion = new aws.secretsmanager.SecretVersion(
      `${name}-scram`,
      {
        secretId: secret.id,
        secretString: pulumi.jsonStringify({ username: KAFKA_USERNAME, password: password.result })
      },
      parent
    )
    // MSK reads the secret with this policy (the association would attach it too, outside the state).
    new aws.secretsmanager.SecretPolicy(
      `${name}-scram`,
      {
        secretArn: secret.arn,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "AWSKafkaResourcePolicy",
              Effect: "Allow",
              Principal: { Service: "kafka.amazonaws.com" },
              Action: "secretsmanager:getSecretValue",
              Resource: secret.arn
            }
          ]
        })
      },
      parent
    )

    const configuration = new aws.msk.Configuration(
      name,
      {
        name: `${args.name}-kafka`,
        kafkaVersions: [args.kafkaVersion],
        serverProperties: kafkaServerProperties(args.replication)
      },
      parent
    )

    const logs = new aws.cloudwatch.LogGroup(
      `${name}-brokers`,
      { name: `/eventflow/${args.name}/msk`, retentionInDays: args.env === "prod" ? 30 : 7 },
      parent
    )

    const cluster = new aws.msk.Cluster(
      name,
      {
        clusterName: args.name,
        kafkaVersion: args.kafkaVersion,
        numberOfBrokerNodes: args.sizing.brokers,
        brokerNodeGroupInfo: {
          instanceType: args.sizing.instanceType,
          clientSubnets: args.subnetIds,
          securityGroups: [sg.id],
          storageInfo: { ebsStorageInfo: { volumeSize: args.sizing.volumeSizeGb } }
        },
        clientAuthentication: { sasl: { scram: true, iam: false }, unauthenticated: false },
        encryptionInfo: {
          encryptionAtRestKmsKeyArn: key.arn,
          encryptionInTransit: { clientBroker: "TLS", inCluster: true }
        },
        configurationInfo: { arn: configuration.arn, revision: configuration.latestRevision },
        // Consumer lag (SumOffsetLag, MaxOffsetLag per group and topic) is in the DEFAULT level.
        enhancedMonitoring: "DEFAULT",
        loggingInfo: { brokerLogs: { cloudwatchLogs: { enabled: true, logGroup: logs.name } } }
      },
      parent
    )
    this.clusterName = cluster.clusterName
    this.clusterArn = cluster.arn
    this.bootstrapBrokers = cluster.bootstrapBrokersSaslScram

    new aws.msk.ScramSecretAssociation(
      name,
      { clusterArn: cluster.arn, secretArnLists: [secret.arn] },
      { parent: this, dependsOn: [secretVersion] }
    )

    this.registerOutputs({
      clusterArn: this.clusterArn,
      bootstrapBrokers: this.bootstrapBrokers,
      securityGroupId: this.securityGroupId
    })
  }
}
