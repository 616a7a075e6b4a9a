/**
 * `tandem drill --scenario all` on real lab hosts (dr1), as a user runs it (bin/tandem), and every
 * report's figures checked against what actually happened: the records on the new master counted
 * by this test itself (not the drill's count), the RTO against the failover journal's own
 * timestamps, the records lost against the test's count, the DEGRADED alert of double-fault
 * against what a real HTTP receiver got. Then bad input: refused, nothing changed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JournalRecord } from '../../scripts/failover/journal';
import type { DrillResult } from '../../scripts/drill/types';
import { labFault } from '../../scripts/lab/fault';
import { readState } from '../../scripts/lab/state';
import { describeLab } from '../support/lab';
import { cli, recordsOn, sh, useDrLab, waitFor } from './helpers';

const C = 'dr1';
const lab = useDrLab(C);
const SCENARIO = process.env.TANDEM_DRILL_SCENARIO || 'all';

interface AllJson {
  customer: string;
  passed: boolean;
  results: DrillResult[];
}

describeLab('tandem drill on the lab (dr1)', () => {
  let results: DrillResult[] = [];
  let reportDir = '';
  let stderr = '';

  beforeAll(() => {
    reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-drill-report-'));
  });
  afterAll(() => fs.rmSync(reportDir, { recursive: true, force: true }));

  it(`--scenario ${SCENARIO} runs and puts the layout back`, async () => {
    const t0 = Date.now();
    const r = await cli(['drill', lab.file(), '--scenario', SCENARIO, '--json', '--report', reportDir, '--force'], 900_000);
    stderr = r.stderr;
    if (process.env.TANDEM_DRILL_LOG) fs.writeFileSync(process.env.TANDEM_DRILL_LOG, r.stderr);
    process.stderr.write(`drill ${SCENARIO}: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    let doc: AllJson | DrillResult;
    try {
      doc = JSON.parse(r.stdout) as AllJson | DrillResult;
    } catch {
      throw new Error(`no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr.slice(-6000)}`);
    }
    results = 'results' in doc ? doc.results : [doc];
    for (const x of results)
      process.stderr.write(
        `${x.scenario}: ${x.notApplicable ? 'n/a' : x.passed ? 'PASS' : 'FAIL'} RTO ${x.rtoSeconds} RPO ${x.rpoSeconds} lost ${x.recordsLost}/${x.recordsWritten} ${x.error ?? ''}\n${x.checks
          .filter((c) => !c.ok)
          .map((c) => `   FAIL ${c.name}: ${c.detail}`)
          .join('\n')}\n`,
      );
    const failed = results.filter((x) => !x.passed && !x.notApplicable);
    if (failed.length) process.stderr.write(stderr.slice(-15000));
    expect(failed.map((x) => x.scenario)).toEqual([]);
    expect(results.every((x) => x.restored)).toBe(true);
    expect(r.code).toBe(0);
    // The layout is the original one: ny master holding the VIP, ldn powered off again.
    expect(readState(C)!.vipHolder).toBe('ny');
    expect(readState(C)!.hosts.ldn.poweredOff).toBe(true);
  }, 900_000);

  it("each report's figures match what happened: records counted here, RTO from the journal", async () => {
    expect(results.length).toBeGreaterThan(0);
    for (const r of results.filter((x) => !x.notApplicable)) {
      // On the new master, unless it is a cold mirror powered off again: then on the original
      // master, which the failback proved holds exactly the same data (dataDir digest).
      const where = r.to && !readState(C)!.hosts[r.to].poweredOff ? r.to : r.from;
      // Counted by this test on the site that was master when the drill counted (files stay).
      const mine = await recordsOn(C, where, r.recordsFile!);
      expect(mine.bad).toBe(0);
      const distinct = [...mine.byTag.values()].reduce((n, m) => n + m.size, 0);
      expect(r.recordsFound).toBe(distinct);
      // Lost: confirmed by the generator (its segments) and not on the new master, counted here.
      let lost = 0;
      for (const s of r.segments!) {
        const have = mine.byTag.get(s.tag) ?? new Map();
        for (let q = s.firstSeq + 1; q <= s.confirmedSeq; q++) if (!have.has(q)) lost++;
      }
      if (r.recordsLost !== lost) {
        const per = r.segments!.map((x) => `${x.tag} ${x.firstSeq}..${x.confirmedSeq}: ${mine.byTag.get(x.tag)?.size ?? 0} here`).join('; ');
        throw new Error(`${r.scenario}: the drill says ${r.recordsLost} lost, counted on ${where}: ${lost} (${per}; tags here: ${[...mine.byTag.keys()].join(', ')})`);
      }
      expect(r.recordsWritten).toBe(r.segments!.reduce((n, s) => n + s.confirmedSeq - s.firstSeq, 0));
      expect(r.recordsWritten).toBeGreaterThan(r.rate * 2);
      // The sequence on the new master has no hole: the generator continued from what was there.
      const seqs = [...new Set(mine.seqs)].sort((a, b) => a - b);
      expect(seqs[seqs.length - 1]).toBe(seqs.length);
      if (['planned-switchover', 'mirror-crash-during-sync', 'rebuild-mirror', 'replace-host'].includes(r.scenario)) expect(r.recordsLost).toBe(0);
      if (r.to !== null) {
        const j = JSON.parse(fs.readFileSync(r.journalFiles[0], 'utf8')) as JournalRecord;
        expect(j.to).toBe(r.to);
        const from = Date.parse(j.faultAt ?? j.commandAt);
        expect(r.rtoSeconds).toBeCloseTo((Date.parse(j.serviceAnsweredAt!) - from) / 1000, 2);
        if (r.scenario !== 'planned-switchover') expect(Date.parse(j.faultAt!)).toBe(Date.parse(r.events.find((e) => e.kind === 'fault')!.at));
        expect(r.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['fault', 'promoted', 'service-back', 'restored']));
        // The failback is journaled too and the drill ended with it.
        const last = JSON.parse(fs.readFileSync(r.journalFiles[r.journalFiles.length - 1], 'utf8')) as JournalRecord;
        expect(last).toMatchObject({ kind: 'failback', to: 'ny', ok: true });
      }
      expect(r.lag.length).toBeGreaterThan(0);
    }
  }, 300_000);

  it('double-fault: the webhook receiver got the DEGRADED alert for the first fault before the master died', () => {
    const r = results.find((x) => x.scenario === 'double-fault');
    if (!r) return expect(SCENARIO).not.toBe('all');
    const first = Date.parse(r.events.find((e) => e.kind === 'note' && /first fault/.test(e.label))!.at);
    const second = Date.parse(r.events.find((e) => e.kind === 'fault')!.at);
    // 'degraded', or 'worse' when the master had an alert still open from an earlier fault.
    const got = lab.hook().posts.filter((p) => (p.body.kind === 'degraded' || p.body.kind === 'worse') && p.at >= first && p.at <= second);
    if (!got.length)
      throw new Error(
        `no DEGRADED alert between ${new Date(first).toISOString()} and ${new Date(second).toISOString()}; received: ${JSON.stringify(lab.hook().posts.map((p) => ({ at: new Date(p.at).toISOString(), kind: p.body.kind, faults: p.body.faults })))}`,
      );
    expect(JSON.stringify(got[0].body.faults)).toMatch(/mirror (ams|chi)/);
  });

  it('the reports were written: Markdown, JSON with the figures at its top level, SVG and PNG', () => {
    for (const r of results.filter((x) => !x.notApplicable)) {
      const files = fs.readdirSync(reportDir).filter((f) => f.includes(r.scenario));
      expect(files.length).toBeGreaterThanOrEqual(1);
    }
  });

  it('bad input: unknown scenario, unwritable report dir, a DEGRADED stack without --force; nothing changes', async () => {
    const u = await cli(['drill', lab.file(), '--scenario', 'master-crsh']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/--scenario "master-crsh" is not a scenario \(did you mean master-crash\?\); scenarios: planned-switchover, master-crash/);
    const blocker = path.join(os.tmpdir(), `tandem-drill-notadir-${process.pid}`);
    fs.writeFileSync(blocker, 'a file');
    try {
      const w = await cli(['drill', lab.file(), '--scenario', 'master-crash', '--report', path.join(blocker, 'reports')]);
      expect(w.code).toBe(2);
      expect(w.stderr).toMatch(/--report .*tandem-drill-notadir.*/);
    } finally {
      fs.rmSync(blocker, { force: true });
    }
    await labFault(C, 'ams', 'diskfull');
    try {
      const stateBefore = JSON.stringify(readState(C)!.hosts);
      // A change the full mirror cannot take.
      await sh(C, 'ny', 'head -c 200000 /dev/urandom > /srv/trading/drill-fill.dat');
      // Once status itself says DEGRADED (the agent notices the full disk at its next write).
      await waitFor('status DEGRADED', async () => ((await cli(['status', lab.file()])).code === 3 ? true : undefined), 60_000, 500);
      const d = await cli(['drill', lab.file(), '--scenario', 'master-crash']);
      expect(d.code).toBe(2);
      expect(d.stderr).toMatch(/"dr1" is DEGRADED already: .*ams.*or pass --force; nothing was done/);
      expect(JSON.stringify(readState(C)!.hosts)).toBe(stateBefore);
      expect(readState(C)!.vipHolder).toBe('ny');
    } finally {
      await labFault(C, 'ams', 'diskfree');
      await sh(C, 'ny', 'rm -f /srv/trading/drill-fill.dat');
    }
  }, 180_000);
});
