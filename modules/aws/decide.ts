/** Pure decisions for AWS sites: zones, address plan, image architecture. */

/**
 * The address plan of every site's VPC. Sites never peer (they talk over their public addresses,
 * admitted by security group rules), so one fixed plan keeps a VPC stable however sites are
 * added, removed or reordered: a plan keyed on a site's position would replace its VPC when the
 * list changes.
 */
export const VPC_CIDR = '10.20.0.0/16';

/** Two public /24 subnets, one per zone: 10.20.0.0/24, 10.20.1.0/24, ... */
export function subnetCidrs(vpcCidr: string, count: number): string[] {
  const m = /^10\.(\d+)\.0\.0\/16$/.exec(vpcCidr);
  if (!m) throw new Error(`subnetCidrs: ${vpcCidr} is not a 10.x.0.0/16 plan`);
  if (!Number.isInteger(count) || count < 1 || count > 256) throw new Error(`subnetCidrs: count ${count} must be 1..256`);
  return Array.from({ length: count }, (_, i) => `10.${m[1]}.${i}.0/24`);
}

/**
 * Zones known to lack current instance families; a subnet there would strand the instance.
 * (us-east-1e offers no c6i/m6i/r6i and later.)
 */
export const CONSTRAINED_ZONES: ReadonlySet<string> = new Set(['us-east-1e']);

/**
 * The first `count` available zones by name, skipping constrained ones. The instance and its
 * data volume go in the first; the second subnet is there so the site can move zones.
 */
export function chooseZones(available: readonly string[], count = 2): string[] {
  const usable = [...new Set(available)].filter((z) => !CONSTRAINED_ZONES.has(z)).sort();
  if (usable.length < count) {
    throw new Error(`the region offers ${usable.length} usable availability zone(s) (${usable.join(', ') || 'none'}); a site needs ${count}`);
  }
  return usable.slice(0, count);
}

/** Graviton families (c7g, m6gd, t4g, c6gn, ...) run arm64 images; everything else amd64. */
export function ubuntuArch(instanceType: string): 'arm64' | 'amd64' {
  const family = instanceType.split('.')[0];
  return /^[a-z]+\d+[a-z]*g[a-z]*$/.test(family) ? 'arm64' : 'amd64';
}

/** Canonical's AWS account: the only owner whose "ubuntu/images/..." names are trusted. */
export const CANONICAL_OWNER = '099720109477';

/** Image name filter for the current Ubuntu LTS (24.04, Noble) server image. */
export function ubuntuImageFilter(arch: 'arm64' | 'amd64'): string {
  return `ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${arch}-server-*`;
}

/** EventBridge Scheduler's rate expression for "every N hours" (it wants the singular for 1). */
export function refreshRate(hours: number): string {
  if (!Number.isInteger(hours) || hours < 1) throw new Error(`refreshRate: ${hours} is not a whole number of hours >= 1`);
  return hours === 1 ? 'rate(1 hour)' : `rate(${hours} hours)`;
}

/** EventBridge Scheduler's universal target for EC2 StartInstances (any SDK call works this way). */
export const START_INSTANCES_TARGET = 'arn:aws:scheduler:::aws-sdk:ec2:startInstances';
