/**
 * The watcher (inotifywait into a FIFO drained on the daemon's tick) dying: the daemon
 * restarts it, every link reconciles, changes made meanwhile arrive, and nothing leaks.
 */
import * as fs from 'fs';
import * as path from 'path';
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
    const d = startDaemon(m);
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
