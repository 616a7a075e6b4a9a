import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { homePaths } from '../../agent/src/env';
import { Frame, FrameParser, encode } from '../../agent/src/frame';
import { ReceiverSession } from '../../agent/src/receiver';
import { agentBundle, makeHost, tempRoot, writeConfig, Host } from './helpers';

process.env.TANDEM_QUIET = '1';

const HELLO: Frame = { t: 'HELLO', customer: 'acme', site: 'master', epoch: 1, version: 'test', proto: 1 };
let seq = 0;
const end = (inSync = true): Frame => ({ t: 'BATCH_END', seq: ++seq, changeTime: Date.now(), inSync });
const write = (p: string, data: string, mode = 0o644): Frame => ({ t: 'WRITE', path: p, mode, mtime: 1_700_000_000_000, size: Buffer.byteLength(data), body: Buffer.from(data) });

function open(h: Host, over: { configEpoch?: number; role?: 'master' | 'mirror' } = {}) {
  const sent: Frame[] = [];
  let closed: string | null = null;
  const s = new ReceiverSession({
    dataDir: h.dataDir,
    paths: homePaths(h.home),
    customer: 'acme',
    configEpoch: over.configEpoch ?? 1,
    role: over.role ?? 'mirror',
    send: (f) => sent.push(f),
    close: (_c, r) => (closed = r),
    fsync: false,
  });
  s.recover();
  return {
    s,
    sent,
    closed: () => closed,
    feed: (...frames: Frame[]) => s.onData(Buffer.concat(frames.map(encode))),
    last: () => sent[sent.length - 1],
  };
}

