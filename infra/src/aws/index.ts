/**
 * EventFlow on AWS: a VPC (`Network`), Kafka on MSK (`Kafka`), Redis on ElastiCache (`Cache`),
 * PostgreSQL on RDS (`Database`), the three services on Elastic Beanstalk (`Services`), the dashboard
 * on Amplify (`Dashboard`) and CloudWatch alarms (`Alarms`). Settings: `../settings.ts`.
 *
 * With `eventflow:certificateArn` the public load balancers speak HTTPS only and the dashboard calls
 * the query URL; without, they speak HTTP and the dashboard reaches the query API through its own
 * origin (an Amplify rewrite of `/v1/*`), which is why the order of the components differs.
 */
import * as pulumi from "@pulumi/pulumi"
import { loadSettings, settingsWarnings } from "../settings.ts"
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
  /** What the operator should know (also logged as warnings at deployment). */
  warnings: ReadonlyArray<string>
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

  const https = settings.certificateArn !== undefined
  const dashboardArgs = {
    name: settings.name,
    env: settings.env,
    repository: settings.dashboardRepository,
    branch: settings.dashboardBranch,
    accessToken: settings.githubAccessToken
  }
  // HTTPS: the dashboard calls the query URL, so the query service must allow the dashboard's origin
  // (known once the app exists). HTTP: the dashboard proxies the API through its own origin (the app
  // needs the query URL, so it comes after the services), and needs no CORS.
  const earlyDashboard = https ? new Dashboard("dashboard", dashboardArgs) : undefined
  const corsOrigins =
    settings.allowedCorsOrigins !== undefined
      ? pulumi.output(settings.allowedCorsOrigins.join(","))
      : earlyDashboard?.url

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
    },
    certificateArn: settings.certificateArn,
    hostNames: settings.hostNames
  })
  const dashboard =
    earlyDashboard ?? new Dashboard("dashboard", { ...dashboardArgs, apiProxyUrl: services.queryUrl })
  const dashboardUrl = dashboard.deploy(https ? services.queryUrl : "")

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

  const warnings = settingsWarnings(settings)
  for (const warning of warnings) void pulumi.log.warn(warning)

  return { ingestUrl: services.ingestUrl, queryUrl: services.queryUrl, dashboardUrl, warnings }
}
