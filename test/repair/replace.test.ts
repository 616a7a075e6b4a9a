/**
 * `tandem site replace` on real lab hosts (customer rp2): the mirror's host is destroyed for good
 * and a new one takes the site: a new host key, pinned afresh (the old key is refused, the new one
 * accepted), the agent installed, seeded from the master, in sync, and verified equal to the
 * master's tree (the model). The master is refused, naming the failover to run first.
 */
import type { Inventory } from '../../model/inventory';
import { parseTopologyFile } from '../../model/topology/load';
import { connectorFor } from '../../scripts/hosts/ssh';
import { readLabInventory } from '../../scripts/lab/state';
import type { RepairContext } from '../../scripts/repair/api';
import { replaceSite } from '../../scripts/repair';
import { Rng } from '../support/fsops';
import { snapshot } from '../support/treecmp';
import { agentStatusOn, describeLab, waitUntil } from '../support/lab';
import { cli, sh, useFoLab } from '../failover/helpers';
import { randomTree } from './corrupt';

const C = 'rp2';
const SITES = ['{ name: ny, role: master, provider: aws, region: us-east-1 }', '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }'];

const dataOf = (inv: Inventory, site: string) => inv.hosts.find((h) => h.site === site)!.labDataDir!;
const notTmp = (rel: string) => rel.endsWith('.tmp');

describeLab('site replace (lab rp2)', () => {
  const lab = useFoLab(C, SITES);
  jest.setTimeout(180_000);
  const log: string[] = [];
  const ctx = (inv: Inventory): RepairContext => {
    const t = parseTopologyFile(lab.file());
    return { inventory: inv, topology: t.topology!, stackFile: lab.file(), live: null, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, log: (l) => void log.push(l) };
  };

  it('refuses to replace the master, naming the failover to run first', async () => {
    await expect(replaceSite(ctx(lab.inv()), 'ny')).rejects.toThrow(/--site ny: ny is the master now; a master is not replaced in place\. Fail over first: tandem failover --stack rp2 --to chi/);
    const r = await cli(['site', 'replace', lab.file(), '--site', 'ny'], 60_000);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/site replace: --site ny: ny is the master now.*nothing was changed/s);
  });

  it('gives the site a new host with a new pinned key, seeded, in sync and equal', async () => {
    const old = lab.inv();
    randomTree(dataOf(old, 'ny'), new Rng(99), 60);
    await waitUntil('the tree on chi', async () => JSON.stringify([...snapshot(dataOf(old, 'chi'), notTmp)]) === JSON.stringify([...snapshot(dataOf(old, 'ny'), notTmp)]), 60_000, 250);
    // Something only the old host has: it must be gone with the host.
    await sh(C, 'chi', 'echo old-host > /root/marker');
    const oldKey = old.hosts.find((h) => h.site === 'chi')!.hostKey!;

    const r = await replaceSite(ctx(old), 'chi');
    expect(log.join('\n')).toMatch(/destroying host chi/);
    const now = readLabInventory(C);
    const newKey = now.hosts.find((h) => h.site === 'chi')!.hostKey!;
    expect({ old: r.oldHostKey, new: r.newHostKey, seededFrom: r.seededFrom }).toEqual({ old: oldKey, new: newKey, seededFrom: 'ny' });
    expect(newKey).not.toBe(oldKey);
    expect((await sh(C, 'chi', 'cat /root/marker 2>&1 || true')).stdout).toMatch(/No such file/);

    // Pinned: the old inventory's key is refused by name; the new one is accepted (positive control).
    const chiOld = old.hosts.find((h) => h.site === 'chi')!;
    await expect(connectorFor(old)(chiOld, { timeoutMs: 10_000, retries: 0 })).rejects.toThrow(/chi: REFUSED: the host key does not match the inventory/);
    const s = await connectorFor(now)(
      now.hosts.find((h) => h.site === 'chi')!,
      { timeoutMs: 10_000, retries: 0 },
    );
    try {
      expect((await s.exec('hostname')).code).toBe(0);
    } finally {
      await s.close();
    }

    // Data equal to the model (the master's tree), the agent in sync, verify equal.
    expect(r.verify).toMatchObject({ site: 'chi', source: 'ny', equal: true, differences: [] });
    const m = snapshot(dataOf(now, 'ny'), notTmp);
    expect(m.size).toBeGreaterThan(30);
    expect([...snapshot(dataOf(now, 'chi'), notTmp)]).toEqual([...m]);
    expect((await agentStatusOn(C, 'chi')).inSync).toBe(true);
    // And it keeps mirroring: a new write on the master arrives on the new host.
    await sh(C, 'ny', 'echo after-replace > /srv/trading/after.txt');
    await waitUntil('a new write on chi', async () => (await sh(C, 'chi', 'cat /srv/trading/after.txt 2>/dev/null || true')).stdout.trim() === 'after-replace', 20_000, 200);
  });
});
