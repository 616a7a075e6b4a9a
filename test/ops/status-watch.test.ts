/**
 * `tandem status --watch`: the loop on fake rounds (redraw on a terminal, one block per change
 * otherwise, --count, a stop signal), its flags, and on real lab hosts: a crashed mirror turns
 * the watch DEGRADED naming it, and OK again once it is powered on; SIGTERM stops it cleanly.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { parser } from '../../scripts/cli';
import { CommandError } from '../../scripts/errors';
import { agentBundle } from '../../scripts/hosts/bundle';
import { installFleet } from '../../scripts/hosts/install';
import { labFault } from '../../scripts/lab';
import type { Verdict } from '../../scripts/status/verdict';
import { watchStatus, type WatchRound } from '../../scripts/status/watch';
import { cli, describeLab, fleet, useLab, waitFor } from '../support/lab';

function round(ok: boolean, reasons: string[] = [], faults: string[] = []): WatchRound {
  const verdict: Verdict = {
    ok,
    reasons,
    rows: [{ site: 'ny', role: 'master', relay: false, epoch: 1, agentVersion: '1', state: 'master', lagS: null, bytesBehind: 0, lastError: null }],
    inSyncMirrors: ok ? ['chi'] : [],
  };
  return { verdict, faults, protectedBy: ok ? ['chi (in-sync)'] : [], at: new Date('2025-01-01T00:00:00Z') };
}

describe('watchStatus (fake rounds)', () => {
  const seq = [round(true), round(true), round(false, ['mirror chi is 12 s behind']), round(false, ['mirror chi is 14 s behind']), round(true)];
  const run = async (tty: boolean, count: number | null, json = false, signal = new AbortController().signal) => {
    let i = 0;
    const out: string[] = [];
    const r = await watchStatus({ customer: 'sw1', intervalMs: 1, count, tty, json, write: (s) => out.push(s), signal, round: async () => seq[Math.min(i++, seq.length - 1)] });
    return { ...r, out };
  };

  it('not a terminal: one block per change (a lag that only creeps is not a change), then stops at --count', async () => {
    const r = await run(false, 5);
    expect(r.rounds).toBe(5);
    expect(r.out.map((b) => b.split('\n').find((l) => l.startsWith('---')))).toEqual(
      ['--- 2025-01-01T00:00:00.000Z sw1: OK', '\n--- 2025-01-01T00:00:00.000Z sw1: DEGRADED', '\n--- 2025-01-01T00:00:00.000Z sw1: OK'].map((s) => s.replace(/^\n/, '')),
    );
    expect(r.out[1]).toContain('DEGRADED: mirror chi is 12 s behind');
    expect(r.out[1]).toContain('Nothing is protected');
    expect(r.last!.ok).toBe(true);
  });

  it('a terminal: redrawn every round', async () => {
    const r = await run(true, 3);
    expect(r.out).toHaveLength(3);
    for (const b of r.out) expect(b.startsWith('\x1b[H\x1b[2J')).toBe(true);
    expect(r.out[2]).toContain('round 3/3');
  });

  it('--json: one JSON line per change', async () => {
    const r = await run(false, 5, true);
    expect(r.out.map((l) => (JSON.parse(l) as { verdict: string }).verdict)).toEqual(['OK', 'DEGRADED', 'OK']);
  });

  it('a stop signal ends it between rounds, without another round', async () => {
    const ac = new AbortController();
    let n = 0;
    const t0 = Date.now();
    const r = await watchStatus({
      customer: 'sw1',
      intervalMs: 60_000,
      count: null,
      tty: false,
      json: false,
      write: () => undefined,
      signal: ac.signal,
      round: async () => {
        if (++n === 1) setTimeout(() => ac.abort(), 50);
        return round(true);
      },
    });
    expect(r.rounds).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it.each([
    [['status', '--stack', 'sw1', '--count', '0', '--watch'], '--count 0: give a whole number of rounds, 1 or more, e.g. --count 10'],
    [['status', '--stack', 'sw1', '--interval', '0.1', '--watch'], '--interval 0.1: give the seconds between rounds, from 0.5 to 3600, e.g. --interval 5'],
    [['status', '--stack', 'sw1', '--count', '3'], '--count is only for --watch; add --watch, or leave it out for one status'],
    [['status', '--stack', 'sw1', '--interval', '2'], '--interval is only for --watch'],
  ])('%p is refused, naming the flag and the fix', async (argv, msg) => {
    // yargs throws some check failures synchronously and rejects others: both become `e`.
    const e = await (async () => parser(argv).parseAsync())().then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(CommandError);
    expect((e as CommandError).message).toContain(msg);
    expect((e as CommandError).exitCode).toBe(2);
  });
});

const C = 'sw1';
const lab = useLab(C, [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope }',
]);

describeLab('tandem status --watch on lab hosts', () => {
  beforeAll(async () => {
    const res = await installFleet(fleet(lab.inv()), 'install', agentBundle());
    expect(res.map((r) => r.error)).toEqual([null, null, null]);
    expect((await cli(['mirror', 'start', '--inventory', lab.invFile])).code).toBe(0);
    await waitFor('status OK', async () => ((await cli(['status', '--inventory', lab.invFile])).code === 0 ? true : undefined), 40_000, 300);
  }, 90_000);

  it('a crashed mirror turns the watch DEGRADED naming it, OK again after poweron; --count bounds it, SIGTERM stops it', async () => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [path.resolve(__dirname, '../../bin/tandem'), 'status', '--watch', '--interval', '1', '--count', '120', '--timeout', '2', '--inventory', lab.invFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => p.on('close', (code) => resolve(code)));
    const blocks = () => out.split(/\n(?=--- )/).filter((b) => b.startsWith('--- '));
    try {
      await waitFor('the first block, OK', async () => (blocks().length ? true : undefined), 20_000, 100);
      expect(blocks()[0]).toMatch(/^--- \S+ sw1: OK\n/);
      expect(blocks()[0]).toMatch(/\nOK\n/);

      await labFault(C, 'chi', 'crash');
      const degraded = await waitFor('DEGRADED naming chi', async () => blocks().find((b) => /sw1: DEGRADED/.test(b) && /DEGRADED: .*\bchi\b/.test(b)), 20_000, 100);
      expect(degraded).toMatch(/mirror chi (unreachable|feed from ny is down)/);
      // Not a terminal: no screen control codes, and no repeated block while nothing changes.
      expect(out).not.toContain('\x1b[');
      const before = blocks().length;

      await labFault(C, 'chi', 'poweron');
      const ok = await waitFor(
        'OK again',
        async () =>
          blocks()
            .slice(before - 1)
            .find((b) => /sw1: OK\n/.test(b)),
        40_000,
        100,
      );
      expect(ok).toMatch(/\nOK\n/);
      expect(blocks().length).toBeLessThan(30); // one per change, not one per second

      p.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 8_000))]);
      expect(code).toBe(0);
      expect(err).toContain('tandem status --watch: stopped (SIGTERM)');
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    process.stderr.write(`sw1: watch DEGRADED and back to OK in ${Date.now() - t0} ms\n`);
  }, 90_000);

  it('--count stops it by itself; no change, one block', async () => {
    const r = await cli(['status', '--watch', '--interval', '0.5', '--count', '3', '--inventory', lab.invFile], 30_000);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^--- /gm)).toHaveLength(1);
    expect(r.stdout).toMatch(/\nOK\n/);
  }, 40_000);
});
