/**
 * The watcher (inotifywait into a FIFO drained on the daemon's tick) dying: the daemon
 * restarts it, every link reconciles, changes made meanwhile arrive, and nothing leaks.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Excluder } from '../../agent/src/exclude';
import { Watcher } from '../../agent/src/watcher';
import { agentBundle, child, childrenNamed, makeHost, sameTree, startDaemon, status, stopAll, tempRoot, waitFor, writeConfig } from './helpers';

jest.setTimeout(60000);

/** The inotifywait our daemon started (its child), by pid. */
const watcherOf = (daemonPid: number): number | null => childrenNamed(daemonPid, 'inotifywait')[0] ?? null;

const fds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

describe('the watcher dies', () => {
  let root: string;
  beforeAll(() => agentBundle());
  afterAll(async () => {
    await stopAll();
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('is restarted; changes made while it was gone arrive; no descriptor leaks', async () => {
    root = tempRoot('watcher');
    const m = makeHost(root, 'master');
    const a = makeHost(root, 'a');
    writeConfig(a, { role: 'mirror', feedFrom: 'master' });
    writeConfig(m, { role: 'master', children: [child(a)] });
    fs.writeFileSync(path.join(m.dataDir, 'seed'), 'x');
    // The fallback feed (hosts without koffi.node): the in-process feed has no process to die.
    const d = startDaemon(m, { TANDEM_TEST_WATCHER: 'inotifywait' });
    await waitFor('in sync', () => status(m).children[0].state === 'in-sync', 20000);
    const fdsBefore = fds(d.pid!);
    for (let round = 1; round <= 3; round++) {
      const w = await waitFor('a watcher', () => watcherOf(d.pid!), 10000);
      process.kill(w, 'SIGKILL');
      fs.writeFileSync(path.join(m.dataDir, `while-gone-${round}`), `round ${round}`);
      const w2 = await waitFor(
        'a new watcher',
        () => {
          const p = watcherOf(d.pid!);
          return p && p !== w ? p : null;
        },
        10000,
      );
      expect(w2).not.toBe(w);
      // Written after the restart: only the new watcher can have seen it.
      fs.appendFileSync(path.join(m.dataDir, 'seed'), `${round}`);
      await waitFor(`round ${round} arrives`, () => sameTree(m.dataDir, a.dataDir), 15000);
    }
    await waitFor('in sync again', () => status(m).children[0].state === 'in-sync' && status(m).health === 'ok', 15000);
    // The old FIFO read ends and files were closed: three restarts leave the count where it was
    // (a little slack for ssh/rsync pipes that come and go).
    expect(fds(d.pid!)).toBeLessThanOrEqual(fdsBefore + 2);
    expect(fs.readdirSync(path.join(m.home, 'state')).filter((n) => n.endsWith('.fifo'))).toEqual([]);
  });
});

// Found by the local differential (seed 897148012, in CI): inotifywait -r reads a new directory's
// entries before it adds that directory's own watch, so a subdirectory made in between gets no
// watch, and every later change under it is lost without a word. The watcher looks each new
// directory up in the kernel's list of inotifywait's watches and asks for a restart when one is
// missing. A tree made at full speed while its top appears races inotifywait: each round either
// had every directory watched (every late file is reported) or the watcher said so ('stale').
describe('a tree made while inotifywait adds its watches', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let root: string;
  afterAll(() => fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }));

  it('every directory is watched, or the watcher asks to be restarted', async () => {
    root = tempRoot('watcher-race');
    const dir = path.join(root, 'w');
    fs.mkdirSync(dir);
    let unwatchedRounds = 0;
    for (let round = 0; round < 6; round++) {
      const w = new Watcher(dir, new Excluder([]), path.join(root, 'state'));
      const seen = new Set<string>();
      const stale: string[] = [];
      w.on('change', (c) => seen.add(c.rel));
      w.on('stale', (p) => stale.push(p));
      await w.start();
      const tick = setInterval(() => w.drain(), 50);
      try {
        const top = `t${round}`;
        const leaves: string[] = [];
        fs.mkdirSync(path.join(dir, top));
        for (let i = 0; i < 40; i++) {
          const leaf = path.join(top, `w${i}`, 'x');
          fs.mkdirSync(path.join(dir, leaf), { recursive: true });
          fs.writeFileSync(path.join(dir, leaf, 'early'), 'e');
          leaves.push(leaf);
        }
        await sleep(2000); // the check runs 1 s after a directory appeared (and confirms 0.3 s later)
        for (const l of leaves) fs.writeFileSync(path.join(dir, l, 'late'), 'l');
        await sleep(400);
        const lost = leaves.filter((l) => !seen.has(`${l}/late`));
        if (lost.length) unwatchedRounds++;
        // A late file not reported is only allowed when the watcher said it must restart.
        expect({ round, lost: lost.length, stale: stale.length > 0 }).toEqual({ round, lost: lost.length, stale: lost.length > 0 ? true : stale.length > 0 });
      } finally {
        clearInterval(tick);
        w.stop();
      }
    }
    process.stderr.write(`watcher race: ${unwatchedRounds} of 6 rounds left directories unwatched by inotifywait (each was caught)\n`);
  });
});
