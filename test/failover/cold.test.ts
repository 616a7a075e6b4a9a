/**
 * Cold failover on real lab hosts: the master crashes while the writer runs; the operator names
 * the cold mirror (powered off since its last sync); tandem powers it on through the lab driver,
 * waits for SSH with its pinned key, catches it up from the fresher warm survivor first (so the
 * choice adds no loss), promotes it, moves the VIP and starts the service. Then the cold refresh
 * cycle on the warm-turned-cold layout is not needed; `tandem mirror refresh` is tested on ams.
 */
import type { JournalRecord } from '../../scripts/failover/journal';
import { labFault } from '../../scripts/lab/fault';
import { readState } from '../../scripts/lab/state';
import { hostExec } from '../../scripts/lab';
import { describeLab } from '../support/lab';
import { cli, cliJson, firstBreak, lastSeq, liveOf, records, useFoLab, vipHolder, waitFor } from './helpers';

const C = 'fo3';
const lab = useFoLab(
  C,
  [
    '{ name: ny, role: master, provider: aws, region: us-east-1 }',
    '{ name: ams, role: mirror, provider: azure, region: westeurope, failover: warm }',
    '{ name: ldn, role: mirror, provider: aws, region: eu-west-2, failover: cold, coldRefreshH: 24 }',
  ],
  { coldOff: ['ldn'] },
);

describeLab('cold failover and cold refresh (fo3)', () => {
  it('a powered-off target that is unreachable and not cold is refused; nothing changes', async () => {
    await labFault(C, 'ams', 'isolate');
    try {
      await labFault(C, 'ny', 'crash');
      const r = await cli(['failover', lab.file(), '--to', 'ams', '--yes']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--to ams: ams is unreachable .* not a cold mirror tandem could power on/);
      expect(liveOf(lab.file())).toBeNull();
      expect(vipHolder(C)).toBe('ny');
    } finally {
      await labFault(C, 'ams', 'heal');
      await labFault(C, 'ny', 'poweron');
    }
  }, 120_000);

  it('crash -> --to the cold mirror: powered on, caught up from the warm survivor, promoted', async () => {
    // The mirror link to ams comes back after the heal; the writer runs on ny.
    expect((await cli(['service', 'start', lab.file()])).code).toBe(0);
    await waitFor('records on ams', async () => ((await lastSeq(C, 'ams')) > 3000 ? true : undefined), 60_000, 250);
    const faultAt = Date.now();
    await labFault(C, 'ny', 'crash');
    const amsLast = await waitFor(
      'ams settled',
      async () => {
        const a = await lastSeq(C, 'ams');
        await new Promise((r) => setTimeout(r, 300));
        return (await lastSeq(C, 'ams')) === a ? a : undefined;
      },
      10_000,
      10,
    );
    const fo = await cliJson<JournalRecord>(['failover', lab.file(), '--to', 'ldn', '--yes', '--json', '--fault-at', String(faultAt)], 180_000);
    if (fo.code !== 0) throw new Error(`failover exit ${fo.code}: ${fo.stderr}`);
    process.stderr.write(`fo3 cold failover: crash -> VIP ${fo.json.rtoMs} ms\n${fo.stderr}\n`);
    expect(fo.json).toMatchObject({ ok: true, kind: 'unplanned', from: 'ny', to: 'ldn', epoch: 2 });
    const names = fo.json.steps.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['power on ldn (cold)', 'wait for SSH on ldn', 'hold ldn on', 'catch up ldn from ams (fresher survivor)']));
    // ldn has a refresh schedule: held on, so its refresh-off (where systemd runs it) cannot power it off mid-failover.
    const hold = JSON.parse((await hostExec(C, 'ldn', ['cat', '/var/lib/tandem/state/hold-power.json'], { timeoutMs: 10_000 })).stdout) as { until: number; by: string };
    expect(hold.until).toBeGreaterThan(Date.now() + 3_000_000);
    expect(hold.by).toBe('unplanned failover to ldn');
    expect(readState(C)!.hosts.ldn.poweredOff).toBe(false);
    expect(vipHolder(C)).toBe('ldn');
    expect(liveOf(lab.file())).toMatchObject({ master: 'ldn', epoch: 2, fenced: ['ny'] });
    await waitFor('records on ldn', async () => ((await lastSeq(C, 'ldn')) > amsLast + 1000 ? true : undefined), 30_000, 250);
    const l = await records(C, 'ldn');
    // Caught up first: ldn holds every record ams had, then its own writer's.
    expect(firstBreak(l.seq)).toBeNull();
    expect(l.seq.length).toBeGreaterThan(amsLast);
    await cli(['service', 'stop', lab.file()]);
  }, 300_000);

  it('mirror refresh powers a mirror on, catches it up, powers it off', async () => {
    const { coldRefresh } = await import('../../scripts/failover/refresh');
    const { connectorFor } = await import('../../scripts/hosts/ssh');
    const { resolveTarget } = await import('../../scripts/hosts/target');
    const { driverFor } = await import('../../scripts/failover/drivers/index');
    await labFault(C, 'ams', 'poweroff');
    const t = await resolveTarget({ file: lab.file() });
    const r = await coldRefresh(t.inventory, 'ams', {
      connect: connectorFor(t.inventory),
      ssh: { timeoutMs: 10_000 },
      driver: () => driverFor(t.inventory),
      log: () => undefined,
      syncTimeoutMs: 120_000,
    });
    expect(r.record).toMatchObject({ ok: true, kind: 'refresh', to: 'ams' });
    expect(r.record.steps.map((s) => s.name)).toEqual(['power on ams', 'wait for SSH on ams', 'catch up ams from ldn', 'power off ams']);
    expect(readState(C)!.hosts.ams.poweredOff).toBe(true);
  }, 240_000);
});
