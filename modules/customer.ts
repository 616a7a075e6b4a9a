import * as aws from '@pulumi/aws';
import * as azure from '@pulumi/azure-native';
import * as pulumi from '@pulumi/pulumi';
import { masterOf } from '../model/topology/graph';
import type { Provider, Site, Topology } from '../model/topology/types';
import { INVENTORY_VERSION, topologyHostFields, type Inventory, type InventoryHost, type Vip } from '../model/inventory';
import { AwsHost, SiteIngress, SnapshotPolicy } from './aws';
import { AzureHost, AzureIngress, DiskBackup } from './azure';
import { DnsFailover } from './dns';
import { dnsTargets } from '../model/topology/dns';
import { OffcloudSite } from './offcloud';
import { ingressRules, siteTags, snapshotCopyTarget, snapshotKey } from './shared';

export interface CustomerArgs {
  /** The validated topology (from `topologyFromConfig` / `loadTopology`). */
  readonly topology: Topology;
  /** Public keys allowed to log in as each cloud host's admin user. */
  readonly adminKeys: pulumi.Input<string[]>;
}

/** Where a site's provider lives: one provider per AWS region and per Azure location. */
export function providerKey(provider: Exclude<Provider, 'offcloud'>, region: string): string {
  return `${provider}-${region}`;
}

/**
 * Region of the AWS provider the Route 53 resources use (Route 53 is global; this only picks an
 * API endpoint): the master's region if it is on AWS, else the first AWS site's, else us-east-1.
 */
export function dnsRegion(t: Topology): string {
  const master = masterOf(t);
  if (master.provider === 'aws') return master.region!;
  return t.sites.find((s) => s.provider === 'aws')?.region ?? 'us-east-1';
}

type Built =
  | { readonly site: Site; readonly kind: 'aws'; readonly host: AwsHost }
  | { readonly site: Site; readonly kind: 'azure'; readonly host: AzureHost }
  | { readonly site: Site; readonly kind: 'offcloud'; readonly host: OffcloudSite };

/**
 * A customer's whole topology: one explicit provider per AWS region and Azure location, every
 * site, the inbound rules between them, snapshot policies, the DNS failover records, and the
 * inventory operations read.
 */
export class Customer extends pulumi.ComponentResource {
  /** The inventory (model/inventory.ts), as plain JSON once resolved. */
  public readonly inventory: pulumi.Output<Inventory>;
  /** Providers by `providerKey`. */
  public readonly providers: ReadonlyMap<string, pulumi.ProviderResource>;