describe('receiver session', () => {
  let root: string;
  let h: Host;
  let outside: string;
  beforeEach(() => {
    root = tempRoot('recv');
    h = makeHost(root, 'mirror');
    outside = path.join(root, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'keep');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const outsideUntouched = (): void => {
    expect(fs.readdirSync(outside)).toEqual(['secret']);
    expect(fs.readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('keep');
  };

  it('applies a batch of writes, dirs, symlinks and deletes, then ACKs', () => {
    const r = open(h);
    fs.writeFileSync(path.join(h.dataDir, 'gone'), 'x');
    r.feed(HELLO, { t: 'MKDIR', path: 'd', mode: 0o750 }, write('d/a.txt', 'alpha', 0o600), { t: 'SYMLINK', path: 'l', target: 'd/a.txt' }, { t: 'DELETE', path: 'gone' }, end());
    expect(r.sent.map((f) => f.t)).toEqual(['ACK', 'ACK']);
    expect(fs.readFileSync(path.join(h.dataDir, 'd/a.txt'), 'utf8')).toBe('alpha');
    expect(fs.statSync(path.join(h.dataDir, 'd/a.txt')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(h.dataDir, 'd')).mode & 0o777).toBe(0o750);
    expect(fs.readlinkSync(path.join(h.dataDir, 'l'))).toBe('d/a.txt');
    expect(fs.existsSync(path.join(h.dataDir, 'gone'))).toBe(false);
    expect(fs.readdirSync(path.join(h.dataDir, '.tandem-staging'))).toEqual([]);
    expect(r.s.state.inSync).toBe(true);
  });

  it('appends only when the overlap matches, else asks for a resend', () => {
    const r = open(h);
    fs.writeFileSync(path.join(h.dataDir, 't.csv'), '0123456789');
    r.feed(HELLO, { t: 'APPEND', path: 't.csv', offset: 6, body: Buffer.from('6789abc') }, end());
    expect(fs.readFileSync(path.join(h.dataDir, 't.csv'), 'utf8')).toBe('0123456789abc');
    expect(r.last()).toMatchObject({ t: 'ACK' });
    expect((r.last() as { resend?: string[] }).resend).toBeUndefined();
    // Overlap differs: the file was rewritten on the sender, not appended to.
    r.feed({ t: 'APPEND', path: 't.csv', offset: 11, body: Buffer.from('XXdef') }, end());
    expect(r.last()).toMatchObject({ t: 'ACK', resend: ['t.csv'] });
    // Gap: receiver has less than the offset.
    r.feed({ t: 'APPEND', path: 't.csv', offset: 50, body: Buffer.from('zz') }, end());
    expect(r.last()).toMatchObject({ t: 'ACK', resend: ['t.csv'] });
    // Missing file.
    r.feed({ t: 'APPEND', path: 'nope.csv', offset: 0, body: Buffer.from('zz') }, end());
    expect(r.last()).toMatchObject({ t: 'ACK', resend: ['nope.csv'] });
    expect(fs.readFileSync(path.join(h.dataDir, 't.csv'), 'utf8')).toBe('0123456789abc');
  });

  it.each([
    ['a .. path', write('../outside/secret', 'pwned')],
    ['an absolute path', write('/tmp/tandem-absolute-path-test', 'pwned')],
    ['a path through a symlink that escapes', write('esc/secret', 'pwned')],
    ['an append through a symlink', { t: 'APPEND', path: 'esc/secret', offset: 0, body: Buffer.from('keep-pwned') } as Frame],
    ['a symlink pointing outside', { t: 'SYMLINK', path: 'x', target: '../outside/secret' } as Frame],
    ['a path in the staging dir', write('.tandem-staging/x', 'pwned')],
    ['a delete through a symlink', { t: 'DELETE', path: 'esc/secret' } as Frame],
  ])('refuses %s with a NAK, applies nothing of the batch, stays up', (_n, bad) => {
    fs.symlinkSync(outside, path.join(h.dataDir, 'esc'));
    const r = open(h);
    r.feed(HELLO, write('ok-before', 'x'), bad, write('ok-after', 'y'), end());
    expect(r.last()).toMatchObject({ t: 'NAK' });
    expect(r.closed()).toBeNull();
    outsideUntouched();
    // Nothing of the failed batch landed: not even its valid files.
    expect(fs.existsSync(path.join(h.dataDir, 'ok-before'))).toBe(false);
    expect(fs.existsSync(path.join(h.dataDir, 'ok-after'))).toBe(false);
    // The link still works.
    r.feed(write('next', 'z'), end());
    expect(r.last()).toMatchObject({ t: 'ACK' });
    expect(fs.readFileSync(path.join(h.dataDir, 'next'), 'utf8')).toBe('z');
    expect(r.s.state.lastError).toBeNull();
  });

  it('closes the link on a stale epoch and remembers the highest epoch seen', () => {
    const r1 = open(h);
    r1.feed({ ...HELLO, epoch: 5 });
    expect(r1.last()).toMatchObject({ t: 'ACK', seq: 0 });
    const r2 = open(h);
    r2.feed({ ...HELLO, epoch: 4 }, write('x', 'stale'), end());
    expect(r2.last()).toMatchObject({ t: 'NAK', fatal: true });
    expect(r2.closed()).toMatch(/stale epoch: sender master has epoch 4, this host has seen 5/);
    expect(fs.existsSync(path.join(h.dataDir, 'x'))).toBe(false);
  });

  it.each([
    ['a sender below this host config epoch', { configEpoch: 3 }, HELLO, /stale epoch/],
    ['any sender when this host is the master', { role: 'master' as const }, HELLO, /is the master/],
    ['another customer', {}, { ...HELLO, customer: 'other' }, /customer "other"/],
    ['a frame before HELLO', {}, write('x', 'y'), /first frame must be HELLO/],
  ])('refuses %s', (_n, over, first, msg) => {
    const r = open(h, over);
    r.feed(first as Frame);
    expect(r.closed()).toMatch(msg);
    expect(r.last()).toMatchObject({ t: 'NAK', fatal: true });
  });

  it('closes on a malformed frame without throwing', () => {
    const r = open(h);
    r.feed(HELLO);
    expect(() => r.s.onData(Buffer.from([0, 0, 0, 2, 0, 0, 0, 0, 0x7b, 0x7b]))).not.toThrow();
    expect(r.closed()).toMatch(/not JSON/);
  });
});

function frames(...fs_: Frame[]): Buffer {
  return Buffer.concat(fs_.map(encode));
}

function runReceive(
  h: Host,
  input: Buffer,
  env: Record<string, string> = {},
  as?: { uid: number; gid: number; bundle: string },
): Promise<{ code: number | null; signal: string | null; replies: Frame[] }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [as?.bundle ?? agentBundle(), 'receive'], {
      env: { ...process.env, TANDEM_AGENT_HOME: h.home, SSH_ORIGINAL_COMMAND: 'tandem-receive', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(as && { uid: as.uid, gid: as.gid }),
    });
    const parser = new FrameParser();
    const replies: Frame[] = [];
    p.stdout.on('data', (c: Buffer) => replies.push(...parser.push(c)));
    p.stdin.on('error', () => undefined);
    p.on('close', (code, signal) => resolve({ code, signal, replies }));
    p.stdin.end(input);
  });
}

