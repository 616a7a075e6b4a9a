/**
 * The agent on real lab hosts (network namespaces + their own sshd): installed and started by
 * the ops side's installer (scripts/hosts/install) and `mirror start`, then driven here over
 * real SSH with the restricted keys, real rsync/rrsync, real kills and lab faults.
 * The lab itself comes from the one harness, test/support/lab.ts (gated by describeLab).
 */
import * as fs from 'fs';
import * as path from 'path';
import { hostExec, labFault } from '../../scripts/lab';
import { installFleet } from '../../scripts/hosts/install';
import { mirrorFleet } from '../../scripts/hosts/mirror';
import { agentBundle } from '../../scripts/hosts/bundle';
import { content, torn, waitFor } from './helpers';
import { agentStatusOn, describeLab, fleet, useLab, waitUntil as waitForAsync } from '../support/lab';

jest.setTimeout(120_000);

const C = 'agtest-sync';
const SITES = [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope, relayVia: chi, failover: warm }',
  '{ name: ldn, role: mirror, provider: aws, region: eu-west-2, failover: cold, lab: { diskMb: 16 } }',
];
const MIRRORS = ['chi', 'ams', 'ldn'];

describeLab('agent on lab hosts over real ssh', () => {
  const lab = useLab(C, SITES);
  const data = (site: string): string => lab.inv().hosts.find((h) => h.site === site)!.labDataDir!;
  const hostStatus = (site: string) => agentStatusOn(C, site);
  const same = (a: string, b: string, file: string): boolean => {
    try {
      return fs.readFileSync(path.join(data(a), file), 'latin1') === fs.readFileSync(path.join(data(b), file), 'latin1');
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    const o = fleet(lab.inv());
    const res = await installFleet(o, 'install', agentBundle());
    expect(res.map((x) => x.error)).toEqual([null, null, null, null]);
    fs.writeFileSync(path.join(data('ny'), 'seed.txt'), 'seed');
    const res2 = await mirrorFleet(o, 'start', []);
    expect(res2.map((x) => x.error)).toEqual([null, null, null, null]);
    for (const s of MIRRORS) await waitForAsync(`${s} in-sync`, async () => (await hostStatus(s)).inSync, 30_000);
  }, 180_000);

  it('a change reaches every mirror, through the relay too, in well under a second', async () => {
    const times: Record<string, number[]> = { chi: [], ams: [], ldn: [] };
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      fs.writeFileSync(path.join(data('ny'), 'hb.tmp'), String(t0));
      fs.renameSync(path.join(data('ny'), 'hb.tmp'), path.join(data('ny'), 'hb'));
      await Promise.all(
        MIRRORS.map(async (s) => {
          await waitFor(`hb on ${s}`, () => same('ny', s, 'hb'), 5000, 2);
          times[s].push(Date.now() - t0);
        }),
      );
    }
    const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    process.stderr.write(`lab propagation ms p50: chi ${p50(times.chi)}, ams (via chi) ${p50(times.ams)}, ldn ${p50(times.ldn)}\n`);
    expect(p50(times.chi)).toBeLessThan(500);
    expect(p50(times.ams)).toBeLessThan(1000);
    expect(fs.existsSync(path.join(data('chi'), 'hb.tmp'))).toBe(false);
    const ny = await hostStatus('ny');
    expect(ny.children.map((c) => c.site).sort()).toEqual(['chi', 'ldn']);
  });

  it('a mirror whose receiver is killed -9 mid-stream never shows a torn file and catches up (and so does its relayed child)', async () => {
    const files = Array.from({ length: 10 }, (_, i) => `k${i}`);
    let stop = false;
    let writes = 0;
    let kills = 0;
    const tornSeen: string[] = [];
    const writer = (async () => {
      while (!stop) {
        const f = files[writes % files.length];
        const tmp = path.join(data('ny'), `${f}.tmp`);
        fs.writeFileSync(tmp, content(1 + Math.floor(Math.random() * 200_000), 'bcdefghij'[writes % 9]));
        fs.renameSync(tmp, path.join(data('ny'), f));
        writes++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const checker = (async () => {
      while (!stop) {
        for (const f of files) {
          try {
            const s = fs.readFileSync(path.join(data('chi'), f), 'latin1');
            if (torn(s)) tornSeen.push(`${f}: ${s.length} bytes`);
          } catch {
            /* not there yet */
          }
        }
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    const killer = (async () => {
      while (!stop) {
        await new Promise((r) => setTimeout(r, 700));
        const r = await hostExec(C, 'chi', ['sh', '-c', 'p=$(cat /var/lib/tandem/state/receiver.pid) && kill -9 $p && echo killed']);
        if (r.stdout.includes('killed')) kills++;
      }
    })();
    await new Promise((r) => setTimeout(r, 5000));
    stop = true;
    await Promise.all([writer, checker, killer]);
    expect(tornSeen).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(3);
    for (const s of ['chi', 'ams', 'ldn']) await waitFor(`${s} caught up`, () => files.every((f) => same('ny', s, f)), 30_000, 50);
    await waitForAsync('chi and ams in-sync again', async () => (await hostStatus('chi')).inSync && (await hostStatus('ams')).inSync, 30_000);
  });

  it('a mirror out of disk turns DEGRADED while the others stay current, and recovers', async () => {
    await labFault(C, 'ldn', 'diskfull');
    try {
      fs.writeFileSync(path.join(data('ny'), 'after-full'), 'x'.repeat(100_000));
      await waitFor('chi and ams current', () => same('ny', 'chi', 'after-full') && same('ny', 'ams', 'after-full'), 10_000);
      const ny = await waitForAsync(
        'master reports ldn failing',
        async () => {
          const s = await hostStatus('ny');
          return s.health === 'degraded' && s.children.find((c) => c.site === 'ldn')?.state === 'error' ? s : null;
        },
        20_000,
      );
      expect(ny.children.find((c) => c.site === 'ldn')!.lastError).toMatch(/ENOSPC|No space/);
      // chi stays in sync while ldn fails. Not read at the instant ldn turns: the test before
      // killed chi's receiver again and again, and the master's link to chi may still be
      // finishing its last reconcile then (CI saw 'catching-up' once).
      await waitForAsync(
        'master reports chi in sync while ldn fails',
        async () => {
          const s = await hostStatus('ny');
          const st = (site: string) => s.children.find((c) => c.site === site)?.state;
          return st('chi') === 'in-sync' && st('ldn') === 'error' ? s : null;
        },
        15_000,
      );
      const ldn = await hostStatus('ldn');
      expect(ldn.health).toBe('degraded');
      expect(ldn.lastError).toMatch(/ENOSPC|No space/);
      fs.writeFileSync(path.join(data('ny'), 'still-flowing'), 'y');
      await waitFor('others keep flowing', () => same('ny', 'chi', 'still-flowing') && same('ny', 'ams', 'still-flowing'), 10_000);
    } finally {
      await labFault(C, 'ldn', 'diskfree');
    }
    await waitFor('ldn catches up after space returns', () => same('ny', 'ldn', 'after-full') && same('ny', 'ldn', 'still-flowing'), 30_000, 50);
    await waitForAsync('master healthy', async () => (await hostStatus('ny')).health === 'ok', 30_000);
  });

  it('a cold mirror powered off misses changes, then syncs when it boots and only then reports in-sync', async () => {
    await labFault(C, 'ldn', 'poweroff');
    fs.writeFileSync(path.join(data('ny'), 'while-off'), 'z'.repeat(50_000));
    await waitForAsync(
      'master sees ldn down',
      async () => {
        const c = (await hostStatus('ny')).children.find((x) => x.site === 'ldn')!;
        return c.state === 'down' || c.state === 'connecting' ? c : null;
      },
      30_000,
    );
    expect(same('ny', 'ldn', 'while-off')).toBe(false);
    await labFault(C, 'ldn', 'poweron');
    await waitFor('ldn synced after boot', () => same('ny', 'ldn', 'while-off'), 40_000, 50);
    await waitForAsync('ldn in-sync', async () => (await hostStatus('ldn')).inSync, 30_000);
  });
});
