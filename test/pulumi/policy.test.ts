/** The policy functions on small hand-built graphs: each passes a good graph and fails a bad one. */
import { fromPack } from '../../policy/adapter';
import { checkAll, encryptionAtRest, geoSeparation, imdsv2, noWorldSsh, snapshotsPresent, T, type PolicyResource, type Rule } from '../../policy/rules';

let n = 0;
function res(type: string, inputs: Record<string, any>, region: string | null = 'us-east-1', name = `r${++n}`): PolicyResource {
  return { urn: `urn:pulumi:s::p::${type}::${name}`, type, name, region, inputs };
}
const host = (role: string, region: string, site = role, type: string = T.instance) =>
  res(type, { tags: { 'tandem:role': role, 'tandem:site': site }, metadataOptions: { httpTokens: 'required' }, rootBlockDevice: { encrypted: true } }, region, `${site}-host`);
const errors = (rule: Rule, g: PolicyResource[]) => rule.check(g).filter((f) => f.severity === 'error');
const severities = (rule: Rule, g: PolicyResource[]) => rule.check(g).map((f) => f.severity);

describe('geo-separation', () => {
  it.each([
    ['mirror in another region', [host('master', 'us-east-1'), host('mirror', 'us-east-2', 'chi')], []],
    ['mirror in another cloud, other metro', [host('master', 'us-east-1'), host('mirror', 'westeurope', 'ams', T.vm)], []],
    ['only mirror in the same region', [host('master', 'us-east-1'), host('mirror', 'us-east-1', 'ny2')], ['error']],
    ['only mirror in the same metro on another cloud', [host('master', 'us-east-1'), host('mirror', 'eastus', 'va', T.vm)], ['error']],
    ['a same-region mirror beside a far one', [host('master', 'us-east-1'), host('mirror', 'us-east-1', 'ny2'), host('mirror', 'eu-west-2', 'ldn')], ['info']],
  ])('%s', (_why, graph, want) => expect(severities(geoSeparation, graph as PolicyResource[])).toEqual(want));
});

describe('encryption-at-rest', () => {
  it.each([
    ['encrypted EBS with a key', res(T.volume, { encrypted: true, kmsKeyId: 'arn:aws:kms:...' }), []],
    ['encrypted EBS, AWS-managed key', res(T.volume, { encrypted: true }), ['warning']],
    ['unencrypted EBS', res(T.volume, { encrypted: false, kmsKeyId: 'k' }), ['error']],
    ['EBS with encryption unset', res(T.volume, {}), ['error']],
    ['instance with unencrypted root', res(T.instance, { rootBlockDevice: { encrypted: false } }), ['error']],
    ['instance with an unencrypted extra device', res(T.instance, { rootBlockDevice: { encrypted: true }, ebsBlockDevices: [{ encrypted: false }] }), ['error']],
    ['Azure disk with platform key', res(T.disk, { encryption: { type: 'EncryptionAtRestWithPlatformKey' } }), []],
    ['Azure disk without encryption type', res(T.disk, {}), ['error']],
    ['Azure VM with inline empty data disk', res(T.vm, { storageProfile: { osDisk: { managedDisk: {} }, dataDisks: [{ createOption: 'Empty' }] } }), ['error']],
    ['Azure VM with unmanaged OS disk', res(T.vm, { storageProfile: { osDisk: { vhd: { uri: 'x' } }, dataDisks: [] } }), ['error']],
    ['DLM copying unencrypted', res(T.dlm, { policyDetails: { schedules: [{ crossRegionCopyRules: [{ target: 'us-east-2', encrypted: false }] }] } }), ['error']],
  ])('%s', (_why, r, want) => expect(severities(encryptionAtRest, [r])).toEqual(want));
});

