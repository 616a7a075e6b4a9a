/**
 * Pulumi mocks that return realistic state (addresses, ARNs, Azure ids, real ed25519 host keys)
 * and record every resource and call, for `tandem plan` and the component tests. Values are
 * derived from resource names, so a plan prints the same thing every time.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import type * as pulumi from '@pulumi/pulumi';

export interface RecordedResource {
  readonly type: string;
  readonly name: string;
  readonly custom: boolean;
  readonly inputs: Record<string, any>;
  /** Provider reference (`<urn>::<id>`) the engine was told to use; undefined = default/none. */
  readonly provider?: string;
  readonly id: string | undefined;
  readonly state: Record<string, any>;
}

export interface RecordedProvider {
  readonly urnName: string;
  readonly pkg: string;
  /** AWS region / Azure location the provider was configured with. */
  readonly region: string | null;
}

export interface RecordedCall {
  readonly token: string;
  readonly inputs: Record<string, any>;
  readonly provider?: string;
}

export const MOCK_ACCOUNT = '123456789012';
export const MOCK_SUBSCRIPTION = '00000000-0000-4000-8000-000000000000';

function digest(...parts: string[]): Buffer {
  return createHash('sha256').update(parts.join('\0')).digest();
}
function hex(seed: string, n: number): string {
  return digest(seed).toString('hex').slice(0, n);
}
function uuid(seed: string): string {
  const h = digest('uuid', seed).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
/** A public-looking IPv4 address in `first.x.y.z`. */
function ipv4(first: number, seed: string): string {
  const d = digest('ip', seed);
  return `${first}.${d[0]}.${d[1]}.${(d[2] % 250) + 2}`;
}

function sshString(b: Buffer | string): Buffer {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

/** A real ed25519 key pair in OpenSSH formats, derived from `seed`. */
export function ed25519FromSeed(seed: string, comment = ''): { publicOpenssh: string; privateOpenssh: string } {
  const sk = digest('ed25519', seed);
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), sk]);
  const priv = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32);
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = digest('check', seed).subarray(0, 4);
  let section = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([sk, pub])), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (section.length + pad.length) % 8 !== 0; i++) pad.push(i);
  section = Buffer.concat([section, Buffer.from(pad)]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), Buffer.from([0, 0, 0, 1]), sshString(blob), sshString(section)]);
  const b64 = body
    .toString('base64')
    .replace(/(.{70})/g, '$1\n')
    .trim();
  return {
    publicOpenssh: `ssh-ed25519 ${blob.toString('base64')}\n`,
    privateOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`,
  };
}

/**
 * `type::name` of the provider behind a reference `urn:pulumi:<stack>::<project>::<types>::<name>::<id>`.
 * Names are unique in a tandem stack, so the pair identifies the provider.
 */
export function providerRefKey(ref: string | undefined): string | undefined {
  if (!ref) return undefined;
  const parts = ref.split('::');
  if (parts.length < 5) return undefined;
  const name = parts[parts.length - 2];
  const type = parts[parts.length - 3].split('$').pop()!;
  return `${type}::${name}`;
}

export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  readonly calls: RecordedCall[] = [];
  /** Providers by `type::name`. */
  readonly providers = new Map<string, RecordedProvider>();

  constructor(private readonly stack: string) {}

  /** The region or location behind a provider reference; null when there is none. */
  regionOf(ref: string | undefined): string | null {
    const key = providerRefKey(ref);
    return (key && this.providers.get(key)?.region) ?? null;
  }

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const { type, name, inputs } = args;
    if (type.startsWith('pulumi:providers:')) {
      const pkg = type.slice('pulumi:providers:'.length);
      const region = (inputs.region ?? inputs.location ?? null) as string | null;
      this.providers.set(`${type}::${name}`, { urnName: name, pkg, region });
    }
    const region = this.regionOf(args.provider) ?? (typeof inputs.location === 'string' ? inputs.location : null) ?? 'us-east-1';
    const { id, extra } = this.state(type, name, inputs, region);
    const state = { ...inputs, ...extra };
    this.resources.push({ type, name, custom: args.custom ?? true, inputs, provider: args.provider, id, state });
    return { id, state };
  }

  call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
    this.calls.push({ token: args.token, inputs: args.inputs, provider: args.provider });
    const region = this.regionOf(args.provider) ?? 'us-east-1';
    const i = args.inputs ?? {};
    switch (args.token) {
      case 'aws:index/getAvailabilityZones:getAvailabilityZones': {
        const letters = region === 'us-east-1' ? 'abcdef' : 'abc';
        const names = [...letters].map((l) => `${region}${l}`);
        return { id: region, names, zoneIds: names.map((_, k) => `${region.replace(/-/g, '').slice(0, 4)}-az${k + 1}`), groupNames: [region], state: 'available' };
      }
      case 'aws:index/getRegion:getRegion':
        return { id: region, name: region, region, description: region, endpoint: `ec2.${region}.amazonaws.com` };
      case 'aws:ec2/getAmi:getAmi': {
        const filter = (i.filters ?? []).find((f: any) => f.name === 'name')?.values?.[0] ?? 'image-*';
        return {
          id: `ami-0${hex(`ami${region}${filter}`, 16)}`,
          name: String(filter).replace('*', '20251120'),
          architecture: String(filter).includes('arm64') ? 'arm64' : 'x86_64',
          ownerId: (i.owners ?? [])[0],
        };
      }
      case 'aws:ec2/getManagedPrefixList:getManagedPrefixList':
        return { id: `pl-${hex(String(i.name), 8)}`, name: i.name, addressFamily: 'IPv4', maxEntries: 35, entries: [] };
      case 'aws:route53/getZone:getZone':
        return { id: `Z${hex(String(i.name), 12).toUpperCase()}`, zoneId: `Z${hex(String(i.name), 12).toUpperCase()}`, name: i.name, privateZone: false, nameServers: ['ns-1.awsdns-00.com'] };
      case 'azure-native:authorization:getClientConfig':
        return { subscriptionId: MOCK_SUBSCRIPTION, tenantId: uuid('tenant'), clientId: uuid('client'), objectId: uuid('object') };
      default:
        throw new Error(`tandem mocks: no mock for the call ${args.token}; add one to scripts/plan/mocks.ts`);
    }
  }

  private state(type: string, name: string, inputs: Record<string, any>, region: string): { id: string | undefined; extra: Record<string, any> } {
    const arn = (svc: string, res: string) => `arn:aws:${svc}:${region}:${MOCK_ACCOUNT}:${res}`;
    const azureId = (rp: string) => {
      const rg = typeof inputs.resourceGroupName === 'string' ? inputs.resourceGroupName : `${name}-rg`;
      return `/subscriptions/${MOCK_SUBSCRIPTION}/resourceGroups/${rg}/providers/${rp}/${name}${hex(name, 6)}`;
    };
    switch (type) {
      case 'aws:ec2/vpc:Vpc':
        return { id: `vpc-0${hex(name, 16)}`, extra: { arn: arn('ec2', `vpc/vpc-0${hex(name, 16)}`), defaultSecurityGroupId: `sg-0${hex(`${name}dsg`, 16)}` } };
      case 'aws:ec2/subnet:Subnet':
        return { id: `subnet-0${hex(name, 16)}`, extra: {} };
      case 'aws:ec2/internetGateway:InternetGateway':
        return { id: `igw-0${hex(name, 16)}`, extra: {} };
      case 'aws:ec2/routeTable:RouteTable':
        return { id: `rtb-0${hex(name, 16)}`, extra: {} };
      case 'aws:ec2/securityGroup:SecurityGroup':
        return { id: `sg-0${hex(name, 16)}`, extra: { arn: arn('ec2', `security-group/sg-0${hex(name, 16)}`) } };
      case 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule':
      case 'aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule':
        return { id: `sgr-0${hex(name, 16)}`, extra: {} };
      case 'aws:kms/key:Key': {
        const keyId = uuid(name);
        return { id: keyId, extra: { keyId, arn: arn('kms', `key/${keyId}`) } };
      }
      case 'aws:ebs/volume:Volume':
        return { id: `vol-0${hex(name, 16)}`, extra: { arn: arn('ec2', `volume/vol-0${hex(name, 16)}`), iops: 3000, throughput: 125 } };
      case 'aws:ec2/instance:Instance': {
        const id = `i-0${hex(name, 16)}`;
        return { id, extra: { arn: arn('ec2', `instance/${id}`), privateIp: `10.20.0.${(digest(name)[0] % 200) + 10}`, instanceState: 'running', publicIp: '' } };
      }
      case 'aws:ec2/eip:Eip': {
        const allocationId = `eipalloc-0${hex(name, 16)}`;
        return { id: allocationId, extra: { allocationId, publicIp: ipv4(3, name), publicDns: `ec2-${ipv4(3, name).replace(/\./g, '-')}.compute-1.amazonaws.com` } };
      }
      case 'aws:iam/role:Role':
        return { id: `${name}-${hex(name, 7)}`, extra: { name: `${name}-${hex(name, 7)}`, arn: `arn:aws:iam::${MOCK_ACCOUNT}:role/${name}-${hex(name, 7)}` } };
      case 'aws:dlm/lifecyclePolicy:LifecyclePolicy':
        return { id: `policy-0${hex(name, 16)}`, extra: { arn: arn('dlm', `policy/policy-0${hex(name, 16)}`) } };
      case 'aws:route53/healthCheck:HealthCheck':
        return { id: uuid(name), extra: { arn: `arn:aws:route53:::healthcheck/${uuid(name)}` } };
      case 'aws:route53/record:Record':
        return { id: `${inputs.zoneId}_${inputs.name}_${inputs.type}_${inputs.setIdentifier ?? ''}`, extra: { fqdn: inputs.name } };
      case 'tls:index/privateKey:PrivateKey': {
        const k = ed25519FromSeed(`${this.stack}/${name}`);
        return { id: hex(name, 40), extra: { publicKeyOpenssh: k.publicOpenssh, privateKeyOpenssh: k.privateOpenssh, privateKeyPem: '(mock)', publicKeyPem: '(mock)' } };
      }
      case 'azure-native:resources:ResourceGroup': {
        const rg = `${name}${hex(name, 6)}`;
        return { id: `/subscriptions/${MOCK_SUBSCRIPTION}/resourceGroups/${rg}`, extra: { name: rg } };
      }
      case 'azure-native:network:PublicIPAddress':
        return { id: azureId('Microsoft.Network/publicIPAddresses'), extra: { name: `${name}${hex(name, 6)}`, ipAddress: ipv4(20, name) } };
      case 'azure-native:dataprotection:BackupVault':
        return {
          id: azureId('Microsoft.DataProtection/backupVaults'),
          extra: { name: `${name}${hex(name, 6)}`, identity: { type: 'SystemAssigned', principalId: uuid(name), tenantId: uuid('tenant') } },
        };
      default:
        if (type.startsWith('azure-native:')) {
          const [, mod, kind] = type.split(':');
          return { id: azureId(`Microsoft.${mod}/${kind}`), extra: { name: inputs.securityRuleName ?? `${name}${hex(name, 6)}` } };
        }
        return { id: `${name}-${hex(name, 8)}`, extra: {} };
    }
  }
}
