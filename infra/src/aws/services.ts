/**
 * The three services on Elastic Beanstalk (Docker on Amazon Linux 2023), one image for all.
 *
 * - The image is built from `infra/docker/Dockerfile` (build context: the repository root, where
 *   `pulumi` runs) and pushed to an ECR repository; the application version is a source bundle in S3
 *   holding a `Dockerrun.aws.json` (v1) that names the image by digest, so that each new image is a
 *   new version (and an unchanged image is no change at all).
 * - Dockerrun v1 cannot give a container its command: every environment gets `EVENTFLOW_ROLE`
 *   (`ingest`, `process` or `query`), and the image's entrypoint must run `eventflow $EVENTFLOW_ROLE`.
 * - One environment per role, all load balanced (an application load balancer, autoscaling on CPU):
 *   `ingest` and `query` behind an internet-facing load balancer in the public subnets; `process` behind
 *   an *internal* one in the private subnets (nothing outside the VPC reaches it, but the instances
 *   still get `/readyz` health checks, rolling deployments and autoscaling). Instances are always in
 *   the private subnets, without public addresses.
 * - Listeners: HTTP on 80 by default. With `certificateArn`, the public load balancers (ingest, query)
 *   listen on HTTPS 443 only (`aws:elbv2:listener:443`, the ACM certificate, a TLS 1.3/1.2 policy) and
 *   their port 80 listener is disabled (`aws:elbv2:listener:default`: Elastic Beanstalk cannot make it
 *   redirect without listener rules of its own), so nothing reaches them in the clear; the internal
 *   `process` load balancer stays on HTTP 80, inside the VPC. TLS ends at the load balancer.
 * - Traffic: load balancer (port 80, or 443) → the instance's nginx (port 80; the Docker platform's proxy) →
 *   the container (port 8080, `PORT`). So the instances' security group admits port 80 from their
 *   load balancer's group only; Elastic Beanstalk's default instance group (which opens 80 and 22) is
 *   disabled (`DisableDefaultEC2SecurityGroup`).
 * - Configuration: plain values in `aws:elasticbeanstalk:application:environment`; the three secrets
 *   (`DATABASE_URL`, `REDIS_URL`, `KAFKA_SASL_PASSWORD`) in `aws:elasticbeanstalk:application:environmentsecrets`
 *   as Secrets Manager ARNs, which the instances resolve at boot with their instance profile (platform
 *   versions of 2025-03-26 and later; `KAFKA_SASL_PASSWORD` reads the `password` key of MSK's JSON
 *   secret, `arn:…:password`, which needs a platform version of 2026-01-13 or later).
 */
import * as aws from "@pulumi/aws"
import * as docker from "@pulumi/docker"
import * as pulumi from "@pulumi/pulumi"
import { DOCKER_SOLUTION_STACK_REGEX, type Env, ROLES, type Role, type Sizing } from "../settings.ts"
import { REDIS_PORT } from "./cache.ts"
import { POSTGRES_PORT } from "./database.ts"
import { KAFKA_SASL_SCRAM_PORT } from "./kafka.ts"
import { allowEgress, allowIngress, securityGroup } from "./security.ts"

/** The port the container listens on (`PORT`), named in Dockerrun.aws.json. */
export const CONTAINER_PORT = 8080
/** The port of the Docker platform's nginx on the instance: the load balancer's target port. */
export const INSTANCE_PORT = 80
/** The load balancers' listener (Elastic Beanstalk's default one). */
export const LISTENER_PORT = 80
/** The public load balancers' HTTPS listener, with `certificateArn`. */
export const HTTPS_LISTENER_PORT = 443
/** The HTTPS listener's security policy: TLS 1.3, and TLS 1.2 with forward-secret AEAD ciphers. */
export const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
export const HEALTH_CHECK_PATH = "/readyz"

/** What each role needs. */
export const ROLE_NEEDS: { readonly [R in Role]: { readonly redis: boolean; readonly public: boolean } } = {
  ingest: { redis: true, public: true },
  process: { redis: false, public: false },
  query: { redis: true, public: true }
}

