import * as aws from '@pulumi/aws';
import * as azure from '@pulumi/azure-native';
import * as pulumi from '@pulumi/pulumi';
import { masterOf } from '../model/topology/graph';
import type { Provider, Site, Topology } from '../model/topology/types';
import { INVENTORY_VERSION, topologyHostFields, type HostCloudIds, type Inventory, type InventoryHost, type Vip, type VipCloudIds } from '../model/inventory';
import { applyLive, type LiveLayout } from '../model/live';
import { AwsHost, SiteIngress, SnapshotPolicy } from './aws';
import { AzureHost, AzureIngress, DiskBackup, IP_CONFIGURATION } from './azure';
import { DnsFailover } from './dns';
import { OffcloudSite } from './offcloud';
import { addressSwap, dnsPlan, ingressRules, serviceAddress, siteTags, snapshotCopyTarget, snapshotKey } from './shared';

export interface CustomerArgs {
  /** The validated topology (from `topologyFromConfig` / `loadTopology`). */
  readonly topology: Topology;
  /** Public keys allowed to log in as each cloud host's admin user. */
  readonly adminKeys: pulumi.Input<string[]>;
  /**
   * The live layout (`tandem:live`, written by `tandem failover`): who is master now. Everything
   * that depends on a role is built from `applyLive(topology, live)`, so `pulumi up` after a
   * failover keeps the new master. @default null (the roles of the stack file)
   */
  readonly live?: LiveLayout | null;
  /**
   * Sites whose data volume is created from a snapshot (`tandem:restore`, written by `tandem site
   * replace`; checked by `restoreFromConfig` in stacks/program.ts). @default none
   */
  readonly restore?: Readonly<Record<string, { readonly snapshotId: string }>>;
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
    // `planned` (the stack file) fixes identities: which provider Route 53 calls use, the DNS
    // records' set identifiers, whose address is the service address. `t` (the topology as it
    // stands now) decides everything that follows a role: tags, cold stop, refresh schedules,
    // health-port rules, snapshot copy targets, DNS targets, the inventory.
    const planned = args.topology;
    const t = applyLive(planned, args.live ?? null);
    const customer = t.customer;
    const swap = addressSwap(planned, t);
    // Hosts whose address was swapped get their association from the other host, once it exists.
    const deferred = new Map([...swap.keys()].map((site) => [site, pulumi.deferredOutput<string>()] as const));

