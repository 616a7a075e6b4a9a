/**
 * One mirror's dataDir is a 2 MiB tmpfs. When the master writes more than fits, that mirror
 * refuses the batch (ENOSPC), its status and the master's turn DEGRADED, and the other mirrors
 * stay current. When space comes back, it catches up.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Host, agentBundle, child, makeHost, sameTree, startDaemon, status, stopAll, tempRoot, waitFor, writeConfig } from './helpers';

jest.setTimeout(60000);

describe('a mirror out of disk', () => {
  let root: string;
  let mounted: string | null = null;
  beforeAll(() => agentBundle());
  afterAll(async () => {
    await stopAll();
    if (mounted && spawnSync('umount', [mounted]).status !== 0) spawnSync('umount', ['-l', mounted]);
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('goes DEGRADED with the error while the others stay current, then recovers', async () => {
    root = tempRoot('disk');
    const small = path.join(root, 'a-data');
    fs.mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tandem-test', small]);
    mounted = small;
    const a = makeHost(root, 'a', small);
    const [m, b, c]: Host[] = ['master', 'b', 'c'].map((s) => makeHost(root, s));
    for (const h of [a, b, c]) writeConfig(h, { role: 'mirror', feedFrom: 'master' });
    writeConfig(m, { role: 'master', children: [child(a), child(b), child(c)] });
    fs.writeFileSync(path.join(m.dataDir, 'small'), 'x');
    const mp = startDaemon(m);
    await waitFor('seed', () => status(m).children.every((ch) => ch.state === 'in-sync'), 20000);

    fs.writeFileSync(path.join(m.dataDir, 'big'), Buffer.alloc(3 * 1024 * 1024, 1));
    await waitFor('b and c get the big file', () => sameTree(m.dataDir, b.dataDir) && sameTree(m.dataDir, c.dataDir), 10000);
    const ms = await waitFor('master sees a fail', () => {
      const s = status(m);
      return s.children[0].state === 'error' && s.health === 'degraded' ? s : null;
    });
    expect(ms.children[0].lastError).toMatch(/ENOSPC|No space/);
    expect(ms.lastError).toMatch(/^a: .*(ENOSPC|No space)/);
    expect(ms.children.slice(1).map((ch) => ch.state)).toEqual(['in-sync', 'in-sync']);
    const as = status(a);
    expect(as.health).toBe('degraded');
    expect(as.lastError).toMatch(/ENOSPC|No space/);
    expect(as.inSync).toBe(false);
    // The failed batch left no staged debris eating the little space there is.
    expect(fs.readdirSync(path.join(a.dataDir, '.tandem-staging')).filter((n) => !n.startsWith('rsync-'))).toEqual([]);

    // While the disk stays full the link retries with a growing backoff and stays 'error' the
    // whole time: no retry shows as plain catching-up (status would flicker back to OK).
    await new Promise((r) => setTimeout(r, 2500));
    const mlog = (mp as unknown as { log: () => string }).log();
    const fromFail = mlog.slice(mlog.indexOf('link a: receiver refused'));
    const reconStates = [...fromFail.matchAll(/link a: rsync reconcile \{"state":"([a-z-]+)"\}/g)].map((x) => x[1]);
    expect(reconStates.length).toBeGreaterThanOrEqual(1);
    expect(new Set(reconStates)).toEqual(new Set(['error']));
    const retries = [...fromFail.matchAll(/link a: down .*"retryInMs":(\d+)/g)].map((x) => Number(x[1]));
    expect(retries.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < retries.length; i++) expect(retries[i]).toBeGreaterThan(retries[i - 1]);
    expect(status(m).children[0].state).toBe('error');
    // The failing link is not streaming: how far behind it is cannot be told, and is not 0.
    expect(status(m).children[0].bytesBehind).toBeNull();
    expect(status(m).children[1].bytesBehind).toBe(0);

    // Others keep streaming while a is stuck.
    for (let i = 0; i < 10; i++) fs.appendFileSync(path.join(m.dataDir, 'small'), `${i}`);
    await waitFor('b and c current', () => sameTree(m.dataDir, b.dataDir) && sameTree(m.dataDir, c.dataDir), 5000, 5);

    fs.rmSync(path.join(m.dataDir, 'big'));
    await waitFor('a recovers', () => sameTree(m.dataDir, a.dataDir) && status(m).children[0].state === 'in-sync', 30000);
    await waitFor('master healthy again', () => status(m).health === 'ok');
  });
});
