/**
 * Follow-ups of the fencing work, without hosts: install's configs carry every other site (peers,
 * the same list a failover writes), the boot fence's systemd unit (lab hosts have no systemd:
 * what install writes there is checked here, not run), the one rule for "the hosts disagree with
 * the inventory about who is master", the shell digest a switchover uses (equal to the agent's),
 * and an unplanned failover's data at risk (an upper bound).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { digestTree } from '../../agent/src/fence';
import { buildAgentConfig, INSTALL_DEFAULT, peersFor } from '../../scripts/hosts/config';
import { FENCE_UNIT_PATH, fenceUnit, type Probe } from '../../scripts/hosts/hostfiles';
import { desiredFiles } from '../../scripts/hosts/install';
import { roleFromConfig, rolesDisagree } from '../../scripts/hosts/target';
import { digestOfTree, treeScript, type HostProbe } from '../../scripts/failover/hosts';
import { dataAtRisk } from '../../scripts/failover/run';
import { labInventory } from '../ops/fixtures';

const inv = labInventory();

describe('install carries peers', () => {
  it('every config names every other site with its address, port and host key', () => {
    for (const h of inv.hosts) {
      const c = buildAgentConfig(inv, h.site, INSTALL_DEFAULT);
      expect(c.peers).toEqual(peersFor(inv, h.site));
      expect(c.peers!.map((p) => p.site).sort()).toEqual(
        inv.hosts
          .filter((x) => x.site !== h.site)
          .map((x) => x.site)
          .sort(),
      );
      for (const p of c.peers!)
        expect(p).toEqual({ site: p.site, address: inv.hosts.find((x) => x.site === p.site)!.address, sshPort: expect.any(Number), hostKey: expect.stringMatching(/^ssh-ed25519 /) });
    }
  });
});

describe('the boot fence under systemd', () => {
  const probe = (supervision: 'systemd' | 'lab'): Probe => ({
    node: '/usr/bin/node',
    supervision,
    sha: new Map(),
    configText: null,
    publicKey: 'ssh-ed25519 AAAA tandem@x',
    running: false,
    created: [],
    warnings: [],
    tools: new Set(['rsync', 'rrsync', 'inotifywait']),
  });
  const files = (sup: 'systemd' | 'lab') => desiredFiles({ inv, site: 'ny', probe: probe(sup), control: INSTALL_DEFAULT, agentJs: Buffer.from('//'), parentPublicKey: null, peerKeys: new Map() });

  it('the unit runs agent.js fence as root at boot, only on a host marked master by the hook, before the agent', () => {
    const u = fenceUnit('/usr/bin/node');
    expect(u).toMatch(/^ExecStart=\/usr\/bin\/node \/var\/lib\/tandem\/agent\.js fence$/m);
    expect(u).toMatch(/^ConditionPathExists=\/var\/lib\/tandem\/boot\.d\/40-tandem-fence$/m);
    expect(u).toMatch(/^Before=tandem-agent\.service$/m);
    expect(u).toMatch(/^WantedBy=multi-user\.target$/m);
    expect(u).not.toMatch(/^User=/m); // root: it stops the service and moves dataDir aside
  });

  it('install writes it where systemd runs, and not on hosts without systemd (the lab)', () => {
    const sd = files('systemd').find((f) => f.path === FENCE_UNIT_PATH);
    expect(sd?.content.toString()).toBe(fenceUnit('/usr/bin/node'));
    expect(sd).toMatchObject({ mode: '0644', owner: 'root:root', label: 'fence unit' });
    expect(files('lab').find((f) => f.path === FENCE_UNIT_PATH)).toBeUndefined();
  });
});

describe('rolesDisagree', () => {
  it('names who the hosts say is master when the inventory names another', () => {
    const why = rolesDisagree(inv, [{ site: 'ny', role: 'mirror', epoch: 2 }, { site: 'chi', role: 'master', epoch: 2 }, null]);
    expect(why).toMatch(/^the hosts say chi is master at epoch 2, not ny \(ny: mirror, epoch 2\); .*--stack/);
  });
  it('a stale master at a lower epoch does not count; agreement and unknown hosts pass', () => {
    expect(rolesDisagree(inv, [roleFromConfig('ny', '{"role":"master","epoch":3}'), roleFromConfig('chi', '{"role":"master","epoch":2}')])).toBeNull();
    expect(rolesDisagree(inv, [null, roleFromConfig('chi', 'not json')])).toBeNull();
    expect(rolesDisagree(inv, [roleFromConfig('ny', '{"role":"mirror","epoch":3}')])).toMatch(/^ny says it is a mirror at epoch 3/);
  });
});

describe('the shell digest of a switchover', () => {
  let a: string;
  let b: string;
  beforeEach(() => {
    a = fs.mkdtempSync(path.join(os.tmpdir(), 'sdg-a-'));
    b = fs.mkdtempSync(path.join(os.tmpdir(), 'sdg-b-'));
  });
  afterEach(() => {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  });
  const put = (root: string, rel: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  };
  const shell = (root: string, before?: string) => digestOfTree(execFileSync('sh', ['-c', treeScript(root, before)], { stdio: ['ignore', 'pipe', 'ignore'] }).toString(), root, ['*.tmp']);

  it('equals the agent digest (excluded files, staging, symlinks in and out, odd names)', () => {
    put(a, 'records.log', '1 1\n2 2\n');
    put(a, 'd/e/x', 'x');
    put(a, 'scratch.tmp', 'excluded');
    put(a, '.tandem-staging/half', 'h');
    put(a, 'we ird\nname', 'q');
    fs.symlinkSync('d/e/x', path.join(a, 'link'));
    fs.symlinkSync('/etc/passwd', path.join(a, 'abs'));
    expect(shell(a, 'echo stopping')).toEqual(digestTree(a, ['*.tmp']));
  });

  it('one record more on one side changes it', () => {
    put(a, 'records.log', '1 1\n2 2\n');
    put(b, 'records.log', '1 1\n');
    expect(shell(a).digest).not.toBe(shell(b).digest);
    put(b, 'records.log', '1 1\n2 2\n');
    expect(shell(a).digest).toBe(shell(b).digest);
  });

  it('a failing service stop fails the step (no digest without a stopped service)', () => {
    expect(() => execFileSync('sh', ['-c', treeScript(a, 'false')], { stdio: 'ignore' })).toThrow();
  });
});

describe('data at risk of an unplanned failover', () => {
  const probe = (through: number | null, applied: number | null): HostProbe =>
    ({ receiver: { highestEpoch: 1, through, lastAppliedChangeTime: applied, updatedAt: 0, sender: 'ny' } }) as unknown as HostProbe;
  it('counts from the newest change surely held to when the master was found down (not from the fault time)', () => {
    // A heartbeat said "through 10.0 s" while the last applied change was 9.9 s; the master was found down at 12 s.
    const r = dataAtRisk(probe(10_000, 9_900), 'chi', 'ny', 0, false, 12_000);
    expect(r.seconds).toBe(2.1);
    expect(r.basis).toMatch(/found down/);
  });
  it('an idle master: through less the watcher allowance; a reachable one: up to its service stop', () => {
    expect(dataAtRisk(probe(100_000, 1_000), 'chi', 'ny', 0, false, 101_000).seconds).toBe(3);
    expect(dataAtRisk(probe(100_000, 99_500), 'chi', 'ny', 100_700, true, 100_100).seconds).toBe(1.2);
    expect(dataAtRisk(probe(null, null), 'chi', 'ny', 0, false, 1).seconds).toBeNull();
  });
});