    const providers = new Map<string, pulumi.ProviderResource>();
    const provider = (kind: 'aws' | 'azure', region: string): pulumi.ProviderResource => {
      const key = providerKey(kind, region);
      let p = providers.get(key);
      if (!p) {
        p =
          kind === 'aws'
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
        ...(args.restore?.[site.name] ? { dataSnapshotId: args.restore[site.name].snapshotId } : {}),
        ...(site.role === 'mirror' && site.failover === 'cold' && site.coldRefreshH !== undefined ? { coldRefreshH: site.coldRefreshH } : {}),
      };
      const holder = deferred.get(site.name)?.[0];
      if (site.provider === 'aws') {
        const host = new AwsHost(siteName, { ...common, instanceType: site.size, ...(holder ? { eipInstanceId: holder } : {}) }, { parent: this, provider: provider('aws', site.region!) });
        return { site, kind: 'aws', host };
      }
      if (site.provider === 'azure') {
        const host = new AzureHost(
          siteName,
          { ...common, location: site.region!, size: site.size, ...(holder ? { nicPublicIpId: holder } : {}) },
          { parent: this, provider: provider('azure', site.region!) },
        );
        return { site, kind: 'azure', host };
      }
      const host = new OffcloudSite(siteName, { address: site.address!, hostKey: site.hostKey! }, { parent: this });
      return { site, kind: 'offcloud', host };
    });

    const byName = new Map(built.map((b) => [b.site.name, b] as const));
    for (const [site, [, resolve]] of deferred) {
      // A swap is between two sites of one cloud and region (addressSwap): on AWS `site`'s Elastic
      // IP is associated with the other's instance; on Azure `site`'s NIC carries the other's IP.
      const other = byName.get(swap.get(site)!)!;
      if (other.kind === 'aws') resolve(other.host.instanceId);
      else if (other.kind === 'azure') resolve(other.host.publicIpId);
      else throw new Error(`${name}: site "${site}" cannot swap addresses with off-cloud site "${other.site.name}"`);
    }
    /** The built site whose address object `b`'s host carries now. */
    const carried = (b: Built): Built => byName.get(swap.get(b.site.name) ?? b.site.name)!;
    const address = (b: Built): pulumi.Output<string> => {
      const c = carried(b);
      return c.kind === 'offcloud' ? c.host.address : c.host.publicIp;
    };
    const peers = Object.fromEntries(built.filter((b) => b.kind !== 'offcloud').map((b) => [b.site.name, address(b)]));

    // Second pass: what needs every site to exist (peer addresses, the copy target's key).
    for (const b of built) {
      const tags = siteTags(customer, b.site);
      if (b.kind === 'aws') {
        new SiteIngress(
          `${name}-${b.site.name}-ingress`,
          {
            securityGroupId: b.host.securityGroupId,
            rules: ingressRules(t, b.site.name),
            peerAddresses: peers,
            tags,
          },
          { parent: b.host },
        );
        const target = snapshotCopyTarget(t, b.site.name);
        const targetHost = target ? byName.get(target.site) : undefined;
        new SnapshotPolicy(
          `${name}-${b.site.name}-snapshots`,
          {
            snapshotKey: snapshotKey(customer, b.site.name),
            sourceKeyArn: b.host.kmsKeyArn,
            copyTo: target && targetHost?.kind === 'aws' ? { region: target.region, keyArn: targetHost.host.kmsKeyArn } : null,
            tags,
          },
          { parent: b.host },
        );
      } else if (b.kind === 'azure') {
        new AzureIngress(
          `${name}-${b.site.name}-ingress`,
          {
            resourceGroupName: b.host.resourceGroupName,
            networkSecurityGroupName: b.host.nsgName,
            rules: ingressRules(t, b.site.name),
            peerAddresses: peers,
          },
          { parent: b.host },
        );
        new DiskBackup(
          `${name}-${b.site.name}-backup`,
          {
            location: b.site.region!,
            resourceGroupName: b.host.resourceGroupName,
            resourceGroupId: b.host.resourceGroupId,
            diskId: b.host.dataDiskId,
            diskName: b.host.dataDiskName,
            snapshotKey: snapshotKey(customer, b.site.name),
            tags,
          },
          { parent: b.host },
        );
      }
    }

    const plan = dnsPlan(planned, t);
    let vip: pulumi.Output<Vip> | null = null;
    let vipCloud: pulumi.Output<VipCloudIds> | null = null;
    const master = byName.get(masterOf(t).name)!;
    if (t.dns && plan) {
      // Route 53 is called through the stack file's choice of region: moving the provider of
      // existing records would replace them.
      const region = dnsRegion(planned);
      const secondary = plan.secondary ? byName.get(plan.secondary.site)! : null;
      const dns = new DnsFailover(
        `${name}-dns`,
        {
          zone: t.dns.zone,
          name: t.dns.name,
          ttl: t.dns.ttl,
          healthPort: t.service.healthPort,
          primary: { site: master.site.name, address: address(master) },
          secondary: secondary ? { site: secondary.site.name, address: address(secondary) } : null,
          primarySetIdentifier: plan.primary.setIdentifier,
          ...(plan.secondary ? { secondarySetIdentifier: plan.secondary.setIdentifier } : {}),
          tags: { 'tandem:customer': customer },
        },
        { parent: this, provider: provider('aws', region) },
      );
      vip = pulumi.output({ kind: 'dns' as const, address: t.dns.name, holder: master.site.name });
      const dnsName = t.dns.name;
      const ttl = t.dns.ttl;
      vipCloud = pulumi.all([dns.zoneId, dns.healthCheckId, secondary ? address(secondary) : pulumi.output(null)]).apply(([hostedZoneId, healthCheckId, secondaryAddress]): VipCloudIds => ({
        kind: 'route53',
        hostedZoneId,
        recordName: dnsName,
        ttl,
        primarySetIdentifier: plan.primary.setIdentifier,
        healthCheckId,
        secondary: plan.secondary && secondaryAddress ? { setIdentifier: plan.secondary.setIdentifier, address: secondaryAddress } : null,
      }));
    } else if (master.kind !== 'offcloud') {
      vip = address(master).apply((a) => ({ kind: master.kind === 'aws' ? ('eip' as const) : ('public-ip' as const), address: a, holder: master.site.name }));
      // The service address object: the stack file master's after a same-region failover.
      const svc = byName.get(serviceAddress(planned, t).owner)!;
      if (svc.kind === 'aws') vipCloud = svc.host.allocationId.apply((allocationId) => ({ kind: 'eip' as const, allocationId, region: svc.site.region! }));
      else if (svc.kind === 'azure') vipCloud = svc.host.publicIpId.apply((publicIpId) => ({ kind: 'public-ip' as const, publicIpId, location: svc.site.region! }));
    }

    /** Provider ids of a cloud host: what the failover drivers act on. */
    const cloudIds = (b: Built): pulumi.Output<HostCloudIds | null> => {
      const c = carried(b);
      if (b.kind === 'aws' && c.kind === 'aws') {
        return pulumi.all([b.host.instanceId, c.host.allocationId]).apply(([instanceId, allocationId]) => ({ kind: 'aws' as const, instanceId, allocationId }));
      }
      if (b.kind === 'azure' && c.kind === 'azure') {
        return pulumi.all([b.host.vmId, b.host.nicId, c.host.publicIpId]).apply(([vmId, nicId, publicIpId]) => ({
          kind: 'azure' as const,
          vmId,
          nicId,
          ipConfigurationName: IP_CONFIGURATION,
          publicIpId,
        }));
      }
      return pulumi.output(null);
    };

    const hosts = built.map((b): pulumi.Output<InventoryHost> => {
      const s = b.site;
      return pulumi.all([address(b), b.host.hostKey, cloudIds(b)]).apply(([addr, key, cloud]) => ({
        ...topologyHostFields(t, s),
        address: addr,
        sshPort: s.sshPort,
        user: s.user,
        hostKey: key,
        hostKeySource: b.kind === 'offcloud' ? ('pinned' as const) : ('generated' as const),
        ...(cloud ? { cloud } : {}),
      }));
    });
    this.inventory = pulumi.all([pulumi.all(hosts), vip ?? pulumi.output(null), vipCloud ?? pulumi.output(null)]).apply(([hs, v, vc]): Inventory => ({
      version: INVENTORY_VERSION,
      customer,
      source: 'pulumi' as const,
      dataDir: t.dataDir,
      exclude: [...t.exclude],
      service: t.service,
      vip: v as Vip | null,
      hosts: hs as InventoryHost[],
      ...(vc ? { vipCloud: vc as VipCloudIds } : {}),
    }));
    this.providers = providers;
    this.registerOutputs({ inventory: this.inventory });
  }
}
