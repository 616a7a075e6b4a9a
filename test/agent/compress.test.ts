/**
 * Z frames: the sender deflates a tick's data frames once and the receiver inflates them, only
 * between peers where the receiver offered it in the ACK of the HELLO. Real daemons and
 * receivers for the end-to-end cases; the receiver's checks of hostile Z frames in-process.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { homePaths } from '../../agent/src/env';
import { FEATURE_DEFLATE, Frame, FrameParser, Z_MAX_INFLATED, encode, encodeZ, unpackZ } from '../../agent/src/frame';
import { ReceiverSession, type ReceiverOptions } from '../../agent/src/receiver';
import { Host, agentBundle, child, makeHost, sameTree, startDaemon, status, stopAll, tempRoot, waitFor, writeConfig } from './helpers';

jest.setTimeout(60000);
process.env.TANDEM_QUIET = '1';

const HELLO: Frame = { t: 'HELLO', customer: 'acme', site: 'm', epoch: 1, version: 'test', proto: 1 };
const END = (seq: number): Frame => ({ t: 'BATCH_END', seq, changeTime: 1, inSync: true });
const write = (p: string, data: string): Frame => ({ t: 'WRITE', path: p, mode: 0o644, mtime: 1_700_000_000_000, size: Buffer.byteLength(data), body: Buffer.from(data) });
/** A Z frame around these frames, with the size it declares overridable. */
const zOf = (frames: Frame[], size?: number): Buffer => {
  const plain = Buffer.concat(frames.map(encode));
  return encode({ t: 'Z', size: size ?? plain.length, body: zlib.deflateRawSync(plain) });
};
/** A Z frame around raw bytes (not necessarily whole frames). */
const zRaw = (plain: Buffer, size = plain.length): Buffer => encode({ t: 'Z', size, body: zlib.deflateRawSync(plain, { level: 1 }) });

