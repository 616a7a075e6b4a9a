/**
 * `tandem mirror verify` and `tandem mirror rebuild` on real lab hosts (customer rp1): a random
 * tree on the master, mirrored; seeded random corruptions of the mirror's copy; verify must list
 * exactly the corrupted paths (the model: the master's tree), and nothing when equal. Rebuild then
 * runs from the real command line while the trading service (the record writer) keeps writing on
 * the master: the service is never stopped, the mirror ends equal and in sync, no record lost.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Inventory } from '../../model/inventory';
import { mirrorFleet } from '../../scripts/hosts/mirror';
import { connectorFor } from '../../scripts/hosts/ssh';
import { answers } from '../../scripts/failover/hosts';
import type { MirrorVerify, RepairContext } from '../../scripts/repair/api';
import { rebuildMirror, verifyMirror } from '../../scripts/repair';
import { Rng } from '../support/fsops';
import { snapshot } from '../support/treecmp';
import { describeLab, fleet, waitUntil } from '../support/lab';
import { cli, cliJson, DATA, firstBreak, PORT, records, sh, useFoLab, WRITER } from '../failover/helpers';
import { corrupt, expected, randomTree, type Corruption } from './corrupt';

const C = 'rp1';
const SITES = [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope, relayVia: chi, bandwidthMbit: 200 }',
];

/** Seeds run every time; a random one is added and printed. Failures found are kept here as fixed seeds. */
const FIXED_SEEDS = [11, 12];

const dataOf = (inv: Inventory, site: string) => inv.hosts.find((h) => h.site === site)!.labDataDir!;
const notTmp = (rel: string) => rel.endsWith('.tmp');

function ctxFor(inv: Inventory, log: string[] = []): RepairContext {
  return {
    inventory: inv,
    topology: null,
    stackFile: null,
    live: null,
    connect: connectorFor(inv),
    ssh: { timeoutMs: 10_000 },
    log: (l) => {
      log.push(l);
      if (process.env.TANDEM_TEST_VERBOSE) process.stderr.write(`${l}\n`);
    },
  };
}

/** Master and mirror hold the same tree (the model compare, on this machine's view of the lab data dirs). */
function sameTree(inv: Inventory, mirror: string): string[] {
  const a = snapshot(dataOf(inv, 'ny'), notTmp);
  const b = snapshot(dataOf(inv, mirror), notTmp);
  const out: string[] = [];
  for (const [k, v] of a) if (JSON.stringify(b.get(k)) !== JSON.stringify(v)) out.push(`${k}: ${b.has(k) ? 'differs' : 'missing'}`);
  for (const k of b.keys()) if (!a.has(k)) out.push(`${k}: extra`);
  return out;
}