/** The values the services' configuration is made of. */
export interface Wiring {
  readonly kafkaBrokers: pulumi.Input<string>
  readonly kafkaUsername: string
  readonly kafkaSecretArn: pulumi.Input<string>
  readonly redisUrlSecretArn: pulumi.Input<string>
  readonly databaseUrlSecretArn: pulumi.Input<string>
  readonly topicPrefix: string
  readonly topicPartitions: number
  readonly topicReplication: number
  readonly logLevel: string
  readonly otelEndpoint: string | undefined
  /** `EVENTFLOW_CORS_ORIGINS` of the query service; undefined: none (no CORS headers). */
  readonly corsOrigins: pulumi.Input<string> | undefined
}

/** The plain environment variables of a role. */
export const environmentVariables = (role: Role, w: Wiring): Record<string, pulumi.Input<string>> => ({
  EVENTFLOW_ROLE: role,
  PORT: String(CONTAINER_PORT),
  EVENTFLOW_HOST: "0.0.0.0",
  EVENTFLOW_LOG_LEVEL: w.logLevel,
  ...(w.topicPrefix === "" ? {} : { EVENTFLOW_TOPIC_PREFIX: w.topicPrefix }),
  EVENTFLOW_TOPIC_PARTITIONS: String(w.topicPartitions),
  EVENTFLOW_TOPIC_REPLICATION: String(w.topicReplication),
  KAFKA_BROKERS: w.kafkaBrokers,
  KAFKA_SASL_MECHANISM: "scram-sha-512",
  KAFKA_SASL_USERNAME: w.kafkaUsername,
  KAFKA_SSL: "true",
  ...(w.otelEndpoint === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: w.otelEndpoint }),
  ...(role === "query" && w.corsOrigins !== undefined ? { EVENTFLOW_CORS_ORIGINS: w.corsOrigins } : {})
})

/** The environment variables of a role whose values are Secrets Manager ARNs, resolved at boot. */
export const environmentSecrets = (role: Role, w: Wiring): Record<string, pulumi.Input<string>> => ({
  DATABASE_URL: w.databaseUrlSecretArn,
  KAFKA_SASL_PASSWORD: pulumi.interpolate`${w.kafkaSecretArn}:password`,
  ...(ROLE_NEEDS[role].redis ? { REDIS_URL: w.redisUrlSecretArn } : {})
})

/** `Dockerrun.aws.json` (v1) of an image. */
export const dockerrun = (image: string): string =>
  JSON.stringify(
    {
      AWSEBDockerrunVersion: "1",
      Image: { Name: image, Update: "true" },
      Ports: [{ ContainerPort: CONTAINER_PORT }]
    },
    null,
    2
  )

/** The TCP port of a URL (its explicit port, else 443 for https and 80 for http). */
export const urlPort = (url: string): number => {
  const parsed = new URL(url)
  if (parsed.port !== "") return Number(parsed.port)
  return parsed.protocol === "https:" ? 443 : 80
}

export interface DataStore {
  readonly securityGroupId: pulumi.Input<string>
}

export interface ServicesArgs {
  readonly name: string
  readonly env: Env
  readonly vpcId: pulumi.Input<string>
  readonly vpcCidr: string
  readonly publicSubnetIds: pulumi.Input<string>[]
  readonly privateSubnetIds: pulumi.Input<string>[]
  /** Undefined: the newest Docker on Amazon Linux 2023 platform. */
  readonly solutionStackName: string | undefined
  readonly sizing: Sizing["services"]
  readonly kafka: DataStore & { readonly kmsKeyArn: pulumi.Input<string> }
  readonly redis: DataStore
  readonly database: DataStore
  readonly wiring: Wiring
  /** An ACM certificate of the region: HTTPS only on the public load balancers. Undefined: HTTP. */
  readonly certificateArn: string | undefined
  /** Host names of the public URLs (DNS names pointing at the load balancers); else their CNAMEs. */
  readonly hostNames?: { readonly ingest?: string | undefined; readonly query?: string | undefined }
  /** The Docker build context, relative to the Pulumi project directory (the repository root). */
  readonly buildContext?: string
  readonly dockerfile?: string
}

const setting = (namespace: string, name: string, value: pulumi.Input<string>) => ({ namespace, name, value })

