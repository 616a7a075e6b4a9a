/** The human form of a plan: a resource tree with key inputs, then the findings. */
import type { Plan, PlanResource } from './types';

/** Inputs worth a glance per type (dotted paths); the JSON form has them all. */
const KEY_INPUTS: Record<string, string[]> = {
  'aws:ec2/vpc:Vpc': ['cidrBlock'],
  'aws:ec2/subnet:Subnet': ['cidrBlock', 'availabilityZone'],
  'aws:ec2/instance:Instance': ['instanceType', 'ami', 'availabilityZone', 'metadataOptions.httpTokens', 'rootBlockDevice.encrypted'],
  'aws:ebs/volume:Volume': ['size', 'type', 'encrypted', 'availabilityZone'],
  'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule': ['fromPort', 'cidrIpv4', 'cidrIpv6', 'prefixListId'],
  'aws:ec2/eip:Eip': ['domain'],
  'aws:kms/key:Key': ['enableKeyRotation'],
  'aws:kms/alias:Alias': ['name'],
  'aws:ec2transitgateway/instanceState:InstanceState': ['state'],
  'aws:dlm/lifecyclePolicy:LifecyclePolicy': ['policyDetails.targetTags', 'policyDetails.schedules.0.crossRegionCopyRules.0.target'],
  'aws:route53/healthCheck:HealthCheck': ['type', 'ipAddress', 'port'],
  'aws:route53/record:Record': ['name', 'type', 'setIdentifier', 'records'],
  'tls:index/privateKey:PrivateKey': ['algorithm'],
  'azure-native:network:VirtualNetwork': ['addressSpace.addressPrefixes'],
  'azure-native:network:Subnet': ['addressPrefix'],
  'azure-native:network:PublicIPAddress': ['sku.name', 'publicIPAllocationMethod'],
  'azure-native:network:SecurityRule': ['priority', 'destinationPortRange', 'sourceAddressPrefix'],
  'azure-native:compute:Disk': ['diskSizeGB', 'sku.name', 'encryption.type'],
  'azure-native:compute:VirtualMachine': ['hardwareProfile.vmSize', 'storageProfile.imageReference.offer', 'osProfile.adminUsername'],
  'azure-native:dataprotection:BackupPolicy': ['properties.policyRules.0.trigger.schedule.repeatingTimeIntervals'],
};

function pick(inputs: Record<string, unknown>, path: string): unknown {
  let v: any = inputs;
  for (const k of path.split('.')) v = v == null ? undefined : v[k];
  return v;
}

function show(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object')) return v.join(',');
  return JSON.stringify(v);
}

function line(r: PlanResource): string {
  const parts = [r.type, r.name];
  if (r.region) parts.push(`[${r.region}]`);
  const keys = (KEY_INPUTS[r.type] ?? [])
    .map(
      (p) =>
        [
          p
            .split('.')
            .filter((s) => !/^\d+$/.test(s))
            .pop()!,
          pick(r.inputs, p),
        ] as const,
    )
    .filter(([, v]) => v !== undefined && v !== null);
  if (keys.length) parts.push(keys.map(([k, v]) => `${k}=${show(v)}`).join(' '));
  return parts.join('  ');
}

export function formatPlan(customer: string, p: Plan): string {
  const kids = new Map<string | null, PlanResource[]>();
  const names = new Set(p.resources.map((r) => r.name));
  for (const r of p.resources) {
    const parent = r.parent !== null && names.has(r.parent) ? r.parent : null;
    kids.set(parent, [...(kids.get(parent) ?? []), r]);
  }
  for (const list of kids.values()) list.sort((a, b) => (a.type.startsWith('tandem:') === b.type.startsWith('tandem:') ? a.name.localeCompare(b.name) : a.type.startsWith('tandem:') ? 1 : -1));
  const out: string[] = [];
  const walk = (r: PlanResource, prefix: string, last: boolean, root: boolean) => {
    out.push(root ? line(r) : `${prefix}${last ? '└─ ' : '├─ '}${line(r)}`);
    const children = kids.get(r.name) ?? [];
    children.forEach((c, i) => walk(c, root ? '' : `${prefix}${last ? '   ' : '│  '}`, i === children.length - 1, false));
  };
  for (const r of kids.get(null) ?? []) walk(r, '', true, true);

  const counts = { error: 0, warning: 0, info: 0 };
  for (const f of p.findings) counts[f.severity]++;
  const custom = p.resources.filter((r) => !r.type.startsWith('tandem:')).length;
  return [
    `OFFLINE PLAN for stack "${customer}": the stack program run on Pulumi's mock runtime`,
    `(no Pulumi CLI, no credentials, no network). IDs, addresses and keys are placeholders;`,
    `\`pulumi preview --stack ${customer}\` shows what a real deployment would do.`,
    '',
    `RESOURCES: ${p.resources.length} (${custom} resources and providers, ${p.resources.length - custom} tandem components)`,
    ...out,
    '',
    `FINDINGS: ${counts.error} error(s), ${counts.warning} warning(s), ${counts.info} note(s)`,
    ...(p.findings.length ? p.findings.map((f) => `  ${f.severity.padEnd(7)} ${f.rule}  ${f.resource}: ${f.message}`) : ['  none']),
  ].join('\n');
}
