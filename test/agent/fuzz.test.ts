/**
 * Fuzz of the receiver's input: random byte streams, and valid frame streams (Z frames among
 * them, some holding control frames, declaring a wrong size or cut short) that are then
 * mutated (bytes flipped, cut, spliced), fed into the parser + applier over a temp dataDir
 * that holds an escaping symlink. Asserts: no exception escapes, nothing outside dataDir is
 * created or changed, and the real process only ever ends with a controlled exit code.
 */
import { spawnSync } from 'child_process';
import fc from 'fast-check';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { homePaths } from '../../agent/src/env';
import { Frame, encode } from '../../agent/src/frame';
import { ReceiverSession } from '../../agent/src/receiver';
import { agentBundle, makeHost, tempRoot, writeConfig } from './helpers';

process.env.TANDEM_QUIET = '1';

const nastyPaths = [
  'a',
  'd/b',
  'esc/secret',
  'esc/new',
  '../outside/secret',
  '../outside/new',
  '/tmp/x',
  'd/../../outside/x',
  '.tandem-staging/x',
  '.tandem-staging',
  'd',
  'lnk',
  'lnk/x',
  'a\0b',
  '',
  '.',
  '..',
  'd//x',
  'dir/sub/f',
];
const arbPath = fc.oneof(fc.constantFrom(...nastyPaths), fc.string({ maxLength: 20 }));
const arbBody = fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u));

const arbData: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ p: arbPath, mode: fc.integer({ min: 0, max: 0o7777 }), b: arbBody }).map(({ p, mode, b }) => ({ t: 'WRITE' as const, path: p, mode, mtime: 1, size: b.length, body: b })),
  fc.record({ t: fc.constant('APPEND' as const), path: arbPath, offset: fc.integer({ min: 0, max: 100 }), body: arbBody }),
  fc.record({ t: fc.constant('DELETE' as const), path: arbPath }),
  fc.record({ t: fc.constant('MKDIR' as const), path: arbPath, mode: fc.integer({ min: 0, max: 0o777 }) }),
  fc.record({ t: fc.constant('SYMLINK' as const), path: arbPath, target: fc.oneof(fc.constantFrom('../outside', '/etc', 'a', '../../x', 'd/../a', '.tandem-staging'), fc.string({ maxLength: 10 })) }),
);
const arbControl: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    t: fc.constant('HELLO' as const),
    customer: fc.constantFrom('acme', 'x'),
    site: fc.constant('m'),
    epoch: fc.integer({ min: 0, max: 3 }),
    version: fc.constant('f'),
    proto: fc.constantFrom(1, 2),
  }),
  fc.record({ t: fc.constant('BATCH_END' as const), seq: fc.nat(100), changeTime: fc.nat(), inSync: fc.boolean() }),
  fc.record({ t: fc.constant('HEARTBEAT' as const), through: fc.option(fc.nat(), { nil: null }) }),
  fc.record({ t: fc.constant('ACK' as const), seq: fc.nat(5), appliedTime: fc.nat() }),
);
/** Z frames: mostly data frames with hostile paths, sometimes a control frame inside, a wrong size or a cut. */
const arbZ: fc.Arbitrary<Frame> = fc
  .record({
    inner: fc.array(fc.oneof({ arbitrary: arbData, weight: 4 }, { arbitrary: arbControl, weight: 1 }), { maxLength: 6 }),
    skew: fc.constantFrom(0, 0, 0, 0, 1, -1),
    cut: fc.constantFrom(0, 0, 0, 0, 1, 5),
  })
  .map(({ inner, skew, cut }) => {
    const plain = Buffer.concat(inner.map(encode));
    const z = zlib.deflateRawSync(plain);
    return { t: 'Z' as const, size: Math.max(0, plain.length + skew), body: cut ? z.subarray(0, Math.max(0, z.length - cut)) : z };
  });
const arbFrame: fc.Arbitrary<Frame> = fc.oneof({ arbitrary: arbData, weight: 5 }, { arbitrary: arbControl, weight: 4 }, { arbitrary: arbZ, weight: 2 });

type Mutation = { kind: 'flip'; at: number; v: number } | { kind: 'cut'; at: number } | { kind: 'splice'; at: number; bytes: Uint8Array };
const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 12 }) }),
);