/** The listener settings of a load balancer: HTTPS only with a certificate, else HTTP on 80. */
export const listenerSettings = (certificateArn: string | undefined) =>
  certificateArn === undefined
    ? [setting("aws:elbv2:listener:default", "ListenerEnabled", "true")]
    : [
        setting("aws:elbv2:listener:default", "ListenerEnabled", "false"),
        setting(`aws:elbv2:listener:${HTTPS_LISTENER_PORT}`, "ListenerEnabled", "true"),
        setting(`aws:elbv2:listener:${HTTPS_LISTENER_PORT}`, "Protocol", "HTTPS"),
        setting(`aws:elbv2:listener:${HTTPS_LISTENER_PORT}`, "SSLCertificateArns", certificateArn),
        setting(`aws:elbv2:listener:${HTTPS_LISTENER_PORT}`, "SSLPolicy", TLS_POLICY)
      ]

/** Attaches AWS managed policies to `role`, one resource each (`<prefix>-<key>`). */
const attachPolicies = (
  prefix: string,
  role: aws.iam.Role,
  policies: ReadonlyArray<readonly [string, string]>,
  opts: pulumi.CustomResourceOptions
) => {
  for (const [key, policyArn] of policies) {
    new aws.iam.RolePolicyAttachment(`${prefix}-${key}`, { role: role.name, policyArn }, opts)
  }
}

export class Services extends pulumi.ComponentResource {
  readonly environments: { readonly [R in Role]: aws.elasticbeanstalk.Environment }
  readonly instanceSecurityGroupIds: { readonly [R in Role]: pulumi.Output<string> }
  readonly loadBalancerSecurityGroupIds: { readonly [R in Role]: pulumi.Output<string> }
  readonly ingestUrl: pulumi.Output<string>
  readonly queryUrl: pulumi.Output<string>
  readonly imageUri: pulumi.Output<string>

  constructor(name: string, args: ServicesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("eventflow:aws:Services", name, {}, opts)
    const parent = { parent: this }
    const prod = args.env === "prod"

    // --- The image -------------------------------------------------------------------------------
    const repo = new aws.ecr.Repository(
      name,
      {
        name: args.name,
        imageScanningConfiguration: { scanOnPush: true },
        imageTagMutability: "MUTABLE",
        encryptionConfigurations: [{ encryptionType: "AES256" }],
        forceDelete: !prod
      },
      parent
    )
    new aws.ecr.LifecyclePolicy(
      name,
      {
        repository: repo.name,
        policy: JSON.stringify({
          rules: [
            {
              rulePriority: 1,
              description: "keep the 30 newest images",
              selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 30 },
              action: { type: "expire" }
            }
          ]
        })
      },
      parent
    )
    const auth = aws.ecr.getAuthorizationTokenOutput({ registryId: repo.registryId }, parent)
    const image = new docker.Image(
      name,
      {
        imageName: pulumi.interpolate`${repo.repositoryUrl}:latest`,
        build: {
          context: args.buildContext ?? ".",
          dockerfile: args.dockerfile ?? "infra/docker/Dockerfile",
          platform: "linux/amd64"
        },
        registry: {
          server: repo.repositoryUrl,
          username: auth.userName,
          password: pulumi.secret(auth.password)
        }
      },
      parent
    )
    // `<repository>@sha256:…`: a new image is a new application version.
    this.imageUri = image.repoDigest