describe('agent.js receive (a real process over pipes)', () => {
  let root: string;
  let h: Host;
  beforeAll(() => agentBundle());
  beforeEach(() => {
    root = tempRoot('recvproc');
    h = makeHost(root, 'mirror');
    writeConfig(h, { role: 'mirror', feedFrom: 'master' });
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('speaks frames on stdin/stdout', async () => {
    const r = await runReceive(h, frames(HELLO, write('a', '1'), end()));
    expect(r.replies.map((f) => f.t)).toEqual(['ACK', 'ACK']);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(h.dataDir, 'a'), 'utf8')).toBe('1');
  });

  it('after a SIGKILL mid-batch, the journal brings the mirror to the whole batch', async () => {
    fs.writeFileSync(path.join(h.dataDir, 'a'), 'v1');
    fs.writeFileSync(path.join(h.dataDir, 'b'), 'v1');
    fs.writeFileSync(path.join(h.dataDir, 't.csv'), 'ticks:1\n');
    const batch = frames(HELLO, write('a', 'v2'), { t: 'APPEND', path: 't.csv', offset: 0, body: Buffer.from('ticks:1\nticks:2\n') }, write('b', 'v2'), end());
    const r = await runReceive(h, batch, { TANDEM_TEST_CRASH_AFTER_OPS: '2' });
    expect(r.signal).toBe('SIGKILL');
    // What the crash left: the first two ops published, the third not, the journal on disk.
    expect(fs.readFileSync(path.join(h.dataDir, 'a'), 'utf8')).toBe('v2');
    expect(fs.readFileSync(path.join(h.dataDir, 'b'), 'utf8')).toBe('v1');
    expect(fs.existsSync(path.join(h.home, 'state/journal.json'))).toBe(true);
    // The next receiver start replays it (idempotently: the append is not doubled).
    const r2 = await runReceive(h, frames(HELLO));
    expect(r2.replies[0]).toMatchObject({ t: 'ACK', seq: 0 });
    expect(fs.readFileSync(path.join(h.dataDir, 'a'), 'utf8')).toBe('v2');
    expect(fs.readFileSync(path.join(h.dataDir, 'b'), 'utf8')).toBe('v2');
    expect(fs.readFileSync(path.join(h.dataDir, 't.csv'), 'utf8')).toBe('ticks:1\nticks:2\n');
    expect(fs.existsSync(path.join(h.home, 'state/journal.json'))).toBe(false);
    expect(fs.readdirSync(path.join(h.dataDir, '.tandem-staging'))).toEqual(['rsync-tmp'].filter((x) => fs.existsSync(path.join(h.dataDir, '.tandem-staging', x))));
  });

  it('keeps setuid and setgid on a file it appends to as an unprivileged account, as the sync account is', async () => {
    // The kernel drops setuid and setgid on a write by a process without CAP_FSETID; on the
    // master (the platform writing as its owner or root) they stay. Found by the lab differential
    // (seed 262633264): the mirrors kept 01755 where the master had 07755.
    expect(process.getuid?.()).toBe(0); // the suite runs as root (the lab suites need it); this test must not skip
    // The bundle's own temp dir is root's (0700): the unprivileged receiver runs a copy.
    const nobody = { uid: 65534, gid: 65534, bundle: path.join(root, 'agent.js') };
    fs.copyFileSync(agentBundle(), nobody.bundle);
    const t = path.join(h.dataDir, 't.csv');
    fs.writeFileSync(t, 'ticks:1\n');
    const own = (p: string): void => {
      fs.lchownSync(p, nobody.uid, nobody.gid);
      if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) own(path.join(p, e));
    };
    own(root);
    fs.chmodSync(t, 0o7755); // after the chown, which clears them
    const r = await runReceive(h, frames(HELLO, { t: 'APPEND', path: 't.csv', offset: 0, body: Buffer.from('ticks:1\nticks:2\n') }, end()), {}, nobody);
    expect(r.replies.map((f) => f.t)).toEqual(['ACK', 'ACK']);
    expect(fs.readFileSync(t, 'utf8')).toBe('ticks:1\nticks:2\n');
    expect((fs.statSync(t).mode & 0o7777).toString(8)).toBe('7755');
    expect(fs.statSync(t).uid).toBe(nobody.uid);
  });

  it.each([
    ['a shell', 'bash -i'],
    ['an rsync that would read the mirror', 'rsync --server --sender -vlogDtpre.iLsfxCIvu . /etc'],
    ['nothing', ''],
  ])('refuses %s as the forced command', (_n, cmd) => {
    const r = spawnSync(process.execPath, [agentBundle(), 'receive'], {
      env: { ...process.env, TANDEM_AGENT_HOME: h.home, SSH_ORIGINAL_COMMAND: cmd },
      input: '',
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(fs.readFileSync(path.join(h.home, 'log/receiver.log'), 'utf8')).toMatch(/refused/);
  });
});
