/**
 * A mirror's receiver is SIGKILLed again and again while batches stream in. A reader on the
 * mirror checks every file all the while: none may ever be torn. After the kills stop, the
 * mirror catches up (reconnect, rsync reconcile, stream) and reports in-sync; the other mirror
 * never falls behind.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Host, agentBundle, child, content, makeHost, sameTree, startDaemon, status, stopAll, tempRoot, torn, waitFor, writeConfig } from './helpers';

jest.setTimeout(60000);

describe('receiver killed during batches', () => {
  let root: string;
  let m: Host, a: Host, b: Host;
  beforeAll(() => agentBundle());
  afterAll(async () => {
    await stopAll();
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('never shows a torn file, replays, catches up, and reports in-sync', async () => {
    root = tempRoot('crash');
    [m, a, b] = ['master', 'a', 'b'].map((s) => makeHost(root, s));
    for (const h of [a, b]) writeConfig(h, { role: 'mirror', feedFrom: 'master', exclude: ['*.tmp'] });
    writeConfig(m, { role: 'master', exclude: ['*.tmp'], children: [child(a), child(b)] });
    const files = Array.from({ length: 20 }, (_, i) => `f${i}`);
    for (const f of files) fs.writeFileSync(path.join(m.dataDir, f), content(10, 'a'));
    startDaemon(m);
    await waitFor('seed', () => status(m).children.every((c) => c.state === 'in-sync'), 20000);

    let stop = false;
    let writes = 0;
    let kills = 0;
    let checks = 0;
    const tornSeen: string[] = [];
    const writer = (async () => {
      const letters = 'bcdefghijklmnopqrstuvwxyz';
      while (!stop) {
        const f = files[writes % files.length];
        const tmp = path.join(m.dataDir, `${f}.tmp`);
        fs.writeFileSync(tmp, content(1 + Math.floor(Math.random() * 300_000), letters[writes % letters.length]));
        fs.renameSync(tmp, path.join(m.dataDir, f));
        fs.appendFileSync(path.join(m.dataDir, 'ticks.csv'), `${writes}\n`);
        writes++;
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    const checker = (async () => {
      while (!stop) {
        for (const f of files) {
          let s: string;
          try {
            s = fs.readFileSync(path.join(a.dataDir, f), 'latin1');
          } catch {
            continue;
          }
          checks++;
          if (torn(s)) tornSeen.push(`${f}: ${s.slice(0, 40)}... (${s.length} bytes)`);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    let killing = true;
    const killer = (async () => {
      // Kill each new receiver shortly after it starts streaming; at least 4 of them.
      const pidFile = path.join(a.home, 'state/receiver.pid');
      let last = 0;
      const until = Date.now() + 20000;
      while (killing && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
        // Only a receiver's own pid: kill(0) would end this test's whole process group (jest, npm
        // and CI's shell with it), as an empty read of the file once did.
        if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || pid === last) continue;
        // Let it get past the reconcile into streaming batches (most of the time).
        await new Promise((r) => setTimeout(r, 400 + Math.random() * 600));
        try {
          if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('agent.js')) continue;
          process.kill(pid, 'SIGKILL'); // a receiver our daemon spawned for this test
          kills++;
          last = pid;
          if (kills >= 4) killing = false;
        } catch {
          /* already gone */
        }
      }
    })();
    await killer;
    stop = true;
    await Promise.all([writer, checker]);

    expect(tornSeen).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(4);
    expect(writes).toBeGreaterThan(100);
    expect(checks).toBeGreaterThan(500);
    const exp = path.join(root, 'expected');
    fs.cpSync(m.dataDir, exp, { recursive: true, filter: (s) => !s.endsWith('.tmp') });
    await waitFor('b current', () => sameTree(exp, b.dataDir), 10000);
    await waitFor('a caught up after the kills', () => sameTree(exp, a.dataDir) && status(m).children[0].state === 'in-sync', 30000);
    await waitFor('a reports in-sync', () => status(a).inSync);
    expect(fs.existsSync(path.join(a.home, 'state/journal.json'))).toBe(false);
  });
});