describeLab('mirror verify and rebuild (lab rp1)', () => {
  const lab = useFoLab(C, SITES);
  jest.setTimeout(240_000);

  beforeAll(async () => {
    const inv = lab.inv();
    randomTree(dataOf(inv, 'ny'), new Rng(4242), 120);
    await waitUntil('the tree on every mirror', async () => sameTree(inv, 'chi').length === 0 && sameTree(inv, 'ams').length === 0, 60_000, 250);
  }, 120_000);

  it('finds an equal mirror equal, through a relay too, and changes nothing', async () => {
    const inv = lab.inv();
    const before = snapshot(dataOf(inv, 'chi'));
    const [chi, ams] = await Promise.all([verifyMirror(ctxFor(inv), 'chi'), verifyMirror(ctxFor(inv), 'ams')]);
    expect([chi.source, chi.equal, chi.differences]).toEqual(['ny', true, []]);
    expect([ams.source, ams.equal, ams.differences]).toEqual(['chi', true, []]);
    // Every entry of the tree was compared (the .tmp files are excluded).
    const model = snapshot(dataOf(inv, 'ny'), notTmp);
    expect(chi.filesCompared).toBe(model.size + 1); // rsync counts the root directory too
    expect(snapshot(dataOf(inv, 'chi'))).toEqual(before);
  });

  const seeds = [...FIXED_SEEDS, Math.floor(Math.random() * 1e9)];
  it.each(seeds)('lists exactly the corrupted paths (seed %i), then rebuild makes the mirror equal', async (seed) => {
    const inv = lab.inv();
    const f = fleet(inv);
    // The feed paused: the agent's own online verify would otherwise repair the corruption under the test.
    await mirrorFleet(f, 'pause', ['chi']);
    let cs: Corruption[];
    let v: MirrorVerify;
    try {
      cs = corrupt(dataOf(inv, 'chi'), new Rng(seed), 8);
      v = await verifyMirror(ctxFor(inv), 'chi');
    } finally {
      await mirrorFleet(f, 'resume', ['chi']);
    }
    const why = `seed ${seed}: corruptions ${JSON.stringify(cs)}`;
    expect({ why, got: v.differences }).toEqual({ why, got: expected(cs) });
    expect(v.equal).toBe(expected(cs).length === 0);
    const r = await rebuildMirror(ctxFor(inv), 'chi');
    expect({ why, verify: r.verify.differences, equal: r.verify.equal }).toEqual({ why, verify: [], equal: true });
    expect(sameTree(inv, 'chi')).toEqual([]);
  });

  it('rebuilds from the command line while the master keeps serving; nothing written is lost', async () => {
    const inv = lab.inv();
    const ny = inv.hosts.find((h) => h.site === 'ny')!;
    const start = await sh(C, 'ny', `node ${WRITER} start ${DATA} ${PORT}`);
    expect(start.code).toBe(0);
    const pid = (await sh(C, 'ny', 'cat /run/fo-writer.pid')).stdout.trim();
    try {
      // Damage beyond what the stream would fix by itself soon: a whole directory, a same-size flip.
      const chi = dataOf(inv, 'chi');
      const dir = fs.readdirSync(chi).find((n) => n.startsWith('d') && fs.lstatSync(path.join(chi, n)).isDirectory())!;
      fs.rmSync(path.join(chi, dir), { recursive: true });
      corrupt(chi, new Rng(7), 4);
      let down = 0;
      let polls = 0;
      let stop = false;
      const watch = (async () => {
        while (!stop) {
          polls++;
          if (!(await answers(ny.address, PORT, 1000))) down++;
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const r = await cliJson<{ verify: MirrorVerify; bytesSent: number }>(['mirror', 'rebuild', lab.file(), '--site', 'chi', '--json'], 180_000).finally(() => void (stop = true));
      await watch;
      expect({ code: r.code, equal: r.json.verify.equal, diffs: r.json.verify.differences }).toEqual({ code: 0, equal: true, diffs: [] });
      expect(r.stderr).toMatch(/rebuild chi: copying what differs from ny .*nice 10, ionice idle/);
      expect(r.json.bytesSent).toBeGreaterThan(0);
      // The service answered every time it was asked, and is the same process.
      expect({ polls: polls > 5, down }).toEqual({ polls: true, down: 0 });
      expect((await sh(C, 'ny', 'cat /run/fo-writer.pid')).stdout.trim()).toBe(pid);
    } finally {
      await sh(C, 'ny', `node ${WRITER} stop`);
    }
    // The mirror holds every record the master wrote: once in sync, the same sequence.
    await waitUntil('chi equal to ny after the writer stopped', async () => sameTree(inv, 'chi').length === 0, 60_000, 250);
    const [m, c] = await Promise.all([records(C, 'ny'), records(C, 'chi')]);
    expect(m.seq.length).toBeGreaterThan(100);
    expect(firstBreak(m.seq)).toBeNull();
    expect(c.seq).toEqual(m.seq);
  });

  it('refuses the master and unknown sites by name, changing nothing', async () => {
    const inv = lab.inv();
    await expect(verifyMirror(ctxFor(inv), 'ny')).rejects.toThrow(/--site ny: ny is the master now.*name a mirror \(chi, ams\)/);
    await expect(rebuildMirror(ctxFor(inv), 'nope')).rejects.toThrow(/--site nope: no such site in stack "rp1"; mirrors: chi, ams/);
    const r = await cli(['mirror', 'verify', lab.file(), '--site', 'ny'], 60_000);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
    expect(r.stderr).toMatch(/mirror verify: --site ny: ny is the master now.*nothing was changed/);
  });
});
