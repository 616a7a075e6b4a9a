/**
 * A symlink that leaves dataDir is not mirrored, and what the mirror held at its name goes
 * (one policy for the stream and the rsync reconcile). rsync --safe-links alone skips such a
 * link but keeps the mirror's old file at that name: found by the local differential (seed 8),
 * where a file replaced by such a link while the link was reconciling stayed on the mirror.
 */
import * as fs from 'fs';
import * as path from 'path';
import { agentBundle, child, makeHost, startDaemon, status, stopAll, tempRoot, waitFor, writeConfig } from './helpers';

jest.setTimeout(60000);

describe('a file replaced by a symlink that leaves dataDir', () => {
  let root: string;
  beforeAll(() => agentBundle());
  afterAll(async () => {
    await stopAll();
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('is removed from the mirror by the reconcile after a restart, not kept', async () => {
    root = tempRoot('safelinks');
    const m = makeHost(root, 'master');
    const a = makeHost(root, 'a');
    writeConfig(a, { role: 'mirror', feedFrom: 'master' });
    writeConfig(m, { role: 'master', children: [child(a)] });
    fs.mkdirSync(path.join(m.dataDir, 'd'));
    fs.writeFileSync(path.join(m.dataDir, 'd', 'f'), 'old contents');
    fs.writeFileSync(path.join(m.dataDir, 'kept'), 'k');
    startDaemon(m);
    await waitFor('the file on the mirror', () => fs.existsSync(path.join(a.dataDir, 'd', 'f')) && status(m).children[0]?.state === 'in-sync', 20000);
    await stopAll();
    // While no agent runs: the file becomes a link out of dataDir (and an ordinary change beside).
    fs.rmSync(path.join(m.dataDir, 'd', 'f'));
    fs.symlinkSync('/etc/hostname', path.join(m.dataDir, 'd', 'f'));
    fs.writeFileSync(path.join(m.dataDir, 'kept'), 'changed');
    const restarted = Date.now();
    // The online verify would find the old file too (a minute later in real life): held off
    // here so the reconcile is what is tested.
    startDaemon(m, { TANDEM_TEST_VERIFY_FIRST_MS: '60000' });
    await waitFor(
      'in sync after the restart',
      () => {
        const c = status(m).children[0];
        return c?.state === 'in-sync' && c.lastAckAt !== null && Date.parse(c.lastAckAt) > restarted + 500 ? c : null;
      },
      20000,
    );
    expect(fs.readFileSync(path.join(a.dataDir, 'kept'), 'utf8')).toBe('changed'); // the reconcile ran
    expect(fs.lstatSync(path.join(a.dataDir, 'd', 'f'), { throwIfNoEntry: false })).toBeUndefined();
  });
});
