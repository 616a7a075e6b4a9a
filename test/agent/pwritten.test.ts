/**
 * fsops.ts pwritten: the paths the documented pwrite limit may leave different in content. The
 * differential tests fail on any content difference outside it, so it must follow a written file
 * through renames (its own and its parents') and to every name of a hard-linked file.
 */
import { pwritten, type Op } from '../support/fsops';

const ops = (...o: object[]) => o as Op[];

describe('pwritten', () => {
  it('follows renames of the file and of a parent directory', () => {
    const s = pwritten(ops({ op: 'pwrite', p: 'd/f', at: 3, n: 2, fill: 1 }, { op: 'rename', from: 'd/f', to: 'd/g' }, { op: 'rename', from: 'd', to: 'e/d2' }));
    expect([...s]).toEqual(['e/d2/g']);
  });

  it('a pwrite through one name of a hard-linked file counts for every name, linked before or after', () => {
    const s = pwritten(
      ops(
        { op: 'link', from: 'a', to: 'b' },
        { op: 'rename', from: 'a', to: 'x/a2' },
        { op: 'pwrite', p: 'b', at: 0, n: 1, fill: 1 },
        { op: 'link', from: 'b', to: 'c' },
        { op: 'rename', from: 'x', to: 'y' },
      ),
    );
    expect([...s].sort()).toEqual(['b', 'c', 'y/a2']);
  });

  it('a file never written in the middle is not in it', () => {
    const s = pwritten(ops({ op: 'link', from: 'a', to: 'b' }, { op: 'append', p: 'a', n: 3, fill: 1 }, { op: 'pwrite', p: 'z', at: 0, n: 1, fill: 1 }));
    expect([...s]).toEqual(['z']);
  });

  it('a write through a hard link name that then goes (seeds 34 and 38): the other names count; a name that stays does not', () => {
    const removed = pwritten(ops({ op: 'link', from: 'a/f', to: 'b/g' }, { op: 'append', p: 'b/g', n: 9, fill: 1 }, { op: 'rmrf', p: 'b' }, { op: 'rename', from: 'a', to: 'c' }));
    expect([...removed].sort()).toEqual(['b/g', 'c/f']);
    const over = pwritten(ops({ op: 'link', from: 'f', to: 'g' }, { op: 'rewrite', p: 'g', fill: 2 }, { op: 'atomic', p: 'g', n: 3, fill: 3, mode: 0o644 }));
    expect(over.has('f')).toBe(true);
    // Seed 1's bug was a write through a name that stayed: the agent must get that one right.
    const stays = pwritten(ops({ op: 'link', from: 'f', to: 'g' }, { op: 'replace', p: 'g', n: 36, fill: 4 }, { op: 'rename', from: 'h', to: 'i' }));
    expect([...stays]).toEqual([]);
  });
});
