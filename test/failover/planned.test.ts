/**
 * Planned switchover and failback on real lab hosts, with the record writer running: no record is
 * lost (every sequence number checked on the new master), the VIP and the service move, the old
 * master becomes a mirror of the new one, the live layout is recorded in the (temporary) stack
 * file, the journal and `tandem timeline` show the steps; then failback restores the original
 * layout. Bad input changes nothing.
 */
import * as fs from 'node:fs';
import { labFault } from '../../scripts/lab/fault';
import { describeLab } from '../support/lab';
import { cli, cliJson, configEpochs, firstBreak, lastSeq, liveOf, records, sh, useFoLab, vipHolder, waitFor } from './helpers';
import type { JournalRecord } from '../../scripts/failover/journal';

const C = 'fo1';
const lab = useFoLab(C, [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope, failover: warm, relayVia: chi }',
]);
const SITES = ['ny', 'chi', 'ams'];

describeLab('planned switchover and failback (fo1)', () => {
  it('bad input changes nothing: unknown site, --to the master, a stack whose lab is down, no stack file', async () => {
    const before = fs.readFileSync(lab.file(), 'utf8');
    const epochs = await configEpochs(C, SITES);
    const a = await cli(['failover', lab.file(), '--to', 'nosuch', '--planned', '--yes']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--to nosuch: no such site in stack "fo1"; sites: ny, chi, ams/);
    const b = await cli(['failover', lab.file(), '--to', 'ny', '--planned', '--yes']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--to ny: ny is the current master already/);
    const c = await cli(['failover', '--inventory', lab.invFile, '--to', 'chi', '--planned', '--yes']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/records the live layout .* in the stack file: name it too/);
    // The master is up: an unplanned failover is refused (use --planned).
    const d = await cli(['failover', lab.file(), '--to', 'chi', '--yes']);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/master ny is reachable and its agent is running; .*--planned/);
    const nolab = lab.file().replace(/Pulumi\.fo1\.yaml$/, 'Pulumi.fo1-nolab.yaml');
    fs.writeFileSync(nolab, before.replace('tandem:customer: fo1', 'tandem:customer: fo1-nolab'));
    const e = await cli(['failover', nolab, '--to', 'chi', '--planned', '--yes']);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/no lab of it is up|lab "fo1-nolab" is not up/);
    expect(fs.readFileSync(lab.file(), 'utf8')).toBe(before);
    expect(await configEpochs(C, SITES)).toEqual(epochs);
    expect(vipHolder(C)).toBe('ny');
  }, 120_000);

  it('planned switchover ny -> chi loses no record; ny becomes a mirror of chi; failback restores the layout', async () => {
    const start = await cli(['service', 'start', lab.file(), '--json']);
    expect({ code: start.code, stderr: start.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(JSON.parse(start.stdout)).toMatchObject({ master: 'ny', answersOnMaster: true, answersOnVip: true });
    await waitFor('records on ny', async () => ((await lastSeq(C, 'ny')) > 3000 ? true : undefined), 30_000, 200);

    const fo = await cliJson<JournalRecord & { live: unknown }>(['failover', lab.file(), '--to', 'chi', '--planned', '--yes', '--json']);
    if (fo.code !== 0) throw new Error(`failover exit ${fo.code}: ${fo.stderr}`);
    expect(fo.json).toMatchObject({ ok: true, kind: 'planned', from: 'ny', to: 'chi', epoch: 2 });
    process.stderr.write(`fo1 planned switchover: RTO ${fo.json.rtoMs} ms (command ${fo.ms} ms)\n${fo.stderr}\n`);
    expect(fo.json.rtoMs).not.toBeNull();
    expect(fo.stderr).toMatch(/commit .*Pulumi\.fo1\.yaml/);
    expect(liveOf(lab.file())).toMatchObject({ epoch: 2, master: 'chi', fenced: [] });
    expect(vipHolder(C)).toBe('chi');

    // Zero loss: the writer on chi went on from the last record ny wrote; 1..n with no gap.
    const nyLast = await lastSeq(C, 'ny');
    await waitFor('records on chi past ny', async () => ((await lastSeq(C, 'chi')) > nyLast + 1000 ? true : undefined), 30_000, 200);
    const onChi = await records(C, 'chi');
    expect(firstBreak(onChi.seq)).toBeNull();
    expect(onChi.seq.length).toBeGreaterThan(nyLast);

    // chi is the master now for service/status; ny (and ams) are fed by chi.
    const st = await cliJson<{ master: string; answersOnVip: boolean }>(['service', 'status', lab.file(), '--json']);
    expect(st.json).toMatchObject({ master: 'chi', answersOnVip: true });
    const refuse = await cli(['service', 'stop', lab.file(), '--site', 'ny']);
    expect(refuse.code).toBe(2);
    expect(refuse.stderr).toMatch(/ny is a mirror; the service runs only on the master, which is chi now/);
    for (const s of ['ny', 'ams']) {
      await waitFor(`${s} receives chi's new records`, async () => ((await lastSeq(C, s)) > nyLast + 500 ? true : undefined), 60_000, 250);
    }
    expect(await configEpochs(C, SITES)).toEqual({ ny: 2, chi: 2, ams: 2 });

    const tl = await cliJson<JournalRecord[]>(['timeline', lab.file(), '--json']);
    expect(tl.json.at(-1)).toMatchObject({ kind: 'planned', from: 'ny', to: 'chi' });
    expect(tl.json.at(-1)!.steps.map((s) => s.name)).toEqual(expect.arrayContaining([expect.stringMatching(/drain and verify/), expect.stringMatching(/move the service address/)]));
    const text = await cli(['timeline', lab.file()]);
    expect(text.stdout).toMatch(/PLANNED ny -> chi {2}epoch 2 {2}OK {2}RTO/);

    // Failback: ny is an in-sync mirror again; the original layout comes back, still no loss.
    const fb = await cliJson<JournalRecord>(['failback', lab.file(), '--yes', '--json']);
    if (fb.code !== 0) throw new Error(`failback exit ${fb.code}: ${fb.stderr}`);
    process.stderr.write(`fo1 failback: RTO ${fb.json.rtoMs} ms\n`);
    expect(fb.json).toMatchObject({ ok: true, kind: 'failback', from: 'chi', to: 'ny', epoch: 3 });
    expect(liveOf(lab.file())).toMatchObject({ epoch: 3, master: 'ny' });
    expect(vipHolder(C)).toBe('ny');
    const chiLast = await lastSeq(C, 'chi');
    await waitFor('records on ny past chi', async () => ((await lastSeq(C, 'ny')) > chiLast + 500 ? true : undefined), 30_000, 200);
    expect(firstBreak((await records(C, 'ny')).seq)).toBeNull();
    // ams relays through chi again, as the stack file says.
    const amsCfg = JSON.parse((await sh(C, 'ams', 'cat /var/lib/tandem/config.json')).stdout);
    expect(amsCfg).toMatchObject({ feedFrom: 'chi', epoch: 3, role: 'mirror' });
    await waitFor('ams receives ny records through chi', async () => ((await lastSeq(C, 'ams')) > chiLast + 200 ? true : undefined), 60_000, 250);
    await cli(['service', 'stop', lab.file()]);
  }, 300_000);

  it('a master that reboots unable to reach anyone stays fenced and says so; once a site confirms its epoch it feeds again', async () => {
    // ny is master again (epoch 3) after the failback; `service start` authorized epoch queries everywhere.
    expect((await cli(['service', 'start', lab.file()])).code).toBe(0);
    await cli(['service', 'stop', lab.file()]);
    await labFault(C, 'ny', 'poweroff');
    await labFault(C, 'ny', 'isolate');
    await labFault(C, 'ny', 'poweron'); // boots with its link down: nobody to ask
    const fenced = await waitFor(
      'ny fenced',
      async () => {
        const st = JSON.parse((await sh(C, 'ny', 'node /var/lib/tandem/agent.js status --json')).stdout) as { lastError: string | null; fence?: { fenced: boolean } };
        // First "waiting for the boot fence check", then, once it asked everyone, "reached no other site".
        return st.fence?.fenced && /reached no other site/.test(st.lastError ?? '') ? st : undefined;
      },
      60_000,
      250,
    );
    expect(fenced.lastError).toMatch(/fenced: reached no other site/);
    // Fenced: a change made on ny does not go anywhere.
    await sh(C, 'ny', 'echo while-fenced > /srv/trading/fence-probe');
    await labFault(C, 'ny', 'heal');
    // The boot fence asks again; chi and ams have no higher epoch: confirmed, ny feeds again.
    await waitFor(
      'ny confirmed',
      async () => {
        const r = await sh(C, 'ny', 'cat /run/tandem-fence/state.json');
        return /"fenced":\s*false/.test(r.stdout) && /confirmed by/.test(r.stdout) ? true : undefined;
      },
      60_000,
      250,
    );
    await waitFor('the change reaches chi', async () => ((await sh(C, 'chi', 'cat /srv/trading/fence-probe 2>/dev/null')).stdout.trim() === 'while-fenced' ? true : undefined), 60_000, 250);
    expect(liveOf(lab.file())).toMatchObject({ master: 'ny', epoch: 3 });
  }, 240_000);
});
