/**
 * Security group helpers. Every rule is its own resource (`aws.vpc.SecurityGroupIngressRule` /
 * `SecurityGroupEgressRule`), never inline, so that one component can open a port of another's group
 * (the services open the data stores' ports to themselves). A group created here has no rule at all:
 * the provider removes the default allow-all egress rule of a new group.
 */
import * as aws from "@pulumi/aws"
import type * as pulumi from "@pulumi/pulumi"

/** A source or destination: another security group, or an IPv4 block. */
export type Peer =
  | { readonly securityGroupId: pulumi.Input<string> }
  | { readonly cidr: pulumi.Input<string> }

export interface RuleArgs {
  /** The group the rule belongs to. */
  readonly securityGroupId: pulumi.Input<string>
  readonly peer: Peer
  readonly port: number
  readonly description: string
}

export const securityGroup = (
  name: string,
  args: { readonly vpcId: pulumi.Input<string>; readonly description: string; readonly tagName: string },
  opts: pulumi.CustomResourceOptions
): aws.ec2.SecurityGroup =>
  new aws.ec2.SecurityGroup(
    name,
    { vpcId: args.vpcId, description: args.description, tags: { Name: args.tagName } },
    opts
  )

const peerArgs = (peer: Peer) =>
  "securityGroupId" in peer ? { referencedSecurityGroupId: peer.securityGroupId } : { cidrIpv4: peer.cidr }

/** One TCP port between `securityGroupId` and `peer`. */
const ruleInputs = (args: RuleArgs) => ({
  securityGroupId: args.securityGroupId,
  ipProtocol: "tcp",
  fromPort: args.port,
  toPort: args.port,
  description: args.description,
  ...peerArgs(args.peer)
})

/** Allows TCP `port` into `securityGroupId` from `peer`. */
export const allowIngress = (
  name: string,
  args: RuleArgs,
  opts: pulumi.CustomResourceOptions
): aws.vpc.SecurityGroupIngressRule => new aws.vpc.SecurityGroupIngressRule(name, ruleInputs(args), opts)

/** Allows TCP `port` out of `securityGroupId` to `peer`. */
export const allowEgress = (
  name: string,
  args: RuleArgs,
  opts: pulumi.CustomResourceOptions
): aws.vpc.SecurityGroupEgressRule => new aws.vpc.SecurityGroupEgressRule(name, ruleInputs(args), opts)
