/**
 * `tandem site replace` in the cloud (issue 11), on Pulumi's mock runtime: the program's snapshot
 * input (`tandem:restore`) creates the replaced site's data volume (AWS) or disk (Azure) from the
 * snapshot and touches no other site; the URNs `pulumi up --replace` is given are the real URNs of
 * that site's server and host key in the graph; a replaced host key reaches the inventory output
 * (the mocks answer the host key resource with a new key, as the engine does after a replace);
 * bad restore input is refused by name. The engine's replace itself needs the Pulumi CLI (absent
 * here): tested against the Automation layer's interface in test/repair/cloud-replace.test.ts.
 */
import * as pulumi from '@pulumi/pulumi';
import type { Inventory } from '../../model/inventory';
import { outputValue, PLAN_ADMIN_KEY } from '../../scripts/plan/runtime';
import { replaceUrns } from '../../scripts/repair/replace';
import { restoreFromConfig, type Restore } from '../../stacks/program';
import { ed25519FromSeed, exampleTopology, RecordingMocks } from '../mocks';

const SNAP = 'snap-0123456789abcdef0';
const AZ_SNAP = '/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/globex-ams/providers/Microsoft.Compute/snapshots/ams-data-20260101';

/** Mocks that give the host key resources of `replaced` sites a new key: what the engine returns after replacing them. */
class ReplacingMocks extends RecordingMocks {
  constructor(
    stack: string,
    private readonly replaced: readonly string[],
  ) {
    super(stack);
  }
  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const r = super.newResource(args);
    const site = this.replaced.find((s) => args.name.endsWith(`-${s}-host-key`));
    if (args.type !== 'tls:index/privateKey:PrivateKey' || !site) return r;
    const k = ed25519FromSeed(`${args.name}/replaced`);
    return { id: `${r.id}-2`, state: { ...r.state, publicKeyOpenssh: k.publicOpenssh, privateKeyOpenssh: k.privateOpenssh } };
  }
}

interface Run {
  inventory: Inventory;
  resources: { type: string; name: string; urn: string; inputs: Record<string, any> }[];
}

async function run(restore: Restore, replaced: string[] = []): Promise<Run> {
  const topology = exampleTopology('globex');
  const mocks = new ReplacingMocks(topology.customer, replaced);
  await pulumi.runtime.setMocks(mocks, 'tandem', topology.customer, false);
  const { buildStack } = await import('../../stacks/program');
  const seen: { type: string; name: string; resource: pulumi.Resource; parent: pulumi.Resource | undefined }[] = [];
  const { inventory } = buildStack(topology, {
    adminKeys: [PLAN_ADMIN_KEY],
    restore,
    opts: {
      transformations: [
        (a) => {
          seen.push({ type: a.type, name: a.name, resource: a.resource, parent: a.opts.parent });
          return undefined;
        },
      ],
    },
  });
  const inv = await outputValue(inventory);
  const mockUrns = await Promise.all(seen.map((s) => outputValue(s.resource.urn)));
  await pulumi.runtime.disconnect();
  // The engine's URN qualifies a type with every ancestor's type (root stack aside); the mock
  // runtime's newUrn keeps only the parent's, so the engine's is built here from the parents.
  const byRes = new Map(seen.map((s) => [s.resource, s] as const));
  const chain = (s: (typeof seen)[number]): string => (s.parent && byRes.has(s.parent) ? `${chain(byRes.get(s.parent)!)}$${s.type}` : s.type);
  const urns = seen.map((s, i) => {
    const urn = `urn:pulumi:${topology.customer}::tandem::${chain(s)}::${s.name}`;
    // Same resource: the mock's URN ends like the engine's (parent's type, own type, name).
    if (!urn.endsWith(mockUrns[i].slice(mockUrns[i].indexOf('::', 'urn:pulumi:'.length + topology.customer.length + 2) + 2))) throw new Error(`URN mismatch: ${urn} vs mock ${mockUrns[i]}`);
    return urn;
  });
  const inputs = new Map(mocks.resources.map((r) => [`${r.type}::${r.name}`, r.inputs] as const));
  return { inventory: inv, resources: seen.map((s, i) => ({ type: s.type, name: s.name, urn: urns[i], inputs: inputs.get(`${s.type}::${s.name}`) ?? {} })) };
}

