/**
 * The AWS driver against aws-sdk-client-mock: the exact EC2 and Route 53 commands and arguments
 * of a same-region (Elastic IP) and a cross-region (Route 53) failover, power on/off with the
 * SDK's waiters, and the error paths. Clients get a fake region and credentials; the mock
 * replaces `send`, so nothing leaves the process.
 */
import { AssociateAddressCommand, DescribeAddressesCommand, DescribeInstancesCommand, EC2Client, StartInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand, Route53Client, UpdateHealthCheckCommand } from '@aws-sdk/client-route-53';
import { mockClient } from 'aws-sdk-client-mock';
import type { Inventory, InventoryHost, VipCloudIds } from '../../model/inventory';
import { createAwsDriver } from '../../scripts/failover/drivers/aws';

const ec2Mock = mockClient(EC2Client);
const r53Mock = mockClient(Route53Client);
const credentials = { accessKeyId: 'AKIAFAKEFAKEFAKE', secretAccessKey: 'fake' };
const made: string[] = [];
const clients = {
  ec2: (region: string) => {
    made.push(region);
    return new EC2Client({ region, credentials, endpoint: 'http://127.0.0.1:9' });
  },
  route53: () => new Route53Client({ region: 'us-east-1', credentials, endpoint: 'http://127.0.0.1:9' }),
  pollS: { min: 1, max: 1 },
};

function host(site: string, role: 'master' | 'mirror', region: string, n: number, failover: 'hot' | 'warm' | 'cold' | null = role === 'mirror' ? 'warm' : null): InventoryHost {
  return {
    site,
    role,
    provider: 'aws',
    region,
    address: `3.0.0.${n}`,
    sshPort: 22,
    user: 'ubuntu',
    hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH',
    hostKeySource: 'generated',
    failover,
    dataDir: '/srv/trading',
    feedFrom: role === 'master' ? null : 'ny',
    syncIntervalS: role === 'master' ? null : 0,
    bandwidthMbit: null,
    cloud: { kind: 'aws', instanceId: `i-0${n}${n}${n}`, allocationId: `eipalloc-0${n}${n}${n}` },
  };
}
const ny = host('ny', 'master', 'us-east-1', 1);
const dal = host('dal', 'mirror', 'us-east-1', 2, 'hot');
const chi = host('chi', 'mirror', 'us-east-2', 3, 'cold');

function inventory(vip: Inventory['vip'], vipCloud: VipCloudIds | undefined, hosts = [ny, dal, chi]): Inventory {
  return {
    version: 1,
    customer: 'acme',
    source: 'pulumi',
    dataDir: '/srv/trading',
    exclude: [],
    service: { start: 'a', stop: 'b', healthPort: 8443 },
    vip,
    hosts,
    ...(vipCloud ? { vipCloud } : {}),
  };
}
const eipInv = inventory({ kind: 'eip', address: '3.0.0.1', holder: 'ny' }, { kind: 'eip', allocationId: 'eipalloc-0111', region: 'us-east-1' });
const dnsInv = inventory(
  { kind: 'dns', address: 'trade.acme.example.com', holder: 'ny' },
  {
    kind: 'route53',
    hostedZoneId: 'Z0123456789AB',
    recordName: 'trade.acme.example.com',
    ttl: 30,
    primarySetIdentifier: 'ny',
    healthCheckId: 'hc-1',
    secondary: { setIdentifier: 'chi', address: '3.0.0.3' },
  },
);

/** Region of the client a recorded call went through. */
async function regionOf(call: { thisValue: unknown }): Promise<string> {
  return (call.thisValue as EC2Client).config.region();
}

beforeEach(() => {
  ec2Mock.reset();
  r53Mock.reset();
  made.length = 0;
});