describe('Z frames in the receiver', () => {
  let root: string;
  let h: Host;
  beforeEach(() => {
    root = tempRoot('compress');
    h = makeHost(root, 'mirror');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  function session(over: Pick<ReceiverOptions, 'features'> = {}) {
    const sent: Frame[] = [];
    const closed: string[] = [];
    const s = new ReceiverSession({
      dataDir: h.dataDir,
      paths: homePaths(h.home),
      customer: 'acme',
      configEpoch: 1,
      role: 'mirror',
      send: (f) => void sent.push(f),
      close: (_code, reason) => void closed.push(reason),
      fsync: false,
      maxBody: 1024 * 1024,
      ...over,
    });
    s.recover();
    return { s, sent, closed };
  }

  /** Everything in dataDir but the (then empty) staging dir. */
  const contents = (): string[] => {
    const out: string[] = [];
    const walk = (rel: string): void => {
      for (const e of fs.readdirSync(path.join(h.dataDir, rel), { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        out.push(r);
        if (e.isDirectory()) walk(r);
      }
    };
    walk('');
    return out.sort();
  };

  it('advertises deflate and applies a Z batch as if its frames came one by one', () => {
    const { s, sent, closed } = session();
    s.onData(encode(HELLO));
    expect(sent[0]).toMatchObject({ t: 'ACK', seq: 0, features: expect.arrayContaining([FEATURE_DEFLATE]) });
    s.onData(
      Buffer.concat([zOf([write('a.txt', 'alpha'), { t: 'MKDIR', path: 'd', mode: 0o755 }, write('d/b.txt', 'beta'.repeat(1000)), { t: 'SYMLINK', path: 'l', target: 'a.txt' }]), encode(END(1))]),
    );
    expect(closed).toEqual([]);
    expect(sent[1]).toMatchObject({ t: 'ACK', seq: 1 });
    expect(fs.readFileSync(path.join(h.dataDir, 'd/b.txt'), 'utf8')).toBe('beta'.repeat(1000));
    expect(fs.readlinkSync(path.join(h.dataDir, 'l'))).toBe('a.txt');
    // An APPEND inside a Z is checked against the file like one on the stream.
    s.onData(
      Buffer.concat([
        zOf([
          { t: 'APPEND', path: 'a.txt', offset: 1, body: Buffer.from('lpha+more') },
          { t: 'DELETE', path: 'l' },
        ]),
        encode(END(2)),
      ]),
    );
    expect(sent[2]).toMatchObject({ t: 'ACK', seq: 2 });
    expect(sent[2]).not.toHaveProperty('resend');
    expect(fs.readFileSync(path.join(h.dataDir, 'a.txt'), 'utf8')).toBe('alpha+more');
    expect(contents()).toEqual(['.tandem-staging', 'a.txt', 'd', 'd/b.txt']);
  });

  it('a refused path inside a Z fails the whole batch, like on the stream, and the link stays up', () => {
    const { s, sent, closed } = session();
    s.onData(encode(HELLO));
    s.onData(Buffer.concat([zOf([write('ok.txt', 'x'), write('../escape', 'y'), write('ok2.txt', 'z')]), encode(END(1))]));
    expect(sent[1]).toMatchObject({ t: 'NAK', seq: 1 });
    expect((sent[1] as { fatal?: boolean }).fatal).toBeFalsy();
    expect(closed).toEqual([]);
    expect(contents()).toEqual(['.tandem-staging']);
    s.onData(Buffer.concat([zOf([write('ok.txt', 'x')]), encode(END(2))]));
    expect(sent[2]).toMatchObject({ t: 'ACK', seq: 2 });
    expect(contents()).toEqual(['.tandem-staging', 'ok.txt']);
  });

  const pre = write('pre.txt', 'staged before the bad Z');
  const bomb = encode({ t: 'Z', size: Z_MAX_INFLATED, body: zlib.deflateRawSync(Buffer.alloc(Z_MAX_INFLATED + 4096)) });
  it.each<[string, () => Buffer, RegExp]>([
    ['a body that is not deflate', () => encode({ t: 'Z', size: 20, body: Buffer.from('this is not deflate data at all') }), /Z frame does not inflate/],
    ['a deflate bomb over the cap', () => bomb, /Z frame does not inflate: .*larger than 33554432/],
    ['a declared size over the cap', () => encode({ t: 'Z', size: Z_MAX_INFLATED + 1, body: zlib.deflateRawSync(encode(pre)) }), /malformed Z frame: needs size/],
    ['a size that disagrees with the content', () => zOf([pre], encode(pre).length + 1), /inflates to \d+ bytes, not the declared/],
    ['a Z inside a Z', () => zRaw(zOf([pre])), /only hold data frames, not Z/],
    ['a HELLO inside', () => zOf([HELLO]), /only hold data frames, not HELLO/],
    ['a BATCH_END inside', () => zOf([write('x', 'x'), END(1)]), /only hold data frames, not BATCH_END/],
    ['a HEARTBEAT inside', () => zOf([{ t: 'HEARTBEAT', through: 5 }]), /only hold data frames, not HEARTBEAT/],
    ['an ACK inside', () => zOf([{ t: 'ACK', seq: 1, appliedTime: 1 }]), /only hold data frames, not ACK/],
    ['a trailing partial frame', () => zRaw(Buffer.concat([encode(write('x', 'x')), encode(write('y', 'y')).subarray(0, 12)])), /ends inside a frame/],
    ['an inner frame over the body cap', () => zRaw(encode(write('big', 'x'.repeat(1024 * 1024 + 1)))), /exceeds cap/],
    ['a malformed inner frame', () => zRaw(Buffer.concat([encode(write('x', 'x')), Buffer.from([0, 0, 0, 3, 0, 0, 0, 0]), Buffer.from('{{{')])), /not JSON/],
  ])('closes the link on %s, applying nothing', (_name, z, msg) => {
    const { s, sent, closed } = session();
    s.onData(encode(HELLO));
    expect(() => s.onData(Buffer.concat([encode(pre), z(), encode(END(1))]))).not.toThrow();
    expect(closed).toHaveLength(1);
    expect(closed[0]).toMatch(msg);
    expect(sent[sent.length - 1]).toMatchObject({ t: 'NAK', seq: -1, fatal: true });
    expect(sent.filter((f) => f.t === 'ACK' && f.seq === 1)).toEqual([]);
    expect(contents()).toEqual(['.tandem-staging']);
    expect(fs.readdirSync(path.join(h.dataDir, '.tandem-staging'))).toEqual([]);
  });

  it('refuses a Z before the HELLO', () => {
    const { s, sent, closed } = session();
    s.onData(Buffer.concat([zOf([pre]), encode(HELLO), encode(END(1))]));
    expect(closed[0]).toMatch(/first frame must be HELLO, got Z/);
    expect(sent).toEqual([expect.objectContaining({ t: 'NAK', seq: -1, fatal: true })]);
    expect(contents()).toEqual(['.tandem-staging']);
  });

  it('refuses a Z from a sender it did not offer deflate to', () => {
    // What receive-cmd passes for TANDEM_TEST_NO_DEFLATE=1: a receiver older than Z frames.
    const { s, sent, closed } = session({ features: [] });
    s.onData(encode(HELLO));
    expect(sent[0]).toMatchObject({ t: 'ACK', seq: 0, features: [] });
    s.onData(Buffer.concat([zOf([pre]), encode(END(1))]));
    expect(closed[0]).toMatch(/did not offer deflate/);
    expect(contents()).toEqual(['.tandem-staging']);
  });

  it('encodeZ and unpackZ round-trip', () => {
    const frames: Frame[] = [write('a', 'aaa'), { t: 'DELETE', path: 'b' }, { t: 'APPEND', path: 'c', offset: 3, body: Buffer.from('tick\n') }];
    const z = encodeZ(Buffer.concat(frames.map(encode)), 1);
    const [outer] = new FrameParser().push(z);
    if (outer.t !== 'Z') throw new Error(`got ${outer.t}`);
    expect(unpackZ(outer)).toEqual(frames);
  });
});

describe('daemon with Z frames (local transport)', () => {
  let root: string;
  let m: Host, a: Host, b: Host;
  beforeAll(() => agentBundle());
  beforeEach(() => {
    root = tempRoot('compress-e2e');
    [m, a, b] = ['master', 'a', 'b'].map((s) => makeHost(root, s));
  });
  afterEach(async () => {
    await stopAll();
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  /**
   * Streams appends and rewrites to two mirrors, then returns the bytes each link wrote for them,
   * the bytes that changed on the master and how many of them were appended (every appended
   * byte has to be sent; a rewrite can be coalesced with the next one).
   */
  async function stream(env: Record<string, string>): Promise<{ sent: number[]; changed: number; appended: number }> {
    fs.mkdirSync(path.join(m.dataDir, 'ticks'));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(m.dataDir, `ticks/s${i}.csv`), 'time,sym,px,qty\n');
    for (const h of [a, b]) writeConfig(h, { role: 'mirror', feedFrom: 'master' });
    writeConfig(m, { role: 'master', children: [child(a), child(b)] });
    startDaemon(m, env);
    await waitFor('seed', () => sameTree(m.dataDir, a.dataDir) && sameTree(m.dataDir, b.dataDir) && status(m).children.every((c) => c.state === 'in-sync'));
    await new Promise((r) => setTimeout(r, 1100)); // status is rewritten every second
    const before = status(m).children.map((c) => c.bytesSent!);
    let changed = 0;
    let appended = 0;
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 5; i++) {
        let lines = '';
        for (let k = 0; k < 8; k++) lines += `${1_700_000_000_000 + round * 40 + k},SYM${i},${(100 + ((round * 7 + k) % 13) / 100).toFixed(5)},${1 + k}\n`;
        fs.appendFileSync(path.join(m.dataDir, `ticks/s${i}.csv`), lines);
        changed += lines.length;
        appended += lines.length;
      }
      if (round % 4 === 0) {
        const doc = JSON.stringify({ round, positions: Array.from({ length: 40 }, (_, k) => ({ sym: `SYM${k}`, qty: k * round, side: k % 2 ? 'buy' : 'sell' })) });
        fs.writeFileSync(path.join(m.dataDir, 'state.json.tmp'), doc);
        fs.renameSync(path.join(m.dataDir, 'state.json.tmp'), path.join(m.dataDir, 'state.json'));
        changed += doc.length;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitFor('mirrors identical', () => sameTree(m.dataDir, a.dataDir) && sameTree(m.dataDir, b.dataDir), 10000, 5);
    await waitFor('in-sync', () => status(m).children.every((c) => c.state === 'in-sync'));
    await new Promise((r) => setTimeout(r, 1100));
    return { sent: status(m).children.map((c, i) => c.bytesSent! - before[i]), changed, appended };
  }

  it('streams appends and writes deflated: mirrors byte-identical, a fraction of the bytes on the link', async () => {
    const { sent, changed } = await stream({});
    // Plain frames carry every changed byte plus headers and append context, so a link that
    // wrote well under the changed bytes can only have sent Z frames, which the receivers
    // inflated into byte-identical mirrors.
    for (const s of sent) expect(s).toBeLessThan(changed / 3);
  });

  it('sends plain frames to a receiver that does not offer deflate (an older agent)', async () => {
    // Inherited by the receivers the local transport spawns: they advertise nothing, like an
    // agent from before Z frames, and would close the link on a Z.
    const { sent, appended } = await stream({ TANDEM_TEST_NO_DEFLATE: '1' });
    for (const s of sent) expect(s).toBeGreaterThan(appended);
  });
});
