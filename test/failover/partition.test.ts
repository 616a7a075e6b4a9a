/**
 * Split brain after a healed network partition, on real lab hosts with the record writer running.
 * The master `ny` is cut off for real (lab fault `isolate`: its link is down, no site and not the
 * operator reach it) while it keeps serving; an unplanned failover promotes `chi`; then the
 * partition heals. The old master must learn of the higher epoch by itself (its fence process asks
 * the other sites every few seconds while it is master), stop serving within a bounded time, never
 * push to any mirror, keep its writes made after the split in a dated folder, and end as an
 * in-sync mirror of the new master. The model every record is checked against is the writers'
 * own sequence: each writer numbers its records 1..n in one file, with its write time, so a record
 * of the old master's that reached another site would show as a (seq, time) pair the new master
 * never wrote.
 * Order variants: the partition heals before anyone failed over (nothing changes: the master
 * serves on); and, after the failover, the old master returns while the new master does not
 * answer (hung) but another mirror does: it stops serving at once, and demotes once the new
 * master answers.
 */
import type { JournalRecord } from '../../scripts/failover/journal';
import { answers } from '../../scripts/failover/hosts';
import { labFault } from '../../scripts/lab/fault';
import { describeLab } from '../support/lab';
import { cli, cliJson, firstBreak, lastSeq, liveOf, records, sh, useFoLab, vipHolder, waitFor, PORT } from './helpers';

const C = 'fo4';
const lab = useFoLab(C, [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope, failover: warm }',
]);

const addr = (site: string) => lab.inv().hosts.find((h) => h.site === site)!.address;
const runFence = async (site: string) => JSON.parse((await sh(C, site, 'cat /run/tandem-fence/state.json 2>/dev/null || echo null')).stdout) as { fenced: boolean; reason: string } | null;
const config = async (site: string) => JSON.parse((await sh(C, site, 'cat /var/lib/tandem/config.json')).stdout) as { role: string; epoch: number; feedFrom: string | null };
const pair = (seq: number, ms: number) => `${seq} ${ms}`;

/** What went wrong on ny, for a failed wait. */
async function nyDiag(): Promise<string> {
  const d = await sh(C, 'ny', 'cat /run/tandem-fence/state.json; tail -n 15 /var/lib/tandem/log/fence.log; cat /var/lib/tandem/config.json | head -c 400');
  return `${d.stdout}${d.stderr}`;
}