describe('same-region failover: the Elastic IP moves', () => {
  /** EC2 as it stands: the service address on `holder`, dal's own address on dal. */
  function addresses(holder: string | null, dalOwn: string | null = 'eipalloc-0222') {
    ec2Mock
      .on(DescribeAddressesCommand, { AllocationIds: ['eipalloc-0111'] })
      .resolves({ Addresses: [{ AllocationId: 'eipalloc-0111', PublicIp: '3.0.0.1', ...(holder ? { InstanceId: holder } : {}) }] });
    ec2Mock
      .on(DescribeAddressesCommand, { Filters: [{ Name: 'instance-id', Values: ['i-0222'] }] })
      .resolves({ Addresses: dalOwn ? [{ AllocationId: dalOwn, PublicIp: '3.0.0.2', InstanceId: 'i-0222' }] : [] });
  }

  it("associates the service Elastic IP with the target, then the target's own with the old master", async () => {
    addresses('i-0111');
    ec2Mock.on(AssociateAddressCommand).resolves({ AssociationId: 'eipassoc-1' });
    const steps = await createAwsDriver(eipInv, clients).moveServiceAddress(ny, dal);
    expect(ec2Mock.calls().map((c) => [c.args[0].constructor.name, c.args[0].input])).toEqual([
      ['DescribeAddressesCommand', { AllocationIds: ['eipalloc-0111'] }],
      ['DescribeAddressesCommand', { Filters: [{ Name: 'instance-id', Values: ['i-0222'] }] }],
      ['AssociateAddressCommand', { AllocationId: 'eipalloc-0111', InstanceId: 'i-0222', AllowReassociation: true }],
      ['AssociateAddressCommand', { AllocationId: 'eipalloc-0222', InstanceId: 'i-0111', AllowReassociation: true }],
    ]);
    for (const c of ec2Mock.calls()) expect(await regionOf(c)).toBe('us-east-1');
    expect(r53Mock.calls()).toHaveLength(0);
    expect(steps).toEqual([
      { action: 'ec2:AssociateAddress', detail: 'Elastic IP eipalloc-0111 -> instance i-0222 (site dal, us-east-1) (association eipassoc-1)' },
      { action: 'ec2:AssociateAddress', detail: "Elastic IP eipalloc-0222 (site dal's own) -> instance i-0111 (site ny) (association eipassoc-1)" },
    ]);
  });

  it('gives the spare address to the instance EC2 says held the service address, even with the old master unknown', async () => {
    addresses('i-0111');
    ec2Mock.on(AssociateAddressCommand).resolves({ AssociationId: 'eipassoc-1' });
    await createAwsDriver(eipInv, clients).moveServiceAddress(null, dal);
    expect(ec2Mock.commandCalls(AssociateAddressCommand).map((c) => c.args[0].input)).toEqual([
      { AllocationId: 'eipalloc-0111', InstanceId: 'i-0222', AllowReassociation: true },
      { AllocationId: 'eipalloc-0222', InstanceId: 'i-0111', AllowReassociation: true },
    ]);
  });

  it('moves the service address only when it was on no instance and the old master is gone', async () => {
    addresses(null);
    ec2Mock.on(AssociateAddressCommand).resolves({ AssociationId: 'eipassoc-1' });
    await createAwsDriver(eipInv, clients).moveServiceAddress(null, dal);
    expect(ec2Mock.commandCalls(AssociateAddressCommand).map((c) => c.args[0].input)).toEqual([{ AllocationId: 'eipalloc-0111', InstanceId: 'i-0222', AllowReassociation: true }]);
  });

  it('does nothing when EC2 says the target already holds the address (idempotent, whatever the inventory says)', async () => {
    addresses('i-0222');
    const steps = await createAwsDriver(eipInv, clients).moveServiceAddress(ny, dal);
    expect(ec2Mock.commandCalls(AssociateAddressCommand)).toHaveLength(0);
    expect(steps).toEqual([{ action: 'ec2:AssociateAddress', detail: 'Elastic IP eipalloc-0111 is already on instance i-0222 (site dal, us-east-1); nothing to move' }]);
  });

  it('still succeeds when the old master cannot take the spare address, and says so', async () => {
    addresses('i-0111');
    ec2Mock.on(AssociateAddressCommand, { InstanceId: 'i-0222' }).resolves({ AssociationId: 'eipassoc-1' });
    ec2Mock.on(AssociateAddressCommand, { InstanceId: 'i-0111' }).rejects(Object.assign(new Error("The instance ID 'i-0111' does not exist"), { name: 'InvalidInstanceID.NotFound' }));
    const steps = await createAwsDriver(eipInv, clients).moveServiceAddress(ny, dal);
    expect(steps[1].detail).toBe(
      "Elastic IP eipalloc-0222 (site dal's own) -> instance i-0111 (site ny) FAILED: InvalidInstanceID.NotFound: The instance ID 'i-0111' does not exist; site ny has no public address until `pulumi up`",
    );
  });

  it('refuses a target in another region, naming both regions and the fix, and calls nothing', async () => {
    await expect(createAwsDriver(eipInv, clients).moveServiceAddress(ny, chi)).rejects.toThrow(
      'aws: cannot move the service address to site "chi": Elastic IP eipalloc-0111 is in us-east-1 and site "chi" in us-east-2, and an Elastic IP cannot leave its region; fail over to a site in us-east-1, or add `dns` to the topology so failover moves the Route 53 record instead',
    );
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('reports an AssociateAddress failure with the address, instance, region and what to check', async () => {
    addresses('i-0111');
    ec2Mock.on(AssociateAddressCommand).rejects(Object.assign(new Error('You are not authorized to perform this operation.'), { name: 'UnauthorizedOperation' }));
    await expect(createAwsDriver(eipInv, clients).moveServiceAddress(ny, dal)).rejects.toThrow(
      'aws: ec2:AssociateAddress of Elastic IP eipalloc-0111 to instance i-0222 (site dal, us-east-1) failed: UnauthorizedOperation: You are not authorized to perform this operation.; check that the instance exists in us-east-1, that the address belongs to this account, and that the credentials allow ec2:AssociateAddress',
    );
  });

  it('reports a service address that no longer exists', async () => {
    ec2Mock.on(DescribeAddressesCommand).rejects(Object.assign(new Error("The allocation ID 'eipalloc-0111' does not exist"), { name: 'InvalidAllocationID.NotFound' }));
    await expect(createAwsDriver(eipInv, clients).moveServiceAddress(ny, dal)).rejects.toThrow(
      "aws: ec2:DescribeAddresses of Elastic IP eipalloc-0111 (us-east-1) failed: InvalidAllocationID.NotFound: The allocation ID 'eipalloc-0111' does not exist; check that the address still exists in us-east-1",
    );
    expect(ec2Mock.commandCalls(AssociateAddressCommand)).toHaveLength(0);
  });
});

describe('cross-region failover: the Route 53 PRIMARY record moves', () => {
  /** Route 53 as it stands: PRIMARY (set ny) and SECONDARY (set chi) with these values. */
  function records(primary = '3.0.0.1', secondary = '3.0.0.3') {
    r53Mock.on(ListResourceRecordSetsCommand).resolves({
      IsTruncated: false,
      MaxItems: 10,
      ResourceRecordSets: [
        { Name: 'trade.acme.example.com.', Type: 'A', SetIdentifier: 'chi', Failover: 'SECONDARY', TTL: 30, ResourceRecords: [{ Value: secondary }] },
        { Name: 'trade.acme.example.com.', Type: 'A', SetIdentifier: 'ny', Failover: 'PRIMARY', TTL: 30, ResourceRecords: [{ Value: primary }], HealthCheckId: 'hc-1' },
        { Name: 'zz.acme.example.com.', Type: 'A', TTL: 30, ResourceRecords: [{ Value: '192.0.2.1' }] },
      ],
    });
  }
  beforeEach(() => records());
  it('UPSERTs PRIMARY to the target and SECONDARY to the old master in one batch, then repoints the health check', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date(0) } });
    r53Mock.on(UpdateHealthCheckCommand).resolves({});
    const steps = await createAwsDriver(dnsInv, clients).moveServiceAddress(ny, chi);
    const [change] = r53Mock.commandCalls(ChangeResourceRecordSetsCommand);
    expect(change.args[0].input).toEqual({
      HostedZoneId: 'Z0123456789AB',
      ChangeBatch: {
        Comment: 'tandem failover of acme to chi',
        Changes: [
          {
            Action: 'UPSERT',
            ResourceRecordSet: { Name: 'trade.acme.example.com', Type: 'A', SetIdentifier: 'ny', Failover: 'PRIMARY', TTL: 30, ResourceRecords: [{ Value: '3.0.0.3' }], HealthCheckId: 'hc-1' },
          },
          { Action: 'UPSERT', ResourceRecordSet: { Name: 'trade.acme.example.com', Type: 'A', SetIdentifier: 'chi', Failover: 'SECONDARY', TTL: 30, ResourceRecords: [{ Value: '3.0.0.1' }] } },
        ],
      },
    });
    expect(r53Mock.commandCalls(UpdateHealthCheckCommand).map((c) => c.args[0].input)).toEqual([{ HealthCheckId: 'hc-1', IPAddress: '3.0.0.3' }]);
    expect(r53Mock.calls().map((c) => c.args[0].constructor.name)).toEqual(['ListResourceRecordSetsCommand', 'ChangeResourceRecordSetsCommand', 'UpdateHealthCheckCommand']);
    expect(r53Mock.commandCalls(ListResourceRecordSetsCommand)[0].args[0].input).toEqual({
      HostedZoneId: 'Z0123456789AB',
      StartRecordName: 'trade.acme.example.com',
      StartRecordType: 'A',
      MaxItems: 10,
    });
    expect(ec2Mock.calls()).toHaveLength(0);
    expect(steps).toEqual([
      {
        action: 'route53:ChangeResourceRecordSets',
        detail: 'UPSERT trade.acme.example.com PRIMARY (set ny) -> 3.0.0.3 (site chi), SECONDARY (set chi) -> 3.0.0.1 (site ny); change /change/C1 PENDING',
      },
      { action: 'route53:UpdateHealthCheck', detail: 'health check hc-1 probes 3.0.0.3 (site chi)' },
    ]);
  });

  it('reads the old primary from Route 53 when the old master is unknown; leaves SECONDARY alone when the target was not the standby', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C2', Status: 'PENDING', SubmittedAt: new Date(0) } });
    r53Mock.on(UpdateHealthCheckCommand).resolves({});
    await createAwsDriver(dnsInv, clients).moveServiceAddress(null, chi);
    await createAwsDriver(dnsInv, clients).moveServiceAddress(ny, dal);
    const batches = r53Mock
      .commandCalls(ChangeResourceRecordSetsCommand)
      .map((c) => c.args[0].input.ChangeBatch!.Changes!.map((x) => `${x.ResourceRecordSet!.SetIdentifier} ${x.ResourceRecordSet!.Failover} ${x.ResourceRecordSet!.ResourceRecords![0].Value}`));
    expect(batches).toEqual([['ny PRIMARY 3.0.0.3', 'chi SECONDARY 3.0.0.1'], ['ny PRIMARY 3.0.0.2']]);
  });

  it('goes by the records as they are, not the inventory: after an earlier failover the swap is undone right', async () => {
    // The records after ny -> chi; the inventory still shows them as before it. Failing back to ny:
    records('3.0.0.3', '3.0.0.1');
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C4', Status: 'PENDING', SubmittedAt: new Date(0) } });
    r53Mock.on(UpdateHealthCheckCommand).resolves({});
    const steps = await createAwsDriver(dnsInv, clients).moveServiceAddress(chi, ny);
    const [change] = r53Mock.commandCalls(ChangeResourceRecordSetsCommand);
    expect(change.args[0].input.ChangeBatch!.Changes!.map((x) => `${x.ResourceRecordSet!.SetIdentifier} ${x.ResourceRecordSet!.Failover} ${x.ResourceRecordSet!.ResourceRecords![0].Value}`)).toEqual([
      'ny PRIMARY 3.0.0.1',
      'chi SECONDARY 3.0.0.3',
    ]);
    expect(steps[0].detail).toBe('UPSERT trade.acme.example.com PRIMARY (set ny) -> 3.0.0.1 (site ny), SECONDARY (set chi) -> 3.0.0.3 (site chi); change /change/C4 PENDING');
  });

  it('reports a rejected change with the zone, the records and what to check', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).rejects(Object.assign(new Error('No hosted zone found with ID: Z0123456789AB'), { name: 'NoSuchHostedZone' }));
    await expect(createAwsDriver(dnsInv, clients).moveServiceAddress(ny, chi)).rejects.toThrow(
      /^aws: route53:ChangeResourceRecordSets in hosted zone Z0123456789AB \(trade\.acme\.example\.com PRIMARY \(set ny\) -> 3\.0\.0\.3 \(site chi\).*\) failed: NoSuchHostedZone: No hosted zone found with ID: Z0123456789AB; check that the zone and record exist/,
    );
    expect(r53Mock.commandCalls(UpdateHealthCheckCommand)).toHaveLength(0);
  });

  it('says what state a failed health check update leaves', async () => {
    r53Mock.on(ChangeResourceRecordSetsCommand).resolves({ ChangeInfo: { Id: '/change/C3', Status: 'PENDING', SubmittedAt: new Date(0) } });
    r53Mock.on(UpdateHealthCheckCommand).rejects(Object.assign(new Error('No health check exists with the specified ID hc-1'), { name: 'NoSuchHealthCheck' }));
    await expect(createAwsDriver(dnsInv, clients).moveServiceAddress(ny, chi)).rejects.toThrow(
      'aws: route53:UpdateHealthCheck of health check hc-1 to probe 3.0.0.3 (site chi) failed: NoSuchHealthCheck: No health check exists with the specified ID hc-1; the PRIMARY record already points at 3.0.0.3',
    );
  });

  it('refuses an inventory without the Route 53 ids, saying how to regenerate it', async () => {
    const { vipCloud: _drop, ...old } = dnsInv;
    await expect(createAwsDriver(old as Inventory, clients).moveServiceAddress(ny, chi)).rejects.toThrow(
      /^aws: the inventory of "acme" has no Route 53 ids for trade\.acme\.example\.com \(vipCloud\); regenerate the inventory with `pulumi stack output inventory --json > inventory.json`/,
    );
    expect(r53Mock.calls()).toHaveLength(0);
  });
});