describe('no-world-ssh', () => {
  it.each([
    ['admin CIDR on 22', res(T.ingress, { cidrIpv4: '203.0.113.0/24', fromPort: 22, toPort: 22, ipProtocol: 'tcp' }), []],
    ['world on 443', res(T.ingress, { cidrIpv4: '0.0.0.0/0', fromPort: 443, toPort: 443, ipProtocol: 'tcp' }), []],
    ['world on 22', res(T.ingress, { cidrIpv4: '0.0.0.0/0', fromPort: 22, toPort: 22, ipProtocol: 'tcp' }), ['error']],
    ['world v6 on a range holding 22', res(T.ingress, { cidrIpv6: '::/0', fromPort: 0, toPort: 1024, ipProtocol: 'tcp' }), ['error']],
    ['world on all protocols', res(T.ingress, { cidrIpv4: '0.0.0.0/0', ipProtocol: '-1' }), ['error']],
    ['world on a moved ssh port', res(T.ingress, { cidrIpv4: '0.0.0.0/0', fromPort: 2222, toPort: 2222, ipProtocol: 'tcp', description: 'ssh from anywhere' }), ['error']],
    ['world on 22, opted in', res(T.ingress, { cidrIpv4: '0.0.0.0/0', fromPort: 22, toPort: 22, ipProtocol: 'tcp', description: 'ssh from anywhere (allowOpenSsh)' }), ['warning']],
    ['inline SG rule', res(T.sg, { ingress: [{ cidrBlocks: ['0.0.0.0/0'], fromPort: 22, toPort: 22, protocol: 'tcp' }] }), ['error']],
    ['SecurityGroupRule', res(T.sgRule, { type: 'ingress', cidrBlocks: ['0.0.0.0/0'], fromPort: 22, toPort: 22, protocol: 'tcp' }), ['error']],
    ['NSG rule from Internet on 22', res(T.nsgRule, { direction: 'Inbound', access: 'Allow', sourceAddressPrefix: 'Internet', destinationPortRange: '22' }), ['error']],
    ['NSG rule from * on a range', res(T.nsgRule, { direction: 'Inbound', access: 'Allow', sourceAddressPrefix: '*', destinationPortRange: '20-30' }), ['error']],
    ['NSG deny from *', res(T.nsgRule, { direction: 'Inbound', access: 'Deny', sourceAddressPrefix: '*', destinationPortRange: '22' }), []],
    ['NSG health port from Internet', res(T.nsgRule, { direction: 'Inbound', access: 'Allow', sourceAddressPrefix: 'Internet', destinationPortRange: '8443' }), []],
    ['NSG inline rule', res(T.nsg, { securityRules: [{ direction: 'Inbound', access: 'Allow', sourceAddressPrefixes: ['0.0.0.0/0'], destinationPortRange: '*' }] }), ['error']],
  ])('%s', (_why, r, want) => expect(severities(noWorldSsh, [r])).toEqual(want));
});

describe('imdsv2', () => {
  it.each([
    [{ metadataOptions: { httpTokens: 'required' } }, 0],
    [{ metadataOptions: { httpTokens: 'optional' } }, 1],
    [{}, 1],
  ])('%j -> %i error(s)', (inputs, count) => expect(errors(imdsv2, [res(T.instance, inputs)])).toHaveLength(count));
});

describe('snapshots', () => {
  const vol = (key?: string) => res(T.volume, { encrypted: true, tags: key ? { 'tandem:snapshots': key } : {} }, 'us-east-1', 'vol');
  const dlm = (key: string, copy: boolean, state = 'ENABLED') =>
    res(T.dlm, {
      state,
      policyDetails: { resourceTypes: ['VOLUME'], targetTags: { 'tandem:snapshots': key }, schedules: [{ crossRegionCopyRules: copy ? [{ target: 'us-east-2', encrypted: true }] : [] }] },
    });
  it.each([
    ['covered and copied', [vol('a-ny'), dlm('a-ny', true)], []],
    ['covered, not copied', [vol('a-ny'), dlm('a-ny', false)], ['warning']],
    ['policy for another volume', [vol('a-ny'), dlm('a-chi', true)], ['error']],
    ['policy disabled', [vol('a-ny'), dlm('a-ny', true, 'DISABLED')], ['error']],
    ['volume without the tag', [vol(), dlm('a-ny', true)], ['error']],
    ['Azure disk with a backup instance', [res(T.disk, { tags: { 'tandem:snapshots': 'a-ams' } }), res(T.backupInstance, { tags: { 'tandem:snapshots': 'a-ams' } })], []],
    ['Azure disk without one', [res(T.disk, { tags: { 'tandem:snapshots': 'a-ams' } })], ['error']],
  ])('%s', (_why, graph, want) => expect(severities(snapshotsPresent, graph as PolicyResource[])).toEqual(want));
});

describe('checkAll and the pack adapter', () => {
  it('orders errors first and names the rule and resource', () => {
    const g = [res(T.volume, { encrypted: true }, 'us-east-1', 'v1'), res(T.instance, {}, 'us-east-1', 'i1')];
    const f = checkAll(g);
    expect(f[0].severity).toBe('error');
    expect(f.map((x) => `${x.severity} ${x.rule} ${x.resource}`)).toEqual(['error encryption-at-rest i1', 'error imdsv2 i1', 'error snapshots v1', 'warning encryption-at-rest v1']);
  });
  it('takes the region from the provider, else the location', () => {
    const g = fromPack([
      { urn: 'u1', type: T.volume, name: 'v', props: { encrypted: true }, provider: { urn: 'p', type: 'pulumi:providers:aws', name: 'p', props: { region: 'eu-west-2' } } },
      { urn: 'u2', type: T.disk, name: 'd', props: { location: 'westeurope' }, provider: undefined },
      { urn: 'u3', type: 'tls:index/privateKey:PrivateKey', name: 'k', props: {}, provider: undefined },
    ]);
    expect(g.map((r) => r.region)).toEqual(['eu-west-2', 'westeurope', null]);
  });
});
