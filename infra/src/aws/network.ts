/**
 * The VPC: 3 availability zones, a public subnet per zone (load balancers and NAT gateways only) and a
 * private subnet per zone (instances and data stores), an internet gateway, NAT gateways (one per zone
 * in prod, a single one in dev) and the route tables. The subnet plan is `planSubnets` (`cidr.ts`).
 */
import * as aws from "@pulumi/aws"
import * as pulumi from "@pulumi/pulumi"
import { planSubnets } from "../cidr.ts"

export interface NetworkArgs {
  readonly name: string
  readonly vpcCidr: string
  readonly zones: number
  readonly natGateways: number
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>
  readonly vpcCidr: string
  readonly availabilityZones: pulumi.Output<string[]>
  readonly publicSubnetIds: pulumi.Output<string>[]
  readonly privateSubnetIds: pulumi.Output<string>[]

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("eventflow:aws:Network", name, {}, opts)
    const parent = { parent: this }
    const plan = planSubnets(args.vpcCidr, args.zones)
    if (args.natGateways < 1 || args.natGateways > args.zones) {
      throw new Error(
        `A network of ${args.zones} zones has 1 to ${args.zones} NAT gateways, not ${args.natGateways}.`
      )
    }

    const zones = aws.getAvailabilityZonesOutput({ state: "available" }, parent).names.apply((names) => {
      if (names.length < args.zones) {
        throw new Error(`This region has ${names.length} availability zones; the stack needs ${args.zones}.`)
      }
      return names.slice(0, args.zones)
    })
    this.availabilityZones = zones
    this.vpcCidr = args.vpcCidr

    const vpc = new aws.ec2.Vpc(
      name,
      {
        cidrBlock: args.vpcCidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { Name: args.name }
      },
      parent
    )
    this.vpcId = vpc.id

    const igw = new aws.ec2.InternetGateway(name, { vpcId: vpc.id, tags: { Name: args.name } }, parent)

    const publicSubnets = plan.public.map(
      (cidrBlock, i) =>
        new aws.ec2.Subnet(
          `${name}-public-${i}`,
          {
            vpcId: vpc.id,
            cidrBlock,
            availabilityZone: zones.apply((z) => z[i]!),
            // Load balancers get their public addresses themselves; nothing else lives here.
            mapPublicIpOnLaunch: false,
            tags: { Name: `${args.name}-public-${i}`, Tier: "public" }
          },
          parent
        )
    )
    const privateSubnets = plan.private.map(
      (cidrBlock, i) =>
        new aws.ec2.Subnet(
          `${name}-private-${i}`,
          {
            vpcId: vpc.id,
            cidrBlock,
            availabilityZone: zones.apply((z) => z[i]!),
            mapPublicIpOnLaunch: false,
            tags: { Name: `${args.name}-private-${i}`, Tier: "private" }
          },
          parent
        )
    )
    this.publicSubnetIds = publicSubnets.map((s) => s.id)
    this.privateSubnetIds = privateSubnets.map((s) => s.id)

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      {
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: { Name: `${args.name}-public` }
      },
      parent
    )
    publicSubnets.forEach((subnet, i) => {
      new aws.ec2.RouteTableAssociation(
        `${name}-public-${i}`,
        { subnetId: subnet.id, routeTableId: publicRoutes.id },
        parent
      )
    })

    const nats = Array.from({ length: args.natGateways }, (_, i) => {
      const eip = new aws.ec2.Eip(
        `${name}-nat-${i}`,
        { domain: "vpc", tags: { Name: `${args.name}-nat-${i}` } },
        parent
      )
      return new aws.ec2.NatGateway(
        `${name}-nat-${i}`,
        { allocationId: eip.id, subnetId: publicSubnets[i]!.id, tags: { Name: `${args.name}-nat-${i}` } },
        { parent: this, dependsOn: [igw] }
      )
    })

    privateSubnets.forEach((subnet, i) => {
      // Each zone's private subnet leaves through its own zone's NAT gateway when there is one.
      const nat = nats[i % nats.length]!
      const table = new aws.ec2.RouteTable(
        `${name}-private-${i}`,
        {
          vpcId: vpc.id,
          routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
          tags: { Name: `${args.name}-private-${i}` }
        },
        parent
      )
      new aws.ec2.RouteTableAssociation(
        `${name}-private-${i}`,
        { subnetId: subnet.id, routeTableId: table.id },
        parent
      )
    })

    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds
    })
  }
}
