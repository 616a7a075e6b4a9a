/**
 * The real daemon feeding real receivers (`agent.js receive`) in separate temp dataDirs,
 * through the test-only local transport; rsync seeds and reconciles through the receivers'
 * forced-command dispatch and rrsync, exactly as over ssh.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { AgentStatus } from '../../agent/src/contract';
import { Host, agentBundle, child, makeHost, sameTree, startDaemon, status, statusCli, stopAll, tempRoot, waitFor, writeConfig } from './helpers';

jest.setTimeout(60000);

const EXCLUDE = ['*.tmp', '/cache/'];

/** Master tree without what the exclude patterns leave out. */
function expectedTree(m: Host, root: string): string {
  const dir = path.join(root, 'expected');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.cpSync(m.dataDir, dir, { recursive: true, verbatimSymlinks: true, filter: (src) => !src.endsWith('.tmp') && src !== path.join(m.dataDir, 'cache') });
  return dir;
}

describe('daemon feeding mirrors (local transport)', () => {
  let root: string;
  let m: Host, a: Host, b: Host, c: Host;
  beforeAll(() => agentBundle());
  beforeEach(() => {
    root = tempRoot('mirror');
    [m, a, b, c] = ['master', 'a', 'b', 'c'].map((s) => makeHost(root, s));
  });
  afterEach(async () => {
    await stopAll();
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  const inSync =
    (...hs: Host[]) =>
    () => {
      const exp = expectedTree(m, root);
      return hs.every((h) => sameTree(exp, h.dataDir));
    };

  it('seeds three mirrors, then streams every kind of change to all of them', async () => {
    fs.mkdirSync(path.join(m.dataDir, 'cfg/deep'), { recursive: true });
    fs.writeFileSync(path.join(m.dataDir, 'cfg/deep/a.json'), '{"a":1}');
    fs.writeFileSync(path.join(m.dataDir, 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
    fs.mkdirSync(path.join(m.dataDir, 'cache'));
    fs.writeFileSync(path.join(m.dataDir, 'cache/skip'), 'not mirrored');
    fs.writeFileSync(path.join(m.dataDir, 'x.tmp'), 'not mirrored');
    for (const h of [a, b, c]) writeConfig(h, { role: 'mirror', feedFrom: 'master', exclude: EXCLUDE });
    writeConfig(m, { role: 'master', exclude: EXCLUDE, children: [child(a), child(b), child(c)] });
    startDaemon(m);
    await waitFor('seed', inSync(a, b, c));
    await waitFor('master status in-sync', () => status(m).children.every((ch) => ch.state === 'in-sync'));
    expect(fs.existsSync(path.join(a.dataDir, 'cache'))).toBe(false);

    const w = (p: string, d: string | Buffer): void => fs.writeFileSync(path.join(m.dataDir, p), d);
    w('new.txt', 'new');
    fs.appendFileSync(path.join(m.dataDir, 'cfg/deep/a.json'), '\n');
    fs.mkdirSync(path.join(m.dataDir, 'ticks/2026/11'), { recursive: true });
    for (let i = 0; i < 5; i++) w(`ticks/2026/11/f${i}.csv`, `t${i}\n`);
    fs.symlinkSync('cfg/deep/a.json', path.join(m.dataDir, 'current'));
    fs.renameSync(path.join(m.dataDir, 'new.txt'), path.join(m.dataDir, 'renamed.txt'));
    fs.rmSync(path.join(m.dataDir, 'big.bin'));
    w('y.tmp', 'skip');
    w('cache/more', 'skip');
    fs.chmodSync(path.join(m.dataDir, 'cfg/deep/a.json'), 0o600);
    const t0 = Date.now();
    await waitFor('all changes on all mirrors', inSync(a, b, c), 10000, 5);
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(2000);
    expect(fs.statSync(path.join(c.dataDir, 'cfg/deep/a.json')).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(b.dataDir, 'y.tmp'))).toBe(false);

    // A directory moved in from outside the watch arrives with its contents.
    const outside = path.join(root, 'moved-in');
    fs.mkdirSync(path.join(outside, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(outside, 'sub/inner.txt'), 'inner');
    fs.renameSync(outside, path.join(m.dataDir, 'moved-in'));
    fs.rmSync(path.join(m.dataDir, 'ticks'), { recursive: true });
    await waitFor('dir move + recursive delete', inSync(a, b, c), 10000);

    await waitFor('statuses', () => {
      const s = status(a);
      return s.inSync && s.lagS !== null && s.lagS < 2 && s.health === 'ok' && status(m).health === 'ok' ? s : null;
    });
    const ms_: AgentStatus = statusCli(m);
    expect(ms_.role).toBe('master');
    expect(ms_.children.map((ch) => ch.state)).toEqual(['in-sync', 'in-sync', 'in-sync']);
  });

  it('an append sends only the appended bytes', async () => {
    fs.writeFileSync(path.join(m.dataDir, 'ticks.csv'), 'x'.repeat(1024 * 1024) + '\n');
    writeConfig(a, { role: 'mirror', feedFrom: 'master' });
    writeConfig(m, { role: 'master', children: [child(a)] });
    startDaemon(m);
    await waitFor('seed', () => sameTree(m.dataDir, a.dataDir) && status(m).children[0].state === 'in-sync');
    const before = status(m).children[0].bytesSent!;
    for (let i = 0; i < 20; i++) {
      fs.appendFileSync(path.join(m.dataDir, 'ticks.csv'), `tick ${i}\n`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor('appends', () => sameTree(m.dataDir, a.dataDir), 5000, 5);
    await new Promise((r) => setTimeout(r, 1100)); // status is rewritten every second
    const sent = status(m).children[0].bytesSent! - before;
    // 20 appends of ~8 bytes: frames, headers and heartbeats, nowhere near the 1 MiB file.
    expect(sent).toBeLessThan(20 * 200);
  });

  it('forwards through a relay', async () => {
    writeConfig(b, { role: 'mirror', feedFrom: 'a' });
    writeConfig(c, { role: 'mirror', feedFrom: 'master' });
    writeConfig(a, { role: 'mirror', feedFrom: 'master', children: [child(b)] });
    writeConfig(m, { role: 'master', children: [child(a), child(c)] });
    fs.writeFileSync(path.join(m.dataDir, 'seed'), 'seed');
    startDaemon(a);
    startDaemon(m);
    await waitFor('seed through relay', () => sameTree(m.dataDir, b.dataDir) && sameTree(m.dataDir, c.dataDir));
    const t0 = Date.now();
    fs.writeFileSync(path.join(m.dataDir, 'hb'), String(t0));
    fs.appendFileSync(path.join(m.dataDir, 'seed'), '+more');
    await waitFor('change through relay', () => sameTree(m.dataDir, b.dataDir), 10000, 5);
    expect(Date.now() - t0).toBeLessThan(1500);
    await waitFor('leaf status carries the master clock', () => {
      const s = status(b);
      return s.inSync && s.lastAppliedChangeAt && Date.parse(s.lastAppliedChangeAt) >= t0 && s.lagS! < 3 ? s : null;
    });
    await waitFor('relay reports its child in-sync', () => status(a).children[0]?.state === 'in-sync');
  });

  it('interval mode batches; pause stops a child and resume catches it up', async () => {
    writeConfig(a, { role: 'mirror', feedFrom: 'master' });
    writeConfig(b, { role: 'mirror', feedFrom: 'master' });
    const cfg = { role: 'master' as const, children: [child(a, { syncIntervalS: 2, failover: 'warm' as const }), child(b)] };
    writeConfig(m, cfg);
    startDaemon(m);
    await waitFor('seed', () => status(m).children.every((ch) => ch.state === 'in-sync'));
    fs.writeFileSync(path.join(m.dataDir, 'one'), '1');
    await waitFor('continuous child', () => sameTree(m.dataDir, b.dataDir), 5000, 5);
    await waitFor('interval child within its interval', () => sameTree(m.dataDir, a.dataDir), 5000, 20);

    writeConfig(m, { ...cfg, pausedChildren: ['b'] });
    await waitFor('b paused', () => status(m).children[1].state === 'paused');
    fs.writeFileSync(path.join(m.dataDir, 'two'), '2');
    await waitFor('a still fed', () => sameTree(m.dataDir, a.dataDir), 5000);
    expect(fs.existsSync(path.join(b.dataDir, 'two'))).toBe(false);
    writeConfig(m, cfg);
    await waitFor('b caught up after resume', () => sameTree(m.dataDir, b.dataDir) && status(m).children[1].state === 'in-sync', 10000);
  });
});