function mutate(buf: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] = m.v;
    else if (m.kind === 'cut') b = b.subarray(0, at);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
  }
  return b;
}

function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      out.push(`${path.relative(dir, p)} ${st.mode} ${e.isFile() ? fs.readFileSync(p, 'latin1') : e.isSymbolicLink() ? fs.readlinkSync(p) : ''}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

describe('receiver fuzz', () => {
  const root = tempRoot('fuzz');
  const h = makeHost(root, 'mirror');
  const outside = path.join(root, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'keep');
  fs.symlinkSync(outside, path.join(h.dataDir, 'esc'));
  fs.symlinkSync('/etc', path.join(h.dataDir, 'lnk'));
  const before = snapshot(outside);
  const rootEntries = fs.readdirSync(root).sort();
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  const feed = (chunks: Buffer[]): void => {
    fs.rmSync(homePaths(h.home).receiverState, { force: true });
    const s = new ReceiverSession({
      dataDir: h.dataDir,
      paths: homePaths(h.home),
      customer: 'acme',
      configEpoch: 1,
      role: 'mirror',
      send: (f) => void encode(f),
      close: () => undefined,
      fsync: false,
      maxBody: 1024 * 1024,
    });
    s.recover();
    for (const c of chunks) s.onData(c);
    s.onEnd();
  };

  const check = (): void => {
    expect(snapshot(outside)).toEqual(before);
    expect(fs.readdirSync(root).sort()).toEqual(rootEntries);
    expect(fs.readlinkSync(path.join(h.dataDir, 'esc'))).toBe(outside);
  };

  it('survives valid-looking frame streams with hostile paths', () => {
    fc.assert(
      fc.property(fc.array(arbFrame, { maxLength: 25 }), fc.boolean(), (frames, withHello) => {
        const hello: Frame[] = withHello ? [{ t: 'HELLO', customer: 'acme', site: 'm', epoch: 1, version: 'f', proto: 1 }] : [];
        expect(() => feed([Buffer.concat([...hello, ...frames].map(encode))])).not.toThrow();
        check();
      }),
      { numRuns: 400 },
    );
  });

  it('survives mutated streams cut into random chunks', () => {
    fc.assert(
      fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 15 }), fc.array(arbMutation, { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 }), (frames, ms, cuts) => {
        const hello: Frame = { t: 'HELLO', customer: 'acme', site: 'm', epoch: 1, version: 'f', proto: 1 };
        const bytes = mutate(Buffer.concat([hello, ...frames].map(encode)), ms);
        const points = [...new Set(cuts.map((c) => (bytes.length ? c % bytes.length : 0)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of [...points, bytes.length]) {
          chunks.push(bytes.subarray(prev, p));
          prev = p;
        }
        expect(() => feed(chunks)).not.toThrow();
        check();
      }),
      { numRuns: 400 },
    );
  });

  it('survives random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
        expect(() => feed([Buffer.from(u)])).not.toThrow();
        check();
      }),
      { numRuns: 300 },
    );
  });

  it('the real receiver process ends with a controlled exit on hostile input', () => {
    writeConfig(h, { role: 'mirror', feedFrom: 'm' });
    const samples = fc.sample(fc.tuple(fc.array(arbFrame, { maxLength: 10 }), fc.array(arbMutation, { maxLength: 3 })), { numRuns: 12, seed: 42 });
    for (const [frames, ms] of samples) {
      const hello: Frame = { t: 'HELLO', customer: 'acme', site: 'm', epoch: 1, version: 'f', proto: 1 };
      const input = mutate(Buffer.concat([hello, ...frames].map(encode)), ms);
      fs.rmSync(homePaths(h.home).receiverState, { force: true });
      const r = spawnSync(process.execPath, [agentBundle(), 'receive'], {
        env: { ...process.env, TANDEM_AGENT_HOME: h.home, SSH_ORIGINAL_COMMAND: 'tandem-receive' },
        input,
        encoding: 'latin1',
        timeout: 10000,
      });
      expect(r.signal).toBeNull();
      expect([0, 3]).toContain(r.status);
      expect(r.stderr).not.toMatch(/uncaught|TypeError|RangeError/);
      check();
    }
  });
});
