/**
 * CloudWatch alarms, all notifying one SNS topic (with an optional email subscription):
 *
 * - consumer lag of each pipeline: the largest `SumOffsetLag` (MSK, DEFAULT monitoring level) over the
 *   topics of the consumer group `<topicPrefix>eventflow.<pipeline>`, as a Metrics Insights query, so
 *   that the alarm needs no topic name;
 * - per environment: 5xx answers of its targets (`AWS/ApplicationELB` `HTTPCode_Target_5XX_Count` of the
 *   environment's load balancer) and the average CPU of its Auto Scaling group;
 * - PostgreSQL: CPU and free storage;
 * - Redis, per node: engine CPU and memory used (% of maxmemory).
 */
import * as aws from "@pulumi/aws"
import * as pulumi from "@pulumi/pulumi"
import type { Role, Sizing } from "../settings.ts"

export interface AlarmsArgs {
  readonly name: string
  readonly thresholds: Sizing["alarms"]
  readonly email: string | undefined
  readonly kafkaClusterName: pulumi.Input<string>
  readonly topicPrefix: string
  readonly pipelines: ReadonlyArray<string>
  readonly environments: {
    readonly [R in Role]: {
      readonly loadBalancers: pulumi.Output<string[]>
      readonly autoscalingGroups: pulumi.Output<string[]>
    }
  }
  readonly databaseIdentifier: pulumi.Input<string>
  readonly redisNodeIds: pulumi.Input<string>[]
}

/** The `LoadBalancer` dimension of an ALB (`app/<name>/<id>`) from its ARN (or that value itself). */
export const loadBalancerDimension = (arnOrName: string): string => {
  const marker = ":loadbalancer/"
  const at = arnOrName.indexOf(marker)
  return at === -1 ? arnOrName : arnOrName.slice(at + marker.length)
}

/** The Metrics Insights query of a consumer group's lag: the max over its topics. */
export const consumerLagQuery = (clusterName: string, group: string): string =>
  `SELECT MAX(SumOffsetLag) FROM SCHEMA("AWS/Kafka", "Cluster Name", "Consumer Group", Topic) ` +
  `WHERE "Cluster Name" = '${clusterName}' AND "Consumer Group" = '${group}'`

const first = (values: pulumi.Output<string[]>, what: string) =>
  values.apply((list) => {
    const value = list[0]
    if (value === undefined) throw new Error(`The environment has no ${what}.`)
    return value
  })

export class Alarms extends pulumi.ComponentResource {
  readonly topicArn: pulumi.Output<string>
  readonly alarmNames: pulumi.Output<string>[] = []

  constructor(name: string, args: AlarmsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("eventflow:aws:Alarms", name, {}, opts)
    const parent = { parent: this }
    const t = args.thresholds

    const topic = new aws.sns.Topic(name, { name: `${args.name}-alarms` }, parent)
    this.topicArn = topic.arn
    if (args.email !== undefined) {
      new aws.sns.TopicSubscription(
        `${name}-email`,
        { topic: topic.arn, protocol: "email", endpoint: args.email },
        parent
      )
    }

    const alarm = (key: string, alarmArgs: aws.cloudwatch.MetricAlarmArgs) => {
      const created = new aws.cloudwatch.MetricAlarm(
        `${name}-${key}`,
        {
          name: `${args.name}-${key}`,
          alarmActions: [topic.arn],
          okActions: [topic.arn],
          treatMissingData: "notBreaching",
          ...alarmArgs
        },
        parent
      )
      this.alarmNames.push(created.name)
      return created
    }

    for (const pipeline of args.pipelines) {
      const group = `${args.topicPrefix}eventflow.${pipeline}`
      alarm(`lag-${pipeline}`, {
        alarmDescription: `Consumer group ${group} is more than ${t.consumerLagRecords} records behind`,
        comparisonOperator: "GreaterThanThreshold",
        threshold: t.consumerLagRecords,
        evaluationPeriods: 5,
        datapointsToAlarm: 5,
        metricQueries: [
          {
            id: "lag",
            label: `${group} lag`,
            expression: pulumi
              .output(args.kafkaClusterName)
              .apply((cluster) => consumerLagQuery(cluster, group)),
            period: 60,
            returnData: true
          }
        ]
      })
    }

    for (const role of Object.keys(args.environments) as Role[]) {
      const env = args.environments[role]
      alarm(`${role}-5xx`, {
        alarmDescription: `The ${role} instances answer 5xx (more than ${t.http5xxPerMinute} a minute)`,
        namespace: "AWS/ApplicationELB",
        metricName: "HTTPCode_Target_5XX_Count",
        dimensions: { LoadBalancer: first(env.loadBalancers, "load balancer").apply(loadBalancerDimension) },
        statistic: "Sum",
        period: 60,
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        comparisonOperator: "GreaterThanThreshold",
        threshold: t.http5xxPerMinute
      })
      alarm(`${role}-cpu`, {
        alarmDescription: `The ${role} instances' CPU is above ${t.serviceCpuPercent}%`,
        namespace: "AWS/EC2",
        metricName: "CPUUtilization",
        dimensions: { AutoScalingGroupName: first(env.autoscalingGroups, "Auto Scaling group") },
        statistic: "Average",
        period: 300,
        evaluationPeriods: 2,
        comparisonOperator: "GreaterThanThreshold",
        threshold: t.serviceCpuPercent
      })
    }

    alarm("postgres-cpu", {
      alarmDescription: `PostgreSQL CPU is above ${t.databaseCpuPercent}%`,
      namespace: "AWS/RDS",
      metricName: "CPUUtilization",
      dimensions: { DBInstanceIdentifier: args.databaseIdentifier },
      statistic: "Average",
      period: 300,
      evaluationPeriods: 2,
      comparisonOperator: "GreaterThanThreshold",
      threshold: t.databaseCpuPercent
    })
    alarm("postgres-storage", {
      alarmDescription: `PostgreSQL has less than ${t.databaseFreeStorageBytes} bytes of free storage`,
      namespace: "AWS/RDS",
      metricName: "FreeStorageSpace",
      dimensions: { DBInstanceIdentifier: args.databaseIdentifier },
      statistic: "Minimum",
      period: 300,
      evaluationPeriods: 1,
      comparisonOperator: "LessThanThreshold",
      threshold: t.databaseFreeStorageBytes,
      treatMissingData: "breaching"
    })

    args.redisNodeIds.forEach((node, i) => {
      alarm(`redis-${i + 1}-cpu`, {
        alarmDescription: `Redis node ${i + 1}: engine CPU above ${t.redisCpuPercent}%`,
        namespace: "AWS/ElastiCache",
        metricName: "EngineCPUUtilization",
        dimensions: { CacheClusterId: node },
        statistic: "Average",
        period: 300,
        evaluationPeriods: 2,
        comparisonOperator: "GreaterThanThreshold",
        threshold: t.redisCpuPercent
      })
      alarm(`redis-${i + 1}-memory`, {
        alarmDescription: `Redis node ${i + 1}: memory above ${t.redisMemoryPercent}% of maxmemory`,
        namespace: "AWS/ElastiCache",
        metricName: "DatabaseMemoryUsagePercentage",
        dimensions: { CacheClusterId: node },
        statistic: "Average",
        period: 300,
        evaluationPeriods: 2,
        comparisonOperator: "GreaterThanThreshold",
        threshold: t.redisMemoryPercent
      })
    })

    this.registerOutputs({ topicArn: this.topicArn })
  }
}
