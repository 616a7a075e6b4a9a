/**
 * SharedFiles: the sender's reads of dataDir, shared by all links. It keeps files open between
 * ticks, so these tests check that this never reads the wrong file (replaced, swapped for a
 * symlink, deleted) and never pins files for long.
 */
import * as fs from 'fs';
import * as path from 'path';
import { IDLE_MS, OPEN_CAP, SharedFiles } from '../../agent/src/files';
import { tempRoot } from './helpers';

const nextTurn = () => new Promise((r) => setImmediate(r));

describe('SharedFiles', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempRoot('files');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('stats and reads a path once per turn however many links ask, and again next turn', async () => {
    const f = new SharedFiles();
    const p = path.join(dir, 'ticks.csv');
    fs.writeFileSync(p, 'a\n');
    for (let link = 0; link < 3; link++) {
      const st = f.lstat(p)!;
      expect(f.read(p, st, 0, st.size)!.toString()).toBe('a\n');
    }
    expect(f.counts).toEqual({ lstat: 1, open: 1, read: 1 });
    await nextTurn();
    fs.appendFileSync(p, 'b\n');
    const st = f.lstat(p)!;
    expect(st.size).toBe(4);
    expect(f.read(p, st, 2, 2)!.toString()).toBe('b\n');
    // The file stayed open: the second turn cost an lstat and a read, no open.
    expect(f.counts).toEqual({ lstat: 2, open: 1, read: 2 });
    f.closeAll();
  });

  it('forget: a name of a hard-linked file written through its other name in the same turn is seen as it is now', () => {
    const f = new SharedFiles();
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    fs.writeFileSync(a, 'old!');
    fs.linkSync(a, b);
    const before = f.lstat(a)!;
    expect(f.read(a, before, 0, 4)!.toString()).toBe('old!');
    // Same turn: a same-size rewrite through b (no event on a's directory would say so).
    fs.writeFileSync(b, 'new!');
    expect(f.lstat(a)).toBe(before); // the turn's cached lstat
    expect(f.read(a, before, 0, 4)!.toString()).toBe('old!'); // and cached bytes
    f.forget(a);
    const now = f.lstat(a)!;
    expect(now).not.toBe(before);
    expect(now.ctimeMs).toBeGreaterThanOrEqual(before.ctimeMs);
    expect(f.read(a, now, 0, 4)!.toString()).toBe('new!');
    f.closeAll();
  });

  it('a file replaced by rename: reads always come from the file the stat describes', async () => {
    const f = new SharedFiles();
    const p = path.join(dir, 'hb');
    fs.writeFileSync(p, 'old');
    const st1 = f.lstat(p)!;
    expect(f.read(p, st1, 0, 3)!.toString()).toBe('old');
    await nextTurn();
    fs.writeFileSync(path.join(dir, 'hb.tmp'), 'new');
    fs.renameSync(path.join(dir, 'hb.tmp'), p);
    // A stat taken before the rename describes the old file: it is read from the descriptor
    // already open on it (consistent, and the rename's own event sends the new file) ...
    expect(f.read(p, st1, 0, 3)!.toString()).toBe('old');
    // ... and with nothing open, it is never answered with the new file's bytes.
    const fresh = new SharedFiles();
    expect(fresh.read(p, st1, 0, 3)).toBeNull();
    await nextTurn();
    const st2 = f.lstat(p)!;
    expect(st2.ino).not.toBe(st1.ino);
    expect(f.read(p, st2, 0, 3)!.toString()).toBe('new');
    expect(f.openCount).toBe(1);
    f.closeAll();
  });

  it('a path swapped for a symlink is neither followed nor read', async () => {
    const f = new SharedFiles();
    const p = path.join(dir, 'data');
    const secret = path.join(dir, 'outside-secret');
    fs.writeFileSync(secret, 'secret');
    fs.writeFileSync(p, 'fine');
    const st = f.lstat(p)!;
    await nextTurn();
    fs.rmSync(p);
    fs.symlinkSync(secret, p);
    expect(f.read(p, st, 0, 6)).toBeNull(); // O_NOFOLLOW: the open fails
    await nextTurn();
    const st2 = f.lstat(p)!;
    expect(st2.isSymbolicLink()).toBe(true);
    expect(f.openCount).toBe(0);
  });

  it('a deleted file is closed the next time its path is looked at', async () => {
    const f = new SharedFiles();
    const p = path.join(dir, 'gone');
    fs.writeFileSync(p, 'x');
    f.read(p, f.lstat(p)!, 0, 1);
    expect(f.openCount).toBe(1);
    await nextTurn();
    fs.rmSync(p);
    expect(f.lstat(p)).toBeNull();
    expect(f.openCount).toBe(0);
  });

  it('closes files unused for IDLE_MS, and never holds more than OPEN_CAP', () => {
    const f = new SharedFiles();
    for (let i = 0; i < OPEN_CAP + 10; i++) {
      const p = path.join(dir, `f${i}`);
      fs.writeFileSync(p, 'x');
      f.read(p, f.lstat(p)!, 0, 1);
    }
    expect(f.openCount).toBe(OPEN_CAP);
    f.closeIdle(Date.now() + IDLE_MS - 1000);
    expect(f.openCount).toBe(OPEN_CAP);
    f.closeIdle(Date.now() + IDLE_MS + 1000);
    expect(f.openCount).toBe(0);
  });
});