    // --- The application versions' bucket ---------------------------------------------------------
    const bucket = new aws.s3.Bucket(`${name}-versions`, { forceDestroy: !prod }, parent)
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-versions`,
      { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
      parent
    )
    new aws.s3.BucketPublicAccessBlock(
      `${name}-versions`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true
      },
      parent
    )
    new aws.s3.BucketOwnershipControls(
      `${name}-versions`,
      { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent
    )

    const digest = image.repoDigest.apply((d) =>
      (d.split("@sha256:")[1] ?? d).replace(/[^A-Za-z0-9]/g, "").slice(0, 16)
    )
    const bundle = new aws.s3.BucketObjectv2(
      `${name}-bundle`,
      {
        bucket: bucket.id,
        key: pulumi.interpolate`bundles/${digest}.zip`,
        source: image.repoDigest.apply(
          (uri) =>
            new pulumi.asset.AssetArchive({
              "Dockerrun.aws.json": new pulumi.asset.StringAsset(dockerrun(uri))
            })
        )
      },
      parent
    )

    const app = new aws.elasticbeanstalk.Application(
      name,
      { name: args.name, description: "EventFlow: ingest, process, query" },
      parent
    )
    const version = new aws.elasticbeanstalk.ApplicationVersion(
      name,
      {
        name: pulumi.interpolate`${args.name}-${digest}`,
        application: app.name,
        bucket: bucket.id,
        key: bundle.key,
        description: image.repoDigest
      },
      parent
    )

    // --- IAM --------------------------------------------------------------------------------------
    const instanceRole = new aws.iam.Role(
      `${name}-instance`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }
          ]
        })
      },
      parent
    )
    attachPolicies(
      `${name}-instance`,
      instanceRole,
      [
        ["web-tier", "arn:aws:iam::aws:policy/AWSElasticBeanstalkWebTier"],
        ["ecr-read", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"],
        // Session Manager: operators reach an instance without SSH keys or public addresses (to run
        // `eventflow keys create` inside the VPC, where the database is).
        ["ssm", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
      ],
      parent
    )
    new aws.iam.RolePolicy(
      `${name}-instance-secrets`,
      {
        role: instanceRole.id,
        policy: pulumi.jsonStringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "ReadEventFlowSecrets",
              Effect: "Allow",
              Action: "secretsmanager:GetSecretValue",
              Resource: [
                args.wiring.kafkaSecretArn,
                args.wiring.redisUrlSecretArn,
                args.wiring.databaseUrlSecretArn
              ]
            },
            {
              Sid: "DecryptKafkaSecret",
              Effect: "Allow",
              Action: "kms:Decrypt",
              Resource: args.kafka.kmsKeyArn,
              Condition: { StringLike: { "kms:ViaService": "secretsmanager.*.amazonaws.com" } }
            },
            {
              Sid: "WriteLogs",
              Effect: "Allow",
              Action: [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams"
              ],
              Resource: "arn:aws:logs:*:*:log-group:/aws/elasticbeanstalk/*"
            }
          ]
        })
      },
      parent
    )
    const profile = new aws.iam.InstanceProfile(`${name}-instance`, { role: instanceRole.name }, parent)

    const serviceRole = new aws.iam.Role(
      `${name}-service`,
      {
        assumeRolePolicy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: "Allow",
              Principal: { Service: "elasticbeanstalk.amazonaws.com" },
              Action: "sts:AssumeRole",
              Condition: { StringEquals: { "sts:ExternalId": "elasticbeanstalk" } }
            }
          ]
        })
      },
      parent
    )
    attachPolicies(
      `${name}-service`,
      serviceRole,
      [
        ["health", "arn:aws:iam::aws:policy/service-role/AWSElasticBeanstalkEnhancedHealth"],
        ["updates", "arn:aws:iam::aws:policy/AWSElasticBeanstalkManagedUpdatesCustomerRolePolicy"]
      ],
      parent
    )

    const solutionStackName =
      args.solutionStackName ??
      aws.elasticbeanstalk.getSolutionStackOutput(
        { nameRegex: DOCKER_SOLUTION_STACK_REGEX, mostRecent: true },
        parent
      ).name

    // --- Security groups and environments ---------------------------------------------------------
    const environments = {} as Record<Role, aws.elasticbeanstalk.Environment>
    const instanceSgs = {} as Record<Role, pulumi.Output<string>>
    const lbSgs = {} as Record<Role, pulumi.Output<string>>
    const otelPort = args.wiring.otelEndpoint === undefined ? undefined : urlPort(args.wiring.otelEndpoint)

    for (const role of ROLES) {
      const needs = ROLE_NEEDS[role]
      // Only the public load balancers get the certificate: `process`'s stays HTTP inside the VPC.
      const certificateArn = needs.public ? args.certificateArn : undefined
      const lbSg = securityGroup(
        `${name}-${role}-lb`,
        {
          vpcId: args.vpcId,
          description: `EventFlow ${role} load balancer`,
          tagName: `${args.name}-${role}-lb`
        },
        parent
      )
      const instanceSg = securityGroup(
        `${name}-${role}-instances`,
        { vpcId: args.vpcId, description: `EventFlow ${role} instances`, tagName: `${args.name}-${role}` },
        parent
      )
      lbSgs[role] = lbSg.id
      instanceSgs[role] = instanceSg.id

      // Load balancer: HTTP from the internet (ingest, query) or from the VPC only (process); with a
      // certificate, HTTPS only from the internet (the HTTP listener is disabled, its port closed).
      if (certificateArn === undefined) {
        allowIngress(
          `${name}-${role}-lb-http`,
          {
            securityGroupId: lbSg.id,
            peer: { cidr: needs.public ? "0.0.0.0/0" : args.vpcCidr },
            port: LISTENER_PORT,
            description: needs.public ? "HTTP from the internet" : "HTTP from inside the VPC"
          },
          parent
        )
      } else {
        allowIngress(
          `${name}-${role}-lb-https`,
          {
            securityGroupId: lbSg.id,
            peer: { cidr: "0.0.0.0/0" },
            port: HTTPS_LISTENER_PORT,
            description: "HTTPS from the internet"
          },
          parent
        )
      }
      allowEgress(
        `${name}-${role}-lb-to-instances`,
        {
          securityGroupId: lbSg.id,
          peer: { securityGroupId: instanceSg.id },
          port: INSTANCE_PORT,
          description: "to the instances' nginx"
        },
        parent
      )
      // Instances: from their load balancer only.
      allowIngress(
        `${name}-${role}-from-lb`,
        {
          securityGroupId: instanceSg.id,
          peer: { securityGroupId: lbSg.id },
          port: INSTANCE_PORT,
          description: `from the ${role} load balancer`
        },
        parent
      )
      allowEgress(
        `${name}-${role}-https`,
        {
          securityGroupId: instanceSg.id,
          peer: { cidr: "0.0.0.0/0" },
          port: 443,
          description: "AWS APIs (ECR, S3, Secrets Manager, CloudWatch, Elastic Beanstalk) through NAT"
        },
        parent
      )
      if (otelPort !== undefined && otelPort !== 443) {
        allowEgress(
          `${name}-${role}-otel`,
          {
            securityGroupId: instanceSg.id,
            peer: { cidr: "0.0.0.0/0" },
            port: otelPort,
            description: "OpenTelemetry collector"
          },
          parent
        )
      }
      // Data stores: each opened to the roles that use it, on its port only, both ways.
      const stores: Array<[string, DataStore, number]> = [
        ["kafka", args.kafka, KAFKA_SASL_SCRAM_PORT],
        ["postgres", args.database, POSTGRES_PORT],
        ...(needs.redis ? [["redis", args.redis, REDIS_PORT] as [string, DataStore, number]] : [])
      ]
      for (const [store, target, port] of stores) {
        allowIngress(
          `${name}-${store}-from-${role}`,
          {
            securityGroupId: target.securityGroupId,
            peer: { securityGroupId: instanceSg.id },
            port,
            description: `from the ${role} instances`
          },
          parent
        )
        allowEgress(
          `${name}-${role}-to-${store}`,
          {
            securityGroupId: instanceSg.id,
            peer: { securityGroupId: target.securityGroupId },
            port,
            description: `to ${store}`
          },
          parent
        )
      }

      const size = args.sizing[role]
      const join = (ids: pulumi.Input<string>[]) => pulumi.all(ids).apply((all) => all.join(","))
      const settings = [
        setting("aws:elasticbeanstalk:environment", "EnvironmentType", "LoadBalanced"),
        setting("aws:elasticbeanstalk:environment", "LoadBalancerType", "application"),
        setting("aws:elasticbeanstalk:environment", "ServiceRole", serviceRole.arn),
        setting("aws:ec2:vpc", "VPCId", args.vpcId),
        setting("aws:ec2:vpc", "Subnets", join(args.privateSubnetIds)),
        setting(
          "aws:ec2:vpc",
          "ELBSubnets",
          join(needs.public ? args.publicSubnetIds : args.privateSubnetIds)
        ),
        setting("aws:ec2:vpc", "ELBScheme", needs.public ? "public" : "internal"),
        setting("aws:ec2:vpc", "AssociatePublicIpAddress", "false"),
        setting("aws:autoscaling:launchconfiguration", "IamInstanceProfile", profile.name),
        setting("aws:autoscaling:launchconfiguration", "SecurityGroups", instanceSg.id),
        setting("aws:autoscaling:launchconfiguration", "DisableDefaultEC2SecurityGroup", "true"),
        setting("aws:autoscaling:launchconfiguration", "DisableIMDSv1", "true"),
        setting("aws:ec2:instances", "InstanceTypes", size.instanceType),
        setting("aws:autoscaling:asg", "MinSize", String(size.minInstances)),
        setting("aws:autoscaling:asg", "MaxSize", String(size.maxInstances)),
        setting("aws:autoscaling:trigger", "MeasureName", "CPUUtilization"),
        setting("aws:autoscaling:trigger", "Statistic", "Average"),
        setting("aws:autoscaling:trigger", "Unit", "Percent"),
        setting("aws:autoscaling:trigger", "Period", "1"),
        setting("aws:autoscaling:trigger", "BreachDuration", "5"),
        setting("aws:autoscaling:trigger", "UpperThreshold", "70"),
        setting("aws:autoscaling:trigger", "LowerThreshold", "30"),
        setting("aws:autoscaling:trigger", "UpperBreachScaleIncrement", "1"),
        setting("aws:autoscaling:trigger", "LowerBreachScaleIncrement", "-1"),
        setting("aws:elbv2:loadbalancer", "SecurityGroups", lbSg.id),
        setting("aws:elbv2:loadbalancer", "ManagedSecurityGroup", lbSg.id),
        ...listenerSettings(certificateArn),
        setting("aws:elasticbeanstalk:environment:process:default", "Port", String(INSTANCE_PORT)),
        setting("aws:elasticbeanstalk:environment:process:default", "Protocol", "HTTP"),
        setting("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath", HEALTH_CHECK_PATH),
        setting("aws:elasticbeanstalk:environment:process:default", "MatcherHTTPCode", "200"),
        setting("aws:elasticbeanstalk:environment:process:default", "HealthCheckInterval", "15"),
        setting("aws:elasticbeanstalk:environment:process:default", "HealthyThresholdCount", "2"),
        setting("aws:elasticbeanstalk:environment:process:default", "UnhealthyThresholdCount", "3"),
        // The services drain for up to 20 s on SIGTERM (EVENTFLOW_SHUTDOWN_TIMEOUT).
        setting("aws:elasticbeanstalk:environment:process:default", "DeregistrationTimeout", "25"),
        setting("aws:elasticbeanstalk:healthreporting:system", "SystemType", "enhanced"),
        setting("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs", "true"),
        setting("aws:elasticbeanstalk:cloudwatch:logs", "RetentionInDays", prod ? "30" : "7"),
        setting("aws:elasticbeanstalk:cloudwatch:logs", "DeleteOnTerminate", "false"),
        setting(
          "aws:elasticbeanstalk:command",
          "DeploymentPolicy",
          prod ? "RollingWithAdditionalBatch" : "AllAtOnce"
        ),
        setting("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateEnabled", "true"),
        setting("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateType", "Health"),
        setting("aws:elasticbeanstalk:managedactions", "ManagedActionsEnabled", "true"),
        setting("aws:elasticbeanstalk:managedactions", "PreferredStartTime", "Sun:03:00"),
        setting("aws:elasticbeanstalk:managedactions:platformupdate", "UpdateLevel", "minor"),
        ...Object.entries(environmentVariables(role, args.wiring)).map(([key, value]) =>
          setting("aws:elasticbeanstalk:application:environment", key, value)
        ),
        ...Object.entries(environmentSecrets(role, args.wiring)).map(([key, value]) =>
          setting("aws:elasticbeanstalk:application:environmentsecrets", key, value)
        )
      ]

      const envName = `${args.name}-${role}`
      if (envName.length > 40) {
        throw new Error(`The environment name '${envName}' is longer than Elastic Beanstalk's 40 characters.`)
      }
      environments[role] = new aws.elasticbeanstalk.Environment(
        `${name}-${role}`,
        {
          name: envName,
          application: app.name,
          tier: "WebServer",
          solutionStackName,
          version: version.name,
          settings,
          waitForReadyTimeout: "30m"
        },
        { parent: this, dependsOn: [profile] }
      )
    }

    this.environments = environments
    this.instanceSecurityGroupIds = instanceSgs
    this.loadBalancerSecurityGroupIds = lbSgs
    const scheme = args.certificateArn === undefined ? "http" : "https"
    const url = (role: "ingest" | "query") => {
      const host = args.hostNames?.[role]
      return host === undefined
        ? pulumi.interpolate`${scheme}://${environments[role].cname}`
        : pulumi.output(`${scheme}://${host}`)
    }
    this.ingestUrl = url("ingest")
    this.queryUrl = url("query")

    this.registerOutputs({ ingestUrl: this.ingestUrl, queryUrl: this.queryUrl, imageUri: this.imageUri })
  }
}
