/**
 * The AWS address and power driver. The service address is either an Elastic IP (moved between
 * instances of one region with `AssociateAddress`) or, when the topology has `dns`, the Route 53
 * PRIMARY failover record and its health check (moved anywhere with an UPSERT). Cold sites are
 * started with `StartInstances` and the SDK's `instance-running` waiter.
 *
 * Everything it acts on comes from the inventory the Pulumi program outputs (`hosts[].cloud`,
 * `vipCloud`); it never looks resources up by tag, so it cannot act on a host of another stack.
 */
import { AssociateAddressCommand, DescribeAddressesCommand, EC2Client, StartInstancesCommand, StopInstancesCommand, waitUntilInstanceRunning, waitUntilInstanceStopped } from '@aws-sdk/client-ec2';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, Route53Client, UpdateHealthCheckCommand, type Change } from '@aws-sdk/client-route-53';
import type { AwsHostIds, Inventory, InventoryHost, VipCloudIds } from '../../../model/inventory';
import type { AddressDriver, DriverStep } from './types';

export interface AwsDriverOptions {
  /** EC2 client for a region. @default `new EC2Client({ region })` (the default credential chain), one per region */
  readonly ec2?: (region: string) => EC2Client;
  /** Route 53 client (a global service). @default `new Route53Client({ region: 'us-east-1' })` */
  readonly route53?: () => Route53Client;
  /** Longest wait for an instance to reach running/stopped, in seconds. @default 300 */
  readonly maxWaitS?: number;
  /** Seconds between state polls (the SDK backs off from min to max). @default { min: 2, max: 10 } */
  readonly pollS?: { readonly min: number; readonly max: number };
}

const FIX_INVENTORY = 'regenerate the inventory with `pulumi stack output inventory --json > inventory.json` (inventories written before failover support lack the provider ids)';

/** `Name: message` of an SDK error, without its stack. */
function why(e: unknown): string {
  if (e instanceof Error) {
    const msg = e.message.length > 300 ? `${e.message.slice(0, 297)}...` : e.message;
    return e.name && e.name !== 'Error' ? `${e.name}: ${msg}` : msg;
  }
  return String(e);
}

/** Runs one SDK call; a failure names the call, what it acted on, the SDK's reason and what to check. */
async function attempt<T>(call: string, on: string, check: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Error(`aws: ${call} ${on} failed: ${why(e)}; ${check}`, { cause: e });
  }
}

