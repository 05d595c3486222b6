/**
 * Pure IPv4 CIDR helpers: the subnet plan of the VPC.
 *
 * The plan, for a VPC of prefix length `p` (AWS allows `/16` to `/28`; we accept `/16` to `/20`):
 *
 * - the VPC is cut into 16 blocks of prefix `p + 4` (a `/16` gives sixteen `/20`);
 * - block 0 is cut again into 16 blocks of prefix `p + 8` (`/24` for a `/16`): the first three are the
 *   **public** subnets, one per availability zone (load balancers and NAT gateways only: small);
 * - blocks 1, 2 and 3 are the **private** subnets, one per availability zone (instances and data
 *   stores: large);
 * - blocks 4 to 15 stay free for later (more zones, dedicated database subnets…).
 *
 * With the default `10.40.0.0/16`: public `10.40.0.0/24`, `10.40.1.0/24`, `10.40.2.0/24`; private
 * `10.40.16.0/20`, `10.40.32.0/20`, `10.40.48.0/20`. A `/20` VPC, the smallest accepted, gets public
 * `/28` subnets (the smallest AWS allows: 11 usable addresses) and private `/24` ones.
 */

/** A parsed IPv4 CIDR block. */
export interface Cidr {
  /** The network address as an unsigned 32-bit integer. */
  readonly address: number
  readonly prefix: number
}

/** The subnets of one VPC: `public[i]` and `private[i]` are in the same availability zone. */
export interface SubnetPlan {
  readonly public: ReadonlyArray<string>
  readonly private: ReadonlyArray<string>
}

/** The largest VPC AWS accepts. */
export const MIN_VPC_PREFIX = 16
/** The smallest VPC this plan accepts: its public subnets are then `/28`, the smallest AWS allows. */
export const MAX_VPC_PREFIX = 20

const CIDR_PATTERN = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/

/** Parses `a.b.c.d/n`; throws an Error (a plain sentence) when it is not a valid network block. */
export const parseCidr = (text: string): Cidr => {
  const match = CIDR_PATTERN.exec(text.trim())
  if (match === null) {
    throw new Error(`'${text}' is not an IPv4 CIDR block like 10.40.0.0/16.`)
  }
  const octets = match.slice(1, 5).map(Number)
  if (octets.some((octet) => octet > 255)) {
    throw new Error(`'${text}' has an address part above 255.`)
  }
  const prefix = Number(match[5])
  if (prefix > 32) {
    throw new Error(`'${text}' has a prefix length above 32.`)
  }
  const address = octets.reduce((acc, octet) => acc * 256 + octet, 0)
  const size = 2 ** (32 - prefix)
  if (address % size !== 0) {
    const network = formatCidr({ address: address - (address % size), prefix })
    throw new Error(
      `'${text}' is not a network address: its host bits are not zero (did you mean ${network}?).`
    )
  }
  return { address, prefix }
}

/** Formats a block as `a.b.c.d/n`. */
export const formatCidr = (cidr: Cidr): string => {
  const octets = [24, 16, 8, 0].map((shift) => Math.floor(cidr.address / 2 ** shift) % 256)
  return `${octets.join(".")}/${cidr.prefix}`
}

/** The `index`-th block of prefix `prefix` inside `parent` (prefix at least the parent's). */
export const subdivide = (parent: Cidr, prefix: number, index: number): Cidr => {
  if (prefix < parent.prefix || prefix > 32) {
    throw new Error(`A /${prefix} block cannot be cut out of a /${parent.prefix} block.`)
  }
  const count = 2 ** (prefix - parent.prefix)
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new Error(
      `A /${parent.prefix} block has ${count} blocks of /${prefix}, not a block number ${index}.`
    )
  }
  return { address: parent.address + index * 2 ** (32 - prefix), prefix }
}

/** Whether `inner` lies entirely inside `outer`. */
export const contains = (outer: Cidr, inner: Cidr): boolean =>
  inner.prefix >= outer.prefix &&
  inner.address >= outer.address &&
  inner.address + 2 ** (32 - inner.prefix) <= outer.address + 2 ** (32 - outer.prefix)

/** Whether two blocks share an address. */
export const overlaps = (a: Cidr, b: Cidr): boolean => contains(a, b) || contains(b, a)

/**
 * The public and private subnets of `vpcCidr` for `zones` availability zones (1 to 3; see the
 * module comment for the plan). Throws an Error (a plain sentence) on a bad or unsuitable block.
 */
export const planSubnets = (vpcCidr: string, zones = 3): SubnetPlan => {
  const vpc = parseCidr(vpcCidr)
  if (vpc.prefix < MIN_VPC_PREFIX) {
    throw new Error(`The VPC block ${vpcCidr} is too large: AWS accepts /${MIN_VPC_PREFIX} at most.`)
  }
  if (vpc.prefix > MAX_VPC_PREFIX) {
    throw new Error(
      `The VPC block ${vpcCidr} is too small: it must be /${MAX_VPC_PREFIX} or larger (e.g. 10.40.0.0/16).`
    )
  }
  if (!Number.isInteger(zones) || zones < 1 || zones > 3) {
    throw new Error(`The subnet plan covers 1 to 3 availability zones, not ${zones}.`)
  }
  const publicBlock = subdivide(vpc, vpc.prefix + 4, 0)
  const indices = Array.from({ length: zones }, (_, i) => i)
  return {
    public: indices.map((i) => formatCidr(subdivide(publicBlock, vpc.prefix + 8, i))),
    private: indices.map((i) => formatCidr(subdivide(vpc, vpc.prefix + 4, i + 1)))
  }
}