describe('power', () => {
  const running = { Reservations: [{ Instances: [{ InstanceId: 'i-0333', State: { Code: 16, Name: 'running' as const } }] }] };

  it('starts a cold instance in its own region and waits until EC2 says running', async () => {
    ec2Mock.on(StartInstancesCommand).resolves({ StartingInstances: [{ InstanceId: 'i-0333', PreviousState: { Name: 'stopped' }, CurrentState: { Name: 'pending' } }] });
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-0333', State: { Code: 0, Name: 'pending' } }] }] })
      .resolves(running);
    const steps = await createAwsDriver(dnsInv, clients).powerOn(chi);
    expect(ec2Mock.commandCalls(StartInstancesCommand).map((c) => c.args[0].input)).toEqual([{ InstanceIds: ['i-0333'] }]);
    const polls = ec2Mock.commandCalls(DescribeInstancesCommand);
    expect(polls.map((c) => c.args[0].input)).toEqual([{ InstanceIds: ['i-0333'] }, { InstanceIds: ['i-0333'] }]);
    for (const c of [...polls, ...ec2Mock.commandCalls(StartInstancesCommand)]) expect(await regionOf(c)).toBe('us-east-2');
    expect(made).toEqual(['us-east-2']);
    expect(steps[0]).toEqual({ action: 'ec2:StartInstances', detail: 'instance i-0333 (site chi, us-east-2): stopped -> pending' });
    expect(steps[1].action).toBe('ec2:wait instance-running');
  }, 20_000);

  it('fails clearly when the instance will not run', async () => {
    ec2Mock.on(StartInstancesCommand).resolves({ StartingInstances: [{ InstanceId: 'i-0333', PreviousState: { Name: 'stopped' }, CurrentState: { Name: 'pending' } }] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0333', State: { Code: 48, Name: 'terminated' } }] }] });
    await expect(createAwsDriver(dnsInv, clients).powerOn(chi)).rejects.toThrow(
      /^aws: waiting for running of instance i-0333 \(site chi, us-east-2\) failed: .*; it did not reach "running" within 300 s; look at the instance's state reason in the EC2 console/,
    );
  });

  it('reports a StartInstances refusal with the instance and the permissions to check', async () => {
    ec2Mock.on(StartInstancesCommand).rejects(Object.assign(new Error('Insufficient capacity.'), { name: 'InsufficientInstanceCapacity' }));
    await expect(createAwsDriver(dnsInv, clients).powerOn(chi)).rejects.toThrow(
      "aws: ec2:StartInstances of instance i-0333 (site chi, us-east-2) failed: InsufficientInstanceCapacity: Insufficient capacity.; check that the instance exists, is not terminated, and that the credentials allow ec2:StartInstances and kms:CreateGrant on the site's key",
    );
  });

  it('stops an instance and waits until it is stopped', async () => {
    ec2Mock.on(StopInstancesCommand).resolves({ StoppingInstances: [{ InstanceId: 'i-0111', PreviousState: { Name: 'running' }, CurrentState: { Name: 'stopping' } }] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0111', State: { Code: 80, Name: 'stopped' } }] }] });
    const steps = await createAwsDriver(dnsInv, clients).powerOff(ny);
    expect(ec2Mock.commandCalls(StopInstancesCommand).map((c) => c.args[0].input)).toEqual([{ InstanceIds: ['i-0111'] }]);
    expect(await regionOf(ec2Mock.commandCalls(StopInstancesCommand)[0])).toBe('us-east-1');
    expect(steps.map((s) => s.action)).toEqual(['ec2:StopInstances', 'ec2:wait instance-stopped']);
    expect(steps[0].detail).toBe('instance i-0111 (site ny, us-east-1): running -> stopping');
  });

  it('refuses hosts it cannot act on: another provider, or no EC2 ids', async () => {
    const d = createAwsDriver(dnsInv, clients);
    const azure: InventoryHost = { ...chi, site: 'ams', provider: 'azure', region: 'westeurope', cloud: undefined };
    await expect(d.powerOn(azure)).rejects.toThrow('aws: cannot power on site "ams": it is on azure, not AWS; use the azure driver for it');
    await expect(d.powerOff({ ...chi, cloud: undefined })).rejects.toThrow(
      /^aws: cannot power off site "chi": the inventory of "acme" has no EC2 ids for it \(hosts\[\]\.cloud\.instanceId\); regenerate the inventory/,
    );
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});