const volume = (r: Run, site: string) => r.resources.find((x) => x.type === 'aws:ebs/volume:Volume' && x.name === `globex-${site}-data`)!;
const disk = (r: Run, site: string) => r.resources.find((x) => x.type === 'azure-native:compute:Disk' && x.name === `globex-${site}-data`)!;
const keyOf = (r: Run, site: string) => r.inventory.hosts.find((h) => h.site === site)!.hostKey;

describe('site replace: the snapshot input on the mock runtime', () => {
  let before: Run;
  let after: Run;
  beforeAll(async () => {
    before = await run({});
    after = await run(restoreFromConfig({ chi: { snapshotId: SNAP } }, exampleTopology('globex'), null), ['chi']);
  }, 120_000);

  it('creates only the replaced site’s data volume from the snapshot', () => {
    expect(volume(before, 'chi').inputs.snapshotId).toBeUndefined();
    expect(volume(after, 'chi').inputs).toMatchObject({ snapshotId: SNAP, encrypted: true, type: 'gp3' });
    expect(volume(after, 'ny').inputs.snapshotId).toBeUndefined();
    expect(disk(after, 'ams').inputs.creationData).toEqual({ createOption: 'Empty' });
    // Nothing else changes: the same resources, the same names.
    expect(after.resources.map((r) => r.urn).sort()).toEqual(before.resources.map((r) => r.urn).sort());
  });

  it('names the real URNs of the site’s server and host key for pulumi up --replace', () => {
    const urns = new Set(after.resources.map((r) => r.urn));
    for (const site of ['chi', 'ams']) {
      const host = after.inventory.hosts.find((h) => h.site === site)!;
      const targets = replaceUrns('tandem', 'globex', 'globex', host);
      expect(targets).toHaveLength(2);
      for (const t of targets) expect({ t, inGraph: urns.has(t), named: [...urns].filter((u) => u.endsWith(t.slice(t.lastIndexOf('::')))) }).toEqual({ t, inGraph: true, named: [t] });
    }
    expect(() =>
      replaceUrns(
        'tandem',
        'globex',
        'globex',
        after.inventory.hosts.find((h) => h.site === 'home')!,
      ),
    ).toThrow(/off-cloud host: tandem cannot build a new one/);
  });

  it('puts the replaced host key in the inventory, and only that one', () => {
    expect(keyOf(after, 'chi')).not.toBe(keyOf(before, 'chi'));
    expect(keyOf(after, 'chi')).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+$/);
    for (const s of ['ny', 'ams', 'home']) expect(keyOf(after, s)).toBe(keyOf(before, s));
  });

  it('creates an Azure data disk as a copy of its snapshot', async () => {
    const r = await run(restoreFromConfig({ ams: { snapshotId: AZ_SNAP } }, exampleTopology('globex'), null), ['ams']);
    expect(disk(r, 'ams').inputs.creationData).toEqual({ createOption: 'Copy', sourceResourceId: AZ_SNAP });
    expect(volume(r, 'chi').inputs.snapshotId).toBeUndefined();
  }, 60_000);

  it.each([
    [{ ny: { snapshotId: SNAP } }, /tandem:restore\.ny: ny is the master; its data volume is never re-created from a snapshot \(fail over first\)/],
    [{ nope: { snapshotId: SNAP } }, /tandem:restore\.nope: no such site; sites: ny, chi, ams, home/],
    [{ home: { snapshotId: SNAP } }, /tandem:restore\.home: an off-cloud site has no volume/],
    [{ chi: { snapshotId: 'vol-123' } }, /tandem:restore\.chi\.snapshotId: "vol-123" is not an EBS snapshot id/],
    [{ ams: { snapshotId: SNAP } }, /tandem:restore\.ams\.snapshotId: "snap-0123456789abcdef0" is not an Azure snapshot id/],
    [['chi'], /tandem:restore must be a map of site -> \{ snapshotId: <id> \}/],
  ])('refuses restore %j', (raw, msg) => {
    expect(() => restoreFromConfig(raw, exampleTopology('globex'), null)).toThrow(msg);
  });

  it('after a failover to chi, chi is the master and cannot be restored; ny can', () => {
    const live = { master: 'chi', epoch: 2, at: '2026-01-01T00:00:00Z' } as never;
    expect(() => restoreFromConfig({ chi: { snapshotId: SNAP } }, exampleTopology('globex'), live)).toThrow(/chi is the master/);
    expect(restoreFromConfig({ ny: { snapshotId: SNAP } }, exampleTopology('globex'), live)).toEqual({ ny: { snapshotId: SNAP } });
  });
});
