/** The agent's side of failover: the dataDir digest (what "equal data" means) and the fence gate. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AgentConfig } from '../../agent/src/contract';
import { digestTree, fenceReason, writeRunFence } from '../../agent/src/fence';

describe('digestTree', () => {
  let a: string;
  let b: string;
  beforeEach(() => {
    a = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-a-'));
    b = fs.mkdtempSync(path.join(os.tmpdir(), 'dg-b-'));
  });
  afterEach(() => {
    fs.rmSync(a, { recursive: true, force: true });
    fs.rmSync(b, { recursive: true, force: true });
  });
  const put = (root: string, rel: string, text: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text, { mode });
  };

  it('equal trees give equal digests whatever the modes, staging and excluded files', () => {
    put(a, 'records.log', '1 1\n2 2\n');
    put(a, 'd/x', 'x');
    fs.symlinkSync('d/x', path.join(a, 'link'));
    fs.symlinkSync('/etc/passwd', path.join(a, 'abs')); // not mirrored: not counted
    put(b, 'records.log', '1 1\n2 2\n', 0o600);
    put(b, 'd/x', 'x');
    fs.symlinkSync('d/x', path.join(b, 'link'));
    put(b, '.tandem-staging/tmp1', 'half');
    put(b, 'scratch.tmp', 'excluded');
    const da = digestTree(a, ['*.tmp']);
    const db = digestTree(b, ['*.tmp']);
    expect(db.digest).toBe(da.digest);
    expect(da).toMatchObject({ files: 2, bytes: 9 });
  });

  it('one byte more (a record not yet applied) changes it; --list names the entry', () => {
    put(a, 'records.log', '1 1\n2 2\n');
    put(b, 'records.log', '1 1\n');
    expect(digestTree(a, []).digest).not.toBe(digestTree(b, []).digest);
    const la = digestTree(a, [], true).entries!;
    const lb = digestTree(b, [], true).entries!;
    expect(Object.keys(la).filter((k) => la[k] !== lb[k])).toEqual(['records.log']);
  });
});

describe('fenceReason (the daemon gate)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fence-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = (role: 'master' | 'mirror') => ({ role, epoch: 1, children: [] }) as unknown as AgentConfig;

  it.each([
    ['a mirror is never gated (epochs fence it)', 'mirror', true, null, null],
    ['a master without the boot hook is not gated', 'master', false, null, null],
    ['a master with the hook, before the boot check, is fenced', 'master', true, null, /waiting for the boot fence check/],
    ['a master the boot check confirmed feeds', 'master', true, { fenced: false, reason: 'confirmed by chi', at: '' }, null],
    ['a master that reached nobody stays fenced and says so', 'master', true, { fenced: true, reason: 'reached no other site', at: '' }, /fenced: reached no other site/],
  ] as const)('%s', (_n, role, hook, run, want) => {
    const hookPath = path.join(dir, 'hook');
    const runPath = path.join(dir, 'run', 'state.json');
    if (hook) fs.writeFileSync(hookPath, '#!/bin/sh\n');
    if (run) writeRunFence(run, runPath);
    const r = fenceReason(cfg(role), hookPath, runPath);
    if (want === null) expect(r).toBeNull();
    else expect(r).toMatch(want);
  });
});
