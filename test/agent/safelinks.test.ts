/**
 * The symlink policy against the real rsync: the reconcile runs `rsync --safe-links --delete`,
 * so a link the stream sends but rsync calls unsafe is deleted by every reconcile (found by the
 * differential test: rsync 3.5 drops `./../../x`, which the older lexical rule mirrored). Seeded
 * random targets at random depths; the agent's linkIsMirrored must keep exactly what this
 * machine's rsync keeps. The model of the differential test (test/support/fsops.ts) too.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { linkIsMirrored } from '../../agent/src/pathsafe';
import { Rng, linkIsMirrored as modelIsMirrored } from '../support/fsops';

const FIXED = ['./x', 'x/./y', './../y', 'x/../y', '../../a/b/x', '../../../r/x', '../../../../x', 'x//y', '.', '..', 'x/..', '../.', './../../../r/x', '../', '..//..', 'a/b/../../..'];

function randomTarget(r: Rng): string {
  const n = r.pick([1, 2, 3, 4, 5]);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(r.pick(['..', '..', '.', 'x', 'y', '', 'r', 'a']));
  const t = parts.join('/');
  return t === '' || t.startsWith('/') ? 'x' : t;
}

describe('symlink policy = rsync --safe-links', () => {
  it('keeps exactly the links this machine rsync keeps (fixed cases and 400 seeded ones)', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-safelinks-'));
    try {
      const src = path.join(root, 'src');
      const dst = path.join(root, 'dst');
      const dirs = ['r', 'r/a', 'r/a/b', 'r/a/b/c'];
      for (const d of dirs) fs.mkdirSync(path.join(src, d), { recursive: true });
      fs.mkdirSync(dst);
      const seed = 20261202;
      const r = new Rng(seed);
      const links: { rel: string; target: string }[] = [];
      const targets = [...FIXED, ...Array.from({ length: 400 }, () => randomTarget(r))];
      targets.forEach((target, i) => {
        const dir = dirs[i % dirs.length];
        const rel = `${dir}/l${i}`;
        fs.symlinkSync(target, path.join(src, rel));
        links.push({ rel, target });
      });
      const res = spawnSync('rsync', ['-a', '--safe-links', `${src}/`, `${dst}/`], { encoding: 'utf8' });
      expect(res.status).toBe(0);
      const wrong: string[] = [];
      for (const l of links) {
        let kept = true;
        try {
          fs.lstatSync(path.join(dst, l.rel));
        } catch {
          kept = false;
        }
        const agent = linkIsMirrored(dst, l.rel, l.target);
        const model = modelIsMirrored(l.rel.split('/').length - 1, l.target);
        if (agent !== kept || model !== kept) wrong.push(`${l.rel} -> ${JSON.stringify(l.target)}: rsync ${kept ? 'keeps' : 'drops'}, agent ${agent}, model ${model}`);
      }
      expect(wrong).toEqual([]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