export function createAwsDriver(inv: Inventory, opts: AwsDriverOptions = {}): AddressDriver {
  const ec2Clients = new Map<string, EC2Client>();
  const ec2 = (region: string): EC2Client => {
    let c = ec2Clients.get(region);
    if (!c) {
      c = opts.ec2 ? opts.ec2(region) : new EC2Client({ region });
      ec2Clients.set(region, c);
    }
    return c;
  };
  let r53: Route53Client | undefined;
  const route53 = (): Route53Client => (r53 ??= opts.route53 ? opts.route53() : new Route53Client({ region: 'us-east-1' }));
  const maxWaitTime = opts.maxWaitS ?? 300;
  const poll = opts.pollS ?? { min: 2, max: 10 };

  /** The host's EC2 ids, or an error saying why there are none. */
  const idsOf = (h: InventoryHost, forWhat: string): AwsHostIds & { region: string } => {
    if (h.provider !== 'aws') {
      throw new Error(`aws: cannot ${forWhat} site "${h.site}": it is on ${h.provider}, not AWS; use the ${h.provider} driver for it`);
    }
    if (!h.cloud || h.cloud.kind !== 'aws' || !h.region) {
      throw new Error(`aws: cannot ${forWhat} site "${h.site}": the inventory of "${inv.customer}" has no EC2 ids for it (hosts[].cloud.instanceId); ${FIX_INVENTORY}`);
    }
    return { ...h.cloud, region: h.region };
  };
  const where = (h: InventoryHost, ids: AwsHostIds & { region: string }) => `instance ${ids.instanceId} (site ${h.site}, ${ids.region})`;

  async function moveEip(vc: Extract<VipCloudIds, { kind: 'eip' }>, from: InventoryHost | null, to: InventoryHost): Promise<DriverStep[]> {
    const target = idsOf(to, 'move the Elastic IP to');
    if (target.region !== vc.region) {
      throw new Error(
        `aws: cannot move the service address to site "${to.site}": Elastic IP ${vc.allocationId} is in ${vc.region} and site "${to.site}" in ${target.region}, ` +
          `and an Elastic IP cannot leave its region; fail over to a site in ${vc.region}, or add \`dns\` to the topology so failover moves the Route 53 record instead`,
      );
    }
    const client = ec2(vc.region);
    // Where the addresses are now, from EC2 rather than the inventory: an inventory written before
    // an earlier failover still shows the addresses where they were then.
    const svc = await attempt(
      'ec2:DescribeAddresses',
      `of Elastic IP ${vc.allocationId} (${vc.region})`,
      `check that the address still exists in ${vc.region} and the credentials allow ec2:DescribeAddresses`,
      () => client.send(new DescribeAddressesCommand({ AllocationIds: [vc.allocationId] })),
    );
    const holder = svc.Addresses?.[0]?.InstanceId ?? null;
    if (holder === target.instanceId) {
      return [{ action: 'ec2:AssociateAddress', detail: `Elastic IP ${vc.allocationId} is already on ${where(to, target)}; nothing to move` }];
    }
    const own = await attempt('ec2:DescribeAddresses', `of the Elastic IP on ${where(to, target)}`, `check the credentials allow ec2:DescribeAddresses`, () =>
      client.send(new DescribeAddressesCommand({ Filters: [{ Name: 'instance-id', Values: [target.instanceId] }] })),
    );
    const spare = own.Addresses?.[0]?.AllocationId ?? null;
    const r = await attempt(
      'ec2:AssociateAddress',
      `of Elastic IP ${vc.allocationId} to ${where(to, target)}`,
      `check that the instance exists in ${vc.region}, that the address belongs to this account, and that the credentials allow ec2:AssociateAddress`,
      () => client.send(new AssociateAddressCommand({ AllocationId: vc.allocationId, InstanceId: target.instanceId, AllowReassociation: true })),
    );
    const steps: DriverStep[] = [{ action: 'ec2:AssociateAddress', detail: `Elastic IP ${vc.allocationId} -> ${where(to, target)} (association ${r.AssociationId ?? '?'})` }];
    // The target's own Elastic IP just came off it: give it to the old holder, so the old master
    // stays reachable (to be fenced and demoted) and the addresses are where `pulumi up` puts them.
    const oldInstance = holder ?? (from && from.site !== to.site && from.cloud?.kind === 'aws' && from.region === vc.region ? from.cloud.instanceId : null);
    if (spare && oldInstance && oldInstance !== target.instanceId) {
      const oldSite = inv.hosts.find((h) => h.cloud?.kind === 'aws' && h.cloud.instanceId === oldInstance)?.site ?? from?.site ?? '?';
      const what = `Elastic IP ${spare} (site ${to.site}'s own) -> instance ${oldInstance} (site ${oldSite})`;
      try {
        const s = await client.send(new AssociateAddressCommand({ AllocationId: spare, InstanceId: oldInstance, AllowReassociation: true }));
        steps.push({ action: 'ec2:AssociateAddress', detail: `${what} (association ${s.AssociationId ?? '?'})` });
      } catch (e) {
        // The service address moved; an old master without a public address does not stop that.
        steps.push({ action: 'ec2:AssociateAddress', detail: `${what} FAILED: ${why(e)}; site ${oldSite} has no public address until \`pulumi up\`` });
      }
    }
    return steps;
  }

  async function moveRecord(vc: Extract<VipCloudIds, { kind: 'route53' }>, from: InventoryHost | null, to: InventoryHost): Promise<DriverStep[]> {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(to.address)) {
      throw new Error(
        `aws: cannot point the A record ${vc.recordName} at site "${to.site}": its address "${to.address}" is not an IPv4 address; give the site an IPv4 address or fail over to another site`,
      );
    }
    const record = (setIdentifier: string, failover: 'PRIMARY' | 'SECONDARY', address: string, healthCheckId?: string): Change => ({
      Action: 'UPSERT',
      ResourceRecordSet: {
        Name: vc.recordName,
        Type: 'A',
        SetIdentifier: setIdentifier,
        Failover: failover,
        TTL: vc.ttl,
        ResourceRecords: [{ Value: address }],
        ...(healthCheckId ? { HealthCheckId: healthCheckId } : {}),
      },
    });
    const changes: Change[] = [record(vc.primarySetIdentifier, 'PRIMARY', to.address, vc.healthCheckId)];
    // The records as Route 53 has them now (an inventory written before an earlier failover shows
    // them as they were then).
    const listed = await attempt(
      'route53:ListResourceRecordSets',
      `of ${vc.recordName} A in hosted zone ${vc.hostedZoneId}`,
      `check that the zone exists and the credentials allow route53:ListResourceRecordSets`,
      () => route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: vc.hostedZoneId, StartRecordName: vc.recordName, StartRecordType: 'A', MaxItems: 10 })),
    );
    const bare = (n: string | undefined) => (n ?? '').replace(/\.$/, '').toLowerCase();
    const sets = (listed.ResourceRecordSets ?? []).filter((r) => bare(r.Name) === bare(vc.recordName) && r.Type === 'A');
    const valueOf = (id: string) => sets.find((r) => r.SetIdentifier === id)?.ResourceRecords?.[0]?.Value ?? null;
    const wasPrimary = valueOf(vc.primarySetIdentifier) ?? from?.address ?? null;
    // The standby just became primary: the SECONDARY slot gets the old primary, as `pulumi up` will.
    const secondaryNow = vc.secondary ? valueOf(vc.secondary.setIdentifier) : null;
    const swap = vc.secondary && secondaryNow === to.address && wasPrimary && wasPrimary !== to.address ? wasPrimary : null;
    if (swap) changes.push(record(vc.secondary!.setIdentifier, 'SECONDARY', swap));
    const oldSite = swap ? (inv.hosts.find((h) => h.address === swap)?.site ?? from?.site ?? '?') : '';
    const summary = `${vc.recordName} PRIMARY (set ${vc.primarySetIdentifier}) -> ${to.address} (site ${to.site})${swap ? `, SECONDARY (set ${vc.secondary!.setIdentifier}) -> ${swap} (site ${oldSite})` : ''}`;
    const r = await attempt(
      'route53:ChangeResourceRecordSets',
      `in hosted zone ${vc.hostedZoneId} (${summary})`,
      `check that the zone and record exist and that the credentials allow route53:ChangeResourceRecordSets`,
      () =>
        route53().send(
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: vc.hostedZoneId,
            ChangeBatch: { Comment: `tandem failover of ${inv.customer} to ${to.site}`, Changes: changes },
          }),
        ),
    );
    const steps: DriverStep[] = [{ action: 'route53:ChangeResourceRecordSets', detail: `UPSERT ${summary}; change ${r.ChangeInfo?.Id ?? '?'} ${r.ChangeInfo?.Status ?? ''}`.trim() }];
    await attempt(
      'route53:UpdateHealthCheck',
      `of health check ${vc.healthCheckId} to probe ${to.address} (site ${to.site})`,
      `the PRIMARY record already points at ${to.address}; until the check probes it Route 53 may answer with the SECONDARY: check the health check exists and the credentials allow route53:UpdateHealthCheck, then rerun`,
      () => route53().send(new UpdateHealthCheckCommand({ HealthCheckId: vc.healthCheckId, IPAddress: to.address })),
    );
    steps.push({ action: 'route53:UpdateHealthCheck', detail: `health check ${vc.healthCheckId} probes ${to.address} (site ${to.site})` });
    return steps;
  }

  return {
    kind: 'aws',

    async moveServiceAddress(from, to) {
      const vip = inv.vip;
      if (!vip) throw new Error(`aws: stack "${inv.customer}" has no service address (inventory vip is null) to move to site "${to.site}"`);
      const vc = inv.vipCloud;
      if (vip.kind === 'dns') {
        if (vc?.kind !== 'route53') throw new Error(`aws: the inventory of "${inv.customer}" has no Route 53 ids for ${vip.address} (vipCloud); ${FIX_INVENTORY}`);
        return moveRecord(vc, from, to);
      }
      if (vip.kind === 'eip') {
        if (vc?.kind !== 'eip') throw new Error(`aws: the inventory of "${inv.customer}" has no allocation id for Elastic IP ${vip.address} (vipCloud); ${FIX_INVENTORY}`);
        return moveEip(vc, from, to);
      }
      throw new Error(`aws: the service address of "${inv.customer}" is a ${vip.kind} address (${vip.address}); the AWS driver moves Elastic IPs and Route 53 records only`);
    },

    async powerOn(host) {
      const ids = idsOf(host, 'power on');
      const client = ec2(ids.region);
      const r = await attempt(
        'ec2:StartInstances',
        `of ${where(host, ids)}`,
        `check that the instance exists, is not terminated, and that the credentials allow ec2:StartInstances and kms:CreateGrant on the site's key`,
        () => client.send(new StartInstancesCommand({ InstanceIds: [ids.instanceId] })),
      );
      const s = r.StartingInstances?.[0];
      const started = Date.now();
      await attempt(
        'waiting for running',
        `of ${where(host, ids)}`,
        `it did not reach "running" within ${maxWaitTime} s; look at the instance's state reason in the EC2 console (InsufficientInstanceCapacity, a volume or KMS key problem, an instance limit)`,
        () => waitUntilInstanceRunning({ client, maxWaitTime, minDelay: poll.min, maxDelay: poll.max }, { InstanceIds: [ids.instanceId] }),
      );
      return [
        { action: 'ec2:StartInstances', detail: `${where(host, ids)}: ${s?.PreviousState?.Name ?? '?'} -> ${s?.CurrentState?.Name ?? '?'}` },
        { action: 'ec2:wait instance-running', detail: `${where(host, ids)} running after ${((Date.now() - started) / 1000).toFixed(1)} s` },
      ];
    },

    async powerOff(host) {
      const ids = idsOf(host, 'power off');
      const client = ec2(ids.region);
      const r = await attempt('ec2:StopInstances', `of ${where(host, ids)}`, `check that the instance exists and that the credentials allow ec2:StopInstances`, () =>
        client.send(new StopInstancesCommand({ InstanceIds: [ids.instanceId] })),
      );
      const s = r.StoppingInstances?.[0];
      const started = Date.now();
      await attempt(
        'waiting for stopped',
        `of ${where(host, ids)}`,
        `it did not reach "stopped" within ${maxWaitTime} s; look at its state in the EC2 console (a stuck stop can be forced there)`,
        () => waitUntilInstanceStopped({ client, maxWaitTime, minDelay: poll.min, maxDelay: poll.max }, { InstanceIds: [ids.instanceId] }),
      );
      return [
        { action: 'ec2:StopInstances', detail: `${where(host, ids)}: ${s?.PreviousState?.Name ?? '?'} -> ${s?.CurrentState?.Name ?? '?'}` },
        { action: 'ec2:wait instance-stopped', detail: `${where(host, ids)} stopped after ${((Date.now() - started) / 1000).toFixed(1)} s` },
      ];
    },
  };
}
