/**
 * EventFlow on AWS: a VPC (`Network`), Kafka on MSK (`Kafka`), Redis on ElastiCache (`Cache`),
 * PostgreSQL on RDS (`Database`), the three services on Elastic Beanstalk (`Services`), the dashboard
 * on Amplify (`Dashboard`) and CloudWatch alarms (`Alarms`). Settings: `../settings.ts`.
 */
import * as pulumi from "@pulumi/pulumi"
import { loadSettings } from "../settings.ts"
import { Alarms } from "./alarms.ts"
import { Cache } from "./cache.ts"
import { Dashboard } from "./dashboard.ts"
import { Database } from "./database.ts"
import { Kafka } from "./kafka.ts"
import { Network } from "./network.ts"
import { Services } from "./services.ts"

export interface AwsStackOutputs {
  ingestUrl: pulumi.Output<string>
  queryUrl: pulumi.Output<string>
  dashboardUrl: pulumi.Output<string>
}

export const awsStack = (): AwsStackOutputs => {
  const settings = loadSettings()
  const { sizing } = settings

  const network = new Network("network", {
    name: settings.name,
    vpcCidr: settings.vpcCidr,
    zones: sizing.network.zones,
    natGateways: sizing.network.natGateways
  })
  const dataPlacement = { vpcId: network.vpcId, subnetIds: network.privateSubnetIds }

  const kafka = new Kafka("kafka", {
    name: settings.name,
    env: settings.env,
    ...dataPlacement,
    kafkaVersion: settings.kafkaVersion,
    sizing: sizing.kafka,
    replication: sizing.topics.replication
  })
  const cache = new Cache("cache", {
    name: settings.name,
    env: settings.env,
    ...dataPlacement,
    engineVersion: settings.redisVersion,
    sizing: sizing.redis
  })
  const database = new Database("database", {
    name: settings.name,
    env: settings.env,
    ...dataPlacement,
    engineVersion: settings.postgresVersion,
    sslMode: settings.databaseSslMode,
    sizing: sizing.database
  })

  const dashboard = new Dashboard("dashboard", {
    name: settings.name,
    env: settings.env,
    repository: settings.dashboardRepository,
    branch: settings.dashboardBranch,
    accessToken: settings.githubAccessToken
  })
  const corsOrigins =
    settings.allowedCorsOrigins === undefined
      ? dashboard.url
      : pulumi.output(settings.allowedCorsOrigins.join(","))

  const services = new Services("services", {
    name: settings.name,
    env: settings.env,
    vpcId: network.vpcId,
    vpcCidr: network.vpcCidr,
    publicSubnetIds: network.publicSubnetIds,
    privateSubnetIds: network.privateSubnetIds,
    solutionStackName: settings.solutionStackName,
    sizing: sizing.services,
    kafka: { securityGroupId: kafka.securityGroupId, kmsKeyArn: kafka.kmsKeyArn },
    redis: { securityGroupId: cache.securityGroupId },
    database: { securityGroupId: database.securityGroupId },
    wiring: {
      kafkaBrokers: kafka.bootstrapBrokers,
      kafkaUsername: kafka.username,
      kafkaSecretArn: kafka.secretArn,
      redisUrlSecretArn: cache.urlSecretArn,
      databaseUrlSecretArn: database.urlSecretArn,
      topicPrefix: settings.topicPrefix,
      topicPartitions: sizing.topics.partitions,
      topicReplication: sizing.topics.replication,
      logLevel: settings.logLevel,
      otelEndpoint: settings.otelEndpoint,
      corsOrigins
    }
  })
  const dashboardUrl = dashboard.deploy(services.queryUrl)

  new Alarms("alarms", {
    name: settings.name,
    thresholds: sizing.alarms,
    email: settings.alarmEmail,
    kafkaClusterName: kafka.clusterName,
    topicPrefix: settings.topicPrefix,
    pipelines: settings.pipelines,
    environments: services.environments,
    databaseIdentifier: database.identifier,
    redisNodeIds: cache.nodeIds
  })

  return { ingestUrl: services.ingestUrl, queryUrl: services.queryUrl, dashboardUrl }
}
