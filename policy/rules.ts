/**
 * tandem's policies as pure functions over a resource graph. The same functions back the
 * `@pulumi/policy` pack (policy/index.ts, for `pulumi preview --policy-pack policy`) and the
 * findings `tandem plan` prints; tests feed them graphs that violate them.
 */
import { metroOf } from '../model/topology/regions';

/** What a rule needs to know about one resource. */
export interface PolicyResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** AWS region / Azure location of the resource; null when it has none. */
  readonly region: string | null;
  readonly inputs: Record<string, any>;
}

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  readonly severity: Severity;
  readonly rule: string;
  /** Logical name of the resource concerned (or the stack, for graph-wide findings). */
  readonly resource: string;
  readonly urn?: string;
  readonly message: string;
}

export interface Rule {
  readonly id: string;
  readonly description: string;
  check(resources: readonly PolicyResource[]): Finding[];
}

export const T = {
  instance: 'aws:ec2/instance:Instance',
  volume: 'aws:ebs/volume:Volume',
  sg: 'aws:ec2/securityGroup:SecurityGroup',
  sgRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  ingress: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  launchTemplate: 'aws:ec2/launchTemplate:LaunchTemplate',
  dlm: 'aws:dlm/lifecyclePolicy:LifecyclePolicy',
  vm: 'azure-native:compute:VirtualMachine',
  disk: 'azure-native:compute:Disk',
  nsg: 'azure-native:network:NetworkSecurityGroup',
  nsgRule: 'azure-native:network:SecurityRule',
  backupInstance: 'azure-native:dataprotection:BackupInstance',
} as const;

const SNAPSHOT_TAG = 'tandem:snapshots';
const SSH_PORT = 22;
const OPT_IN = /\(allowOpenSsh\)/;

function finding(severity: Severity, rule: string, r: PolicyResource | null, message: string): Finding {
  return r ? { severity, rule, resource: r.name, urn: r.urn, message } : { severity, rule, resource: '(stack)', message };
}

// ---------------------------------------------------------------------------------------------
// geographic separation

function hostRole(r: PolicyResource): { site: string; role: string } | null {
  if (r.type !== T.instance && r.type !== T.vm) return null;
  const tags = r.inputs.tags ?? {};
  return tags['tandem:role'] ? { site: tags['tandem:site'] ?? r.name, role: tags['tandem:role'] } : null;
}

function place(r: PolicyResource): string | null {
  if (!r.region) return null;
  const provider = r.type.startsWith('azure-native:') ? 'azure' : 'aws';
  return metroOf(provider, r.region) ?? `${provider}:${r.region}`;
}

export const geoSeparation: Rule = {
  id: 'geo-separation',
  description: 'At least one mirror is outside the metro area of the master; mirrors beside the master are only extras.',
  check(resources) {
    const hosts = resources.map((r) => ({ r, h: hostRole(r) })).filter((x) => x.h !== null);
    const master = hosts.find((x) => x.h!.role === 'master');
    if (!master) return [];
    const at = place(master.r);
    const mirrors = hosts.filter((x) => x.h!.role === 'mirror');
    const near = mirrors.filter((x) => at !== null && place(x.r) === at);
    const far = mirrors.filter((x) => !near.includes(x));
    return near.map(({ r, h }) =>
      far.length === 0
        ? finding(
            'error',
            this.id,
            r,
            `mirror "${h!.site}" (${r.region}) is in ${at}, the master's metro, and no cloud mirror is outside it: one outage takes out both; place a mirror in another region`,
          )
        : finding('info', this.id, r, `mirror "${h!.site}" (${r.region}) shares the master's metro (${at}); mirrors elsewhere cover a metro-wide outage`),
    );
  },
};

// ---------------------------------------------------------------------------------------------
// encryption at rest

const AZURE_ENCRYPTION = ['EncryptionAtRestWithPlatformKey', 'EncryptionAtRestWithCustomerKey', 'EncryptionAtRestWithPlatformAndCustomerKeys'];