describeLab('split brain after a healed partition (fo4)', () => {
  let failoverAt = 0;
  let healAt = 0;

  it('a partition that heals before any failover changes nothing: the master serves on and is confirmed again', async () => {
    const s = await cli(['service', 'start', lab.file()]);
    expect(s.code).toBe(0);
    await waitFor('records on ny', async () => ((await lastSeq(C, 'ny')) > 3000 ? true : undefined), 30_000, 200);
    await waitFor('ny fence watching', async () => ((await runFence('ny'))?.fenced === false ? true : undefined), 20_000, 200);

    await labFault(C, 'ny', 'isolate');
    try {
      // Cut off from every site, it cannot know whether it was replaced: it serves on, and says so.
      const st = await waitFor(
        'ny notices it reaches nobody',
        async () => {
          const f = await runFence('ny');
          return f && /serving on: reached no other site/.test(f.reason) ? f : undefined;
        },
        30_000,
        250,
      ).catch(async (e) => {
        throw new Error(`${(e as Error).message}\n${await nyDiag()}`);
      });
      expect(st.fenced).toBe(false);
      const a = await lastSeq(C, 'ny');
      await waitFor('ny still writing while isolated', async () => ((await lastSeq(C, 'ny')) > a + 500 ? true : undefined), 10_000, 100);
    } finally {
      await labFault(C, 'ny', 'heal');
    }
    await waitFor(
      'ny confirmed again',
      async () => {
        const f = await runFence('ny');
        return f && !f.fenced && /confirmed by/.test(f.reason) ? true : undefined;
      },
      30_000,
      250,
    );
    expect(await config('ny')).toMatchObject({ role: 'master', epoch: 1 });
    expect(await answers(addr('ny'), PORT, 1000)).toBe(true);
    // The mirrors catch up with what it wrote while cut off: a partition is not a failover.
    const n = await lastSeq(C, 'ny');
    await waitFor('chi caught up after the heal', async () => ((await lastSeq(C, 'chi')) >= n ? true : undefined), 60_000, 250);
  }, 180_000);

  it('isolated master, failover to chi, heal: ny stops serving, never pushes, keeps its split writes aside, ends an in-sync mirror of chi', async () => {
    await labFault(C, 'ny', 'isolate');
    failoverAt = Date.now();
    const fo = await cliJson<JournalRecord>(['failover', lab.file(), '--to', 'chi', '--yes', '--json', '--fault-at', String(failoverAt)]);
    if (fo.code !== 0) throw new Error(`failover exit ${fo.code}: ${fo.stderr}`);
    expect(fo.json).toMatchObject({ ok: true, kind: 'unplanned', from: 'ny', to: 'chi', epoch: 2 });
    expect(liveOf(lab.file())).toMatchObject({ epoch: 2, master: 'chi', fenced: ['ny'] });
    expect(vipHolder(C)).toBe('chi');
    // An inventory alone (the lab's, made before the failover: it names ny master) is checked with
    // the hosts: they say chi is master at epoch 2, so the service is not started by hand on ny.
    const stale = await cli(['service', 'start', '--inventory', lab.invFile]);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/the hosts say chi is master at epoch 2, not ny; .*name the stack file/);
    // ny, cut off, serves on and writes records the new master never sees (the split).
    const atFailover = await lastSeq(C, 'ny');
    await waitFor('ny writing after the split', async () => ((await lastSeq(C, 'ny')) > atFailover + 1000 ? true : undefined), 15_000, 100);
    await waitFor('records on chi', async () => ((await lastSeq(C, 'chi')) > 0 ? true : undefined), 15_000, 100);

    await labFault(C, 'ny', 'heal');
    healAt = Date.now();
    // Within a bounded time (its fence asks every 3 s; stepping down stops the service first).
    const stoppedAt = await waitFor('ny stops answering on its health port', async () => ((await answers(addr('ny'), PORT, 300)) ? undefined : Date.now()), 30_000, 100).catch(async (e) => {
      throw new Error(`${(e as Error).message}\n${await nyDiag()}`);
    });
    process.stderr.write(`fo4: ny stopped serving ${stoppedAt - healAt} ms after the heal\n`);
    const cfg = await waitFor(
      'ny demoted to a mirror of chi',
      async () => {
        const c = await config('ny');
        return c.role === 'mirror' ? c : undefined;
      },
      30_000,
      200,
    );
    expect(cfg).toMatchObject({ role: 'mirror', feedFrom: 'chi', epoch: 2 });
    expect(vipHolder(C)).toBe('chi');
    expect(await answers(addr('chi'), PORT, 1000)).toBe(true);

    // Its writes after the split: kept aside in a dated folder, named by status.
    const st = JSON.parse((await sh(C, 'ny', 'node /var/lib/tandem/agent.js status --json')).stdout) as { fence: { splitBrainDir: string; reason: string } | null; lastError: string | null };
    expect(st.fence?.splitBrainDir).toMatch(/^\/var\/lib\/tandem\/split-brain\/\d{4}-\d\d-\d\dT/);
    expect(st.fence?.reason).toMatch(/demoted while running: chi is master at epoch 2/);
    expect(st.lastError).toMatch(/split-brain writes kept in \/var\/lib\/tandem\/split-brain\//);
    const keptText = (await sh(C, 'ny', `cat ${st.fence!.splitBrainDir}/records.log`, 60_000)).stdout;
    const kept = keptText
      .split('\n')
      .map((l) => /^(\d+) (\d+)$/.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => ({ seq: Number(m[1]), ms: Number(m[2]) }));
    expect(firstBreak(kept.map((r) => r.seq))).toBeNull(); // ny's own sequence, whole
    const postSplit = kept.filter((r) => r.ms > failoverAt);
    expect(postSplit.length).toBeGreaterThan(1000);

    // ny resyncs from chi (its own records replaced by chi's); then the writer stops and every
    // site must hold exactly chi's records.
    const chiFirst = (await records(C, 'chi')).ms;
    await waitFor(
      "ny holds chi's records",
      async () => {
        const r = await records(C, 'ny');
        return r.ms.length >= chiFirst.length && r.ms[chiFirst.length - 1] === chiFirst[chiFirst.length - 1] ? true : undefined;
      },
      60_000,
      500,
    );
    expect((await cli(['service', 'stop', lab.file()])).code).toBe(0);
    const chi = await records(C, 'chi');
    expect(firstBreak(chi.seq)).toBeNull();
    const chiPairs = new Set(chi.seq.map((s, i) => pair(s, chi.ms[i])));
    // Not one of ny's post-split records ever reached the new master.
    const leaked = postSplit.filter((r) => chiPairs.has(pair(r.seq, r.ms)));
    if (leaked.length) {
      const d = await sh(C, 'chi', 'cat /var/lib/tandem/.ssh/authorized_keys; grep -h "from" /var/lib/tandem/log/receiver.log* | tail -n 20; cat /var/lib/tandem/state/receiver.json');
      const j = chi.seq.indexOf(leaked[0].seq);
      throw new Error(
        `${leaked.length} of ny's post-split records are on chi: seq ${leaked[0].seq}..${leaked[leaked.length - 1].seq}, ms ${leaked[0].ms}..${leaked[leaked.length - 1].ms}; failoverAt ${failoverAt} healAt ${healAt}; ` +
          `chi around: ${JSON.stringify(chi.seq.slice(j - 3, j + 3).map((x, k) => pair(x, chi.ms[j - 3 + k])))}; ny kept around: ${JSON.stringify(kept.slice(kept.findIndex((r) => r.seq === leaked[0].seq) - 3).slice(0, 6))}\n${d.stdout}`,
      );
    }
    for (const site of ['ams', 'ny']) {
      const got = await waitFor(
        `${site} holds exactly chi's records`,
        async () => {
          const r = await records(C, site);
          return r.seq.length === chi.seq.length && r.ms[r.ms.length - 1] === chi.ms[chi.ms.length - 1] ? r : undefined;
        },
        60_000,
        500,
      );
      // Every record checked: the same (seq, write time) at every position.
      const diff = got.seq.findIndex((s, i) => s !== chi.seq[i] || got.ms[i] !== chi.ms[i]);
      expect(diff).toBe(-1);
    }
    // No receiver accepted ny's stream after the failover: no "link up" from ny since then.
    for (const site of ['chi', 'ams']) {
      const log = (await sh(C, site, 'cat /var/lib/tandem/log/receiver.log* 2>/dev/null | grep "receiver: link up" || true')).stdout;
      const fromNy = log.split('\n').filter((l) => /"from":"ny"/.test(l) && Date.parse(l.split(' ')[0]) > failoverAt);
      expect(fromNy).toEqual([]);
    }
    // And it ends in sync: status sees ny as a mirror of chi, in sync.
    const status = await cliJson<{ hosts: { site: string; role: string; inSync?: boolean | null }[] }>(['status', lab.file(), '--json']);
    expect(status.json.hosts.find((h) => h.site === 'ny')).toMatchObject({ role: 'mirror' });
    await waitFor('ny in sync', async () => ((await sh(C, 'ny', 'node /var/lib/tandem/agent.js status --json')).stdout.includes('"inSync": true') ? true : undefined), 30_000, 250);

    // An inventory alone (the lab's, from before the failover: it names ny master) must not write
    // its old roles onto the hosts: mirror start and agent install ask them first and change nothing.
    const configs = async () => Object.fromEntries(await Promise.all(['ny', 'chi', 'ams'].map(async (s) => [s, (await sh(C, s, 'cat /var/lib/tandem/config.json')).stdout] as const)));
    const before = await configs();
    const ms = await cli(['mirror', 'start', '--inventory', lab.invFile]);
    expect(ms.code).toBe(1);
    expect(ms.stderr).toMatch(/mirror start: nothing changed; the hosts say chi is master at epoch 2, not ny \(ny: mirror, epoch 2\); .*name the stack file/);
    const ai = await cli(['agent', 'install', '--inventory', lab.invFile, '--json']);
    expect(ai.code).toBe(1);
    const hosts = (JSON.parse(ai.stdout) as { hosts: { site: string; outcome: string; error: string | null }[] }).hosts;
    expect(hosts.map((h) => h.outcome)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(hosts[0].error).toMatch(/not touched: the hosts say chi is master at epoch 2, not ny/);
    expect(await configs()).toEqual(before);
    expect(await config('ny')).toMatchObject({ role: 'mirror', feedFrom: 'chi', epoch: 2 });
    // The same commands with the stack file (its tandem:live names chi) go ahead.
    expect((await cli(['mirror', 'start', lab.file()])).code).toBe(0);
    expect(await config('chi')).toMatchObject({ role: 'master', epoch: 2 });
  }, 300_000);
});
