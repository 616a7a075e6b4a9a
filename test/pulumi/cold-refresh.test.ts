/**
 * Cold refresh (`coldRefreshH` on a cold mirror): the topology field's rules, and what the
 * program builds on the mock runtime — an EventBridge Scheduler schedule calling
 * ec2:startInstances with its role on AWS, a Logic App with a recurrence trigger and a scoped
 * role assignment on Azure — and the inventory telling the host to power off after catching up.
 */
import { refreshRate, START_INSTANCES_TARGET } from '../../modules/aws/decide';
import { COMPUTE_API_VERSION, refreshWorkflowDefinition, VM_CONTRIBUTOR_ROLE } from '../../modules/azure/decide';
import { topologyFromConfig } from '../../model/topology/load';
import { checkAll } from '../../policy/rules';
import { checkInventory } from '../../scripts/hosts/inventory-check';
import { MOCK_SUBSCRIPTION, one, ofType, runOnMocks, type MockRun } from '../mocks';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH ops@laptop';

function config(sites: unknown[]): Record<string, unknown> {
  return {
    'tandem:customer': 'hooli',
    'tandem:topology': {
      dataDir: '/srv/trading',
      service: { start: 'a', stop: 'b', healthPort: 9000 },
      adminCidrs: ['203.0.113.0/24'],
      adminKeys: [KEY],
      sites,
    },
  };
}
const master = { name: 'ny', role: 'master', provider: 'aws', region: 'us-east-1' };
const hot = { name: 'chi', role: 'mirror', provider: 'aws', region: 'us-east-2', failover: 'hot' };

describe('coldRefreshH in the topology', () => {
  const issues = (extra: Record<string, unknown>, base: Record<string, unknown> = { name: 'cold', role: 'mirror', provider: 'aws', region: 'us-west-2', failover: 'cold' }) =>
    topologyFromConfig(config([master, hot, { ...base, ...extra }]), 'hooli').issues.map((i) => `${i.severity} ${i.path}: ${i.message}`);

  it.each([
    [{ coldRefreshH: 0 }, 'error sites[2].coldRefreshH: sites[2].coldRefreshH 0 is not allowed; coldRefreshH (hours between refreshes of a cold mirror) must be a whole number from 1 to 720'],
    [{ coldRefreshH: 1.5 }, 'error sites[2].coldRefreshH: sites[2].coldRefreshH 1.5 is not allowed; coldRefreshH (hours between refreshes of a cold mirror) must be a whole number from 1 to 720'],
    [{ coldRefreshH: 721 }, 'error sites[2].coldRefreshH: sites[2].coldRefreshH 721 is not allowed; coldRefreshH (hours between refreshes of a cold mirror) must be a whole number from 1 to 720'],
    [{ coldRefreshH: '24' }, 'error sites[2].coldRefreshH: sites[2].coldRefreshH "24" is not allowed; coldRefreshH (hours between refreshes of a cold mirror) must be a whole number from 1 to 720'],
    [
      { coldRefreshH: 24, failover: 'warm' },
      'error sites[2].coldRefreshH: sites[2].coldRefreshH is only for cold mirrors; "cold" is warm (running, kept current by the agent) — remove coldRefreshH, or set failover: cold',
    ],
    [
      { coldRefreshH: 24, failover: undefined },
      'error sites[2].coldRefreshH: sites[2].coldRefreshH is only for cold mirrors; "cold" is warm (running, kept current by the agent) — remove coldRefreshH, or set failover: cold',
    ],
  ])('%j is refused with a message saying what is allowed', (extra, message) => {
    expect(issues(extra)).toEqual([message]);
  });

  it('is refused on the master', () => {
    const r = topologyFromConfig(config([{ ...master, coldRefreshH: 24 }, hot]), 'hooli');
    expect(r.issues.map((i) => i.message)).toEqual(['sites[0].coldRefreshH is only for mirrors; the master feeds the others — remove it from "ny"']);
  });

  it('is accepted on a cold mirror, absent by default, and warned about off-cloud', () => {
    const r = topologyFromConfig(
      config([
        master,
        hot,
        { name: 'cold', role: 'mirror', provider: 'aws', region: 'us-west-2', failover: 'cold', coldRefreshH: 24 },
        { name: 'frost', role: 'mirror', provider: 'aws', region: 'us-west-1', failover: 'cold' },
      ]),
      'hooli',
    );
    expect(r.issues).toEqual([]);
    expect(r.topology!.sites[2]).toMatchObject({ failover: 'cold', coldRefreshH: 24 });
    expect('coldRefreshH' in r.topology!.sites[3]).toBe(false);
    const off = issues({ coldRefreshH: 6 }, { name: 'home', role: 'mirror', provider: 'offcloud', address: '198.51.100.7', hostKey: KEY, user: 'trader', failover: 'cold' });
    expect(off).toEqual([
      'warning sites[2].coldRefreshH: sites[2].coldRefreshH: tandem cannot power an off-cloud box on, so pulumi up creates no schedule for "home"; run "tandem mirror refresh home" from cron on the operator\'s machine instead',
    ]);
  });

  it.each([
    [1, 'rate(1 hour)'],
    [6, 'rate(6 hours)'],
    [720, 'rate(720 hours)'],
  ])('refreshRate(%i) is %s', (h, want) => expect(refreshRate(h)).toBe(want));
});