export const encryptionAtRest: Rule = {
  id: 'encryption-at-rest',
  description: 'Every volume and disk is encrypted at rest (EBS with a KMS key; Azure disks with an explicit encryption type).',
  check(resources) {
    const out: Finding[] = [];
    for (const r of resources) {
      const i = r.inputs;
      if (r.type === T.volume) {
        if (i.encrypted !== true) out.push(finding('error', this.id, r, `EBS volume ${r.name} is not encrypted; set encrypted: true with the site's KMS key`));
        else if (!i.kmsKeyId)
          out.push(finding('warning', this.id, r, `EBS volume ${r.name} uses the AWS-managed key; the site's own KMS key lets snapshots be copied across regions under your control`));
      } else if (r.type === T.instance) {
        if (i.rootBlockDevice?.encrypted !== true) out.push(finding('error', this.id, r, `instance ${r.name} has an unencrypted root volume; set rootBlockDevice.encrypted: true`));
        for (const [k, d] of (i.ebsBlockDevices ?? []).entries()) {
          if (d?.encrypted !== true) out.push(finding('error', this.id, r, `instance ${r.name} ebsBlockDevices[${k}] is not encrypted`));
        }
      } else if (r.type === T.launchTemplate) {
        for (const [k, d] of (i.blockDeviceMappings ?? []).entries()) {
          if (d?.ebs && d.ebs.encrypted !== true && d.ebs.encrypted !== 'true') out.push(finding('error', this.id, r, `launch template ${r.name} blockDeviceMappings[${k}] is not encrypted`));
        }
      } else if (r.type === T.disk) {
        const type = i.encryption?.type;
        if (!AZURE_ENCRYPTION.includes(type))
          out.push(
            finding('error', this.id, r, `Azure disk ${r.name} has encryption type ${JSON.stringify(type ?? null)}; set encryption.type to EncryptionAtRestWithPlatformKey (or a customer key)`),
          );
      } else if (r.type === T.vm) {
        const sp = i.storageProfile ?? {};
        if (!sp.osDisk?.managedDisk) out.push(finding('error', this.id, r, `VM ${r.name} has an unmanaged OS disk, which Azure does not encrypt at rest; use a managed disk`));
        for (const [k, d] of (sp.dataDisks ?? []).entries()) {
          if (d?.createOption !== 'Attach')
            out.push(
              finding(
                'error',
                this.id,
                r,
                `VM ${r.name} dataDisks[${k}] is created inline, so its encryption is not declared; create an azure-native compute.Disk with an encryption type and attach it`,
              ),
            );
        }
      } else if (r.type === T.dlm) {
        for (const s of i.policyDetails?.schedules ?? []) {
          for (const c of s?.crossRegionCopyRules ?? []) {
            if (c?.encrypted !== true) out.push(finding('error', this.id, r, `snapshot policy ${r.name} copies to ${c?.target ?? c?.targetRegion} unencrypted; set encrypted: true with a key there`));
          }
        }
      }
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// no world-open SSH

const WORLD = new Set(['0.0.0.0/0', '::/0', '*', 'Internet', 'Any', 'any', 'internet']);

function awsCoversSsh(from: unknown, to: unknown, protocol: unknown, description: unknown): boolean {
  if (protocol === '-1' || protocol === 'all') return true;
  if (typeof description === 'string' && /\bssh\b/i.test(description)) return true;
  const f = Number(from);
  const t = Number(to ?? from);
  return Number.isFinite(f) && f <= SSH_PORT && SSH_PORT <= t;
}

function azureCoversSsh(rule: Record<string, any>): boolean {
  if (typeof rule.description === 'string' && /\bssh\b/i.test(rule.description)) return true;
  const ranges: string[] = [rule.destinationPortRange, ...(rule.destinationPortRanges ?? [])].filter((x) => typeof x === 'string');
  return ranges.some((p) => {
    if (p === '*') return true;
    const [a, b] = p.split('-').map(Number);
    return a <= SSH_PORT && SSH_PORT <= (b ?? a);
  });
}

export const noWorldSsh: Rule = {
  id: 'no-world-ssh',
  description: 'No security rule admits SSH from 0.0.0.0/0, ::/0 or Internet, unless the topology opts in with allowOpenSsh.',
  check(resources) {
    const out: Finding[] = [];
    const report = (r: PolicyResource, what: string, description: unknown) => {
      const optedIn = typeof description === 'string' && OPT_IN.test(description);
      out.push(
        optedIn
          ? finding('warning', this.id, r, `${r.name} admits SSH from ${what}, as allowOpenSsh asks; anyone can try to log in`)
          : finding('error', this.id, r, `${r.name} admits SSH from ${what}; admit only adminCidrs and the other sites, or set allowOpenSsh: true in the topology if you really mean it`),
      );
    };
    for (const r of resources) {
      const i = r.inputs;
      if (r.type === T.ingress) {
        const src = i.cidrIpv4 ?? i.cidrIpv6;
        if (WORLD.has(src) && awsCoversSsh(i.fromPort, i.toPort, i.ipProtocol, i.description)) report(r, src, i.description);
      } else if (r.type === T.sgRule) {
        if (i.type !== 'ingress') continue;
        const srcs = [...(i.cidrBlocks ?? []), ...(i.ipv6CidrBlocks ?? [])].filter((c: string) => WORLD.has(c));
        if (srcs.length && awsCoversSsh(i.fromPort, i.toPort, i.protocol, i.description)) report(r, srcs.join(', '), i.description);
      } else if (r.type === T.sg) {
        for (const g of i.ingress ?? []) {
          const srcs = [...(g.cidrBlocks ?? []), ...(g.ipv6CidrBlocks ?? [])].filter((c: string) => WORLD.has(c));
          if (srcs.length && awsCoversSsh(g.fromPort, g.toPort, g.protocol, g.description)) report(r, srcs.join(', '), g.description);
        }
      } else if (r.type === T.nsgRule || r.type === T.nsg) {
        const rules = r.type === T.nsg ? (i.securityRules ?? []) : [i];
        for (const s of rules) {
          if (s.direction !== 'Inbound' || s.access !== 'Allow') continue;
          const srcs = [s.sourceAddressPrefix, ...(s.sourceAddressPrefixes ?? [])].filter((x) => typeof x === 'string' && WORLD.has(x));
          if (srcs.length && azureCoversSsh(s)) report(r, srcs.join(', '), s.description);
        }
      }
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// IMDSv2

export const imdsv2: Rule = {
  id: 'imdsv2',
  description: 'Every EC2 instance and launch template requires IMDSv2 (session tokens).',
  check(resources) {
    const out: Finding[] = [];
    for (const r of resources) {
      if (r.type !== T.instance && r.type !== T.launchTemplate) continue;
      const tokens = r.inputs.metadataOptions?.httpTokens;
      if (tokens !== 'required') out.push(finding('error', this.id, r, `${r.name} allows IMDSv1 (metadataOptions.httpTokens is ${JSON.stringify(tokens ?? null)}); set it to "required"`));
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// snapshots

export const snapshotsPresent: Rule = {
  id: 'snapshots',
  description: 'Every data volume/disk is covered by an enabled snapshot schedule; AWS snapshots are also copied to another region.',
  check(resources) {
    const out: Finding[] = [];
    const dlm = resources.filter((r) => r.type === T.dlm && r.inputs.state !== 'DISABLED');
    const backups = resources.filter((r) => r.type === T.backupInstance);
    for (const r of resources) {
      if (r.type === T.volume) {
        const key = r.inputs.tags?.[SNAPSHOT_TAG];
        const p = key ? dlm.find((d) => d.inputs.policyDetails?.targetTags?.[SNAPSHOT_TAG] === key && (d.inputs.policyDetails?.resourceTypes ?? []).includes('VOLUME')) : undefined;
        if (!p) {
          out.push(
            finding('error', this.id, r, `EBS volume ${r.name} has no snapshot schedule${key ? ` (no enabled DLM policy targets ${SNAPSHOT_TAG}=${key})` : ` (it has no ${SNAPSHOT_TAG} tag)`}`),
          );
        } else if (!(p.inputs.policyDetails?.schedules ?? []).some((s: any) => (s?.crossRegionCopyRules ?? []).length > 0)) {
          out.push(finding('warning', this.id, p, `snapshots of ${r.name} stay in ${r.region}; a regional outage would take them too — add an AWS mirror in another region to copy them to`));
        }
      } else if (r.type === T.disk) {
        const key = r.inputs.tags?.[SNAPSHOT_TAG];
        if (!key || !backups.some((b) => b.inputs.tags?.[SNAPSHOT_TAG] === key)) {
          out.push(finding('error', this.id, r, `Azure disk ${r.name} has no scheduled snapshots${key ? ` (no backup instance tagged ${SNAPSHOT_TAG}=${key})` : ` (it has no ${SNAPSHOT_TAG} tag)`}`));
        }
      }
    }
    return out;
  },
};

export const RULES: readonly Rule[] = [geoSeparation, encryptionAtRest, noWorldSsh, imdsv2, snapshotsPresent];

const ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Every rule over one graph; errors first. */
export function checkAll(resources: readonly PolicyResource[], rules: readonly Rule[] = RULES): Finding[] {
  return rules.flatMap((r) => r.check(resources)).sort((a, b) => ORDER[a.severity] - ORDER[b.severity]);
}