  constructor(name: string, args: CustomerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:index:Customer', name, {}, opts);
    const t = args.topology;
    const customer = t.customer;

    const providers = new Map<string, pulumi.ProviderResource>();
    const provider = (kind: 'aws' | 'azure', region: string): pulumi.ProviderResource => {
      const key = providerKey(kind, region);
      let p = providers.get(key);
      if (!p) {
        p = kind === 'aws'
          ? new aws.Provider(`${name}-${key}`, { region: region as aws.Region, defaultTags: { tags: { 'tandem:customer': customer } } }, { parent: this })
          : new azure.Provider(`${name}-${key}`, { location: region }, { parent: this });
        providers.set(key, p);
      }
      return p;
    };

    const built: Built[] = t.sites.map((site) => {
      const siteName = `${name}-${site.name}`;
      const tags = siteTags(customer, site);
      // What every cloud host takes from its site, whichever cloud builds it.
      const common = {
        customer,
        site: site.name,
        role: site.role,
        failover: site.role === 'mirror' ? site.failover : null,
        diskGb: site.diskGb,
        dataDir: t.dataDir,
        user: site.user,
        adminKeys: args.adminKeys,
        sshPort: site.sshPort,
        tags,
        snapshotKey: snapshotKey(customer, site.name),
      };
      if (site.provider === 'aws') {
        const host = new AwsHost(siteName, { ...common, instanceType: site.size }, { parent: this, provider: provider('aws', site.region!) });
        return { site, kind: 'aws', host };
      }
      if (site.provider === 'azure') {
        const host = new AzureHost(siteName, { ...common, location: site.region!, size: site.size }, { parent: this, provider: provider('azure', site.region!) });
        return { site, kind: 'azure', host };
      }
      const host = new OffcloudSite(siteName, { address: site.address!, hostKey: site.hostKey! }, { parent: this });
      return { site, kind: 'offcloud', host };
    });

    const address = (b: Built): pulumi.Output<string> => (b.kind === 'offcloud' ? b.host.address : b.host.publicIp);
    const byName = new Map(built.map((b) => [b.site.name, b] as const));
    const peers = Object.fromEntries(built.filter((b) => b.kind !== 'offcloud').map((b) => [b.site.name, address(b)]));

    // Second pass: what needs every site to exist (peer addresses, the copy target's key).
    for (const b of built) {
      const tags = siteTags(customer, b.site);
      if (b.kind === 'aws') {
        new SiteIngress(`${name}-${b.site.name}-ingress`, {
          securityGroupId: b.host.securityGroupId,
          rules: ingressRules(t, b.site.name),
          peerAddresses: peers,
          tags,
        }, { parent: b.host });
        const target = snapshotCopyTarget(t, b.site.name);
        const targetHost = target ? byName.get(target.site) : undefined;
        new SnapshotPolicy(`${name}-${b.site.name}-snapshots`, {
          snapshotKey: snapshotKey(customer, b.site.name),
          sourceKeyArn: b.host.kmsKeyArn,
          copyTo: target && targetHost?.kind === 'aws' ? { region: target.region, keyArn: targetHost.host.kmsKeyArn } : null,
          tags,
        }, { parent: b.host });
      } else if (b.kind === 'azure') {
        new AzureIngress(`${name}-${b.site.name}-ingress`, {
          resourceGroupName: b.host.resourceGroupName,
          networkSecurityGroupName: b.host.nsgName,
          rules: ingressRules(t, b.site.name),
          peerAddresses: peers,
        }, { parent: b.host });
        new DiskBackup(`${name}-${b.site.name}-backup`, {
          location: b.site.region!,
          resourceGroupName: b.host.resourceGroupName,
          resourceGroupId: b.host.resourceGroupId,
          diskId: b.host.dataDiskId,
          diskName: b.host.dataDiskName,
          snapshotKey: snapshotKey(customer, b.site.name),
          tags,
        }, { parent: b.host });
      }
    }

    const targets = dnsTargets(t);
    let vip: pulumi.Output<Vip> | null = null;
    const master = byName.get(masterOf(t).name)!;
    if (t.dns && targets) {
      const region = dnsRegion(t);
      const secondary = targets.secondary ? byName.get(targets.secondary)! : null;
      new DnsFailover(`${name}-dns`, {
        zone: t.dns.zone,
        name: t.dns.name,
        ttl: t.dns.ttl,
        healthPort: t.service.healthPort,
        primary: { site: master.site.name, address: address(master) },
        secondary: secondary ? { site: secondary.site.name, address: address(secondary) } : null,
        tags: { 'tandem:customer': customer },
      }, { parent: this, provider: provider('aws', region) });
      vip = pulumi.output({ kind: 'dns' as const, address: t.dns.name, holder: master.site.name });
    } else if (master.kind !== 'offcloud') {
      vip = address(master).apply((a) => ({ kind: master.kind === 'aws' ? ('eip' as const) : ('public-ip' as const), address: a, holder: master.site.name }));
    }

    const hosts = built.map((b): pulumi.Output<InventoryHost> => {
      const s = b.site;
      return pulumi.all([address(b), b.host.hostKey]).apply(([addr, key]) => ({
        ...topologyHostFields(t, s),
        address: addr,
        sshPort: s.sshPort,
        user: s.user,
        hostKey: key,
        hostKeySource: b.kind === 'offcloud' ? ('pinned' as const) : ('generated' as const),
      }));
    });
    this.inventory = pulumi.all([pulumi.all(hosts), vip ?? pulumi.output(null)]).apply(([hs, v]): Inventory => ({
      version: INVENTORY_VERSION,
      customer,
      source: 'pulumi' as const,
      dataDir: t.dataDir,
      exclude: [...t.exclude],
      service: t.service,
      vip: v as Vip | null,
      hosts: hs as InventoryHost[],
    }));
    this.providers = providers;
    this.registerOutputs({ inventory: this.inventory });
  }
}