describe('the cold refresh on the mock runtime', () => {
  let run: MockRun;
  beforeAll(async () => {
    const r = topologyFromConfig(
      config([
        master,
        hot,
        { name: 'ore', role: 'mirror', provider: 'aws', region: 'us-west-2', failover: 'cold', coldRefreshH: 6 },
        { name: 'frost', role: 'mirror', provider: 'aws', region: 'us-west-1', failover: 'cold' },
        { name: 'ams', role: 'mirror', provider: 'azure', region: 'westeurope', failover: 'cold', coldRefreshH: 1 },
      ]),
      'hooli',
    );
    expect(r.issues).toEqual([]);
    run = await runOnMocks(r.topology!);
  }, 120_000);

  it('schedules ec2:startInstances on the AWS cold mirror every N hours, in its region, through its role', () => {
    const { resources } = run;
    const schedules = ofType(resources, 'aws:scheduler/schedule:Schedule');
    expect(schedules.map((s) => s.name)).toEqual(['hooli-ore-refresh-schedule']);
    const s = schedules[0];
    const instance = one(resources, 'aws:ec2/instance:Instance', 'hooli-ore-host');
    const role = one(resources, 'aws:iam/role:Role', 'hooli-ore-refresh-role');
    expect(s.inputs.scheduleExpression).toBe('rate(6 hours)');
    expect(s.inputs.flexibleTimeWindow).toEqual({ mode: 'FLEXIBLE', maximumWindowInMinutes: 15 });
    expect(s.inputs.target).toMatchObject({ arn: START_INSTANCES_TARGET, roleArn: role.state.arn });
    expect(START_INSTANCES_TARGET).toBe('arn:aws:scheduler:::aws-sdk:ec2:startInstances');
    expect(JSON.parse(s.inputs.target.input)).toEqual({ InstanceIds: [instance.state.id] });
    expect({ schedule: s.region, role: role.region, provider: s.provider }).toEqual({ schedule: 'us-west-2', role: 'us-west-2', provider: 'hooli-aws-us-west-2' });
    expect(s.parent).toBe('hooli-ore-refresh');
    expect(one(resources, 'tandem:aws:ColdRefresh', 'hooli-ore-refresh').parent).toBe('hooli-ore');
  });

  it('lets the role be assumed by EventBridge Scheduler only, and start that one instance only', () => {
    const { resources } = run;
    const role = one(resources, 'aws:iam/role:Role', 'hooli-ore-refresh-role');
    expect(JSON.parse(role.inputs.assumeRolePolicy)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'scheduler.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    const policy = one(resources, 'aws:iam/rolePolicy:RolePolicy', 'hooli-ore-refresh-start');
    expect(policy.inputs.role).toBe(role.state.id);
    const instance = one(resources, 'aws:ec2/instance:Instance', 'hooli-ore-host');
    const key = one(resources, 'aws:kms/key:Key', 'hooli-ore-key');
    expect(JSON.parse(policy.inputs.policy).Statement).toEqual([
      { Effect: 'Allow', Action: 'ec2:StartInstances', Resource: instance.state.arn },
      { Effect: 'Allow', Action: 'kms:CreateGrant', Resource: key.state.arn, Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
    ]);
  });

  it('keeps the cold mirror stopped after creation; a cold mirror without coldRefreshH gets no schedule', () => {
    const states = ofType(run.resources, 'aws:ec2transitgateway/instanceState:InstanceState')
      .map((r) => r.name)
      .sort();
    expect(states).toEqual(['hooli-frost-state', 'hooli-ore-state']);
    expect(run.resources.filter((r) => r.name.startsWith('hooli-frost-refresh'))).toEqual([]);
  });

  it('starts the Azure cold mirror from a Logic App every N hours, as an identity that may start only that VM', () => {
    const { resources } = run;
    const wf = one(resources, 'azure-native:logic:Workflow', 'hooli-ams-refresh-workflow');
    const vm = one(resources, 'azure-native:compute:VirtualMachine', 'hooli-ams-vm');
    expect(wf.inputs).toMatchObject({ location: 'westeurope', identity: { type: 'SystemAssigned' }, state: 'Enabled' });
    expect(wf.inputs.definition).toEqual(refreshWorkflowDefinition(vm.state.id, 1));
    expect(wf.inputs.definition.triggers.every).toEqual({ type: 'Recurrence', recurrence: { frequency: 'Hour', interval: 1 } });
    expect(wf.inputs.definition.actions.startVm.inputs).toEqual({
      method: 'POST',
      uri: `https://management.azure.com${vm.state.id}/start?api-version=${COMPUTE_API_VERSION}`,
      authentication: { type: 'ManagedServiceIdentity', audience: 'https://management.azure.com/' },
    });
    expect(wf.region).toBe('westeurope');
    const ra = one(resources, 'azure-native:authorization:RoleAssignment', 'hooli-ams-refresh-vm-start');
    expect(ra.inputs).toMatchObject({
      scope: vm.state.id,
      roleDefinitionId: `/subscriptions/${MOCK_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/${VM_CONTRIBUTOR_ROLE}`,
      principalType: 'ServicePrincipal',
    });
    expect(ra.parent).toBe('hooli-ams-refresh-workflow');
  });

  it('tells the host side in the inventory, which still passes the inventory check', () => {
    const h = (site: string) => run.inventory.hosts.find((x) => x.site === site)!;
    expect(h('ore').coldRefreshH).toBe(6);
    expect(h('ams').coldRefreshH).toBe(1);
    expect(h('frost').coldRefreshH).toBeUndefined();
    expect(h('chi').coldRefreshH).toBeUndefined();
    expect(checkInventory(JSON.parse(JSON.stringify(run.inventory)))).toMatchObject({ ok: true });
  });

  it('passes every policy', () => {
    expect(checkAll(run.resources).filter((f) => f.severity === 'error')).toEqual([]);
  });
});
