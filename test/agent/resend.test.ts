/**
 * An ACK's `resend` list comes from the child. The master's daemon reads with
 * CAP_DAC_READ_SEARCH, so a child that names a path it was never sent (a traversal, an
 * absolute path, a file outside dataDir) must not get it read and sent: only paths of the
 * acknowledged batch are taken back into the dirty set.
 */
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { homePaths } from '../../agent/src/env';
import { Excluder } from '../../agent/src/exclude';
import { ChildLink } from '../../agent/src/link';
import { EV } from '../../agent/src/watcher';
import { child, makeHost, tempRoot } from './helpers';

describe('resend requests from a child', () => {
  it('only paths of the acknowledged batch go back into the dirty set', () => {
    const root = tempRoot('resend');
    try {
      const m = makeHost(root, 'master');
      const a = makeHost(root, 'a');
      fs.writeFileSync(path.join(m.dataDir, 'orders.csv'), 'x');
      fs.writeFileSync(path.join(root, 'secret'), 'not for the mirror');
      const link = new ChildLink({
        child: child(a),
        paths: homePaths(m.home),
        dataDir: m.dataDir,
        customer: 'acme',
        site: 'master',
        epoch: 1,
        exclude: [],
        excluder: new Excluder([]),
        agentJs: '/nonexistent',
        upstream: null,
      });
      // The link as it is mid-stream with batch 7 out: internal state set directly, no processes.
      const proc = { stdin: { write: () => true } } as unknown as ChildProcess;
      const l = link as unknown as Record<string, unknown>;
      Object.assign(l, {
        proc,
        phase: 'stream',
        needsReconcile: false,
        inflight: { seq: 7, entries: new Map([['orders.csv', { flags: EV.MODIFY, time: 1 }]]), bytes: 1, sentAt: Date.now(), changeTime: 1, inSync: true, full: false },
      });
      (l.onReply as (f: unknown, p: ChildProcess) => void).call(link, { t: 'ACK', seq: 7, appliedTime: 1, resend: ['orders.csv', '../secret', '/etc/shadow', 'never-sent.txt'] }, proc);
      expect([...link.dirty.keys()]).toEqual(['orders.csv']);
      expect(link.state).not.toBe('in-sync'); // something was asked again: not in sync yet
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
