import fc from 'fast-check';
import { TokenBucket } from '../../agent/src/bucket';
import { Excluder } from '../../agent/src/exclude';
import * as zlib from 'zlib';
import { Frame, FrameError, FrameParser, MAX_BODY, MAX_HEADER, Z_MAX_INFLATED, encode } from '../../agent/src/frame';
import { PathError, checkRelPath, symlinkStaysInside } from '../../agent/src/pathsafe';

const samples: Frame[] = [
  { t: 'HELLO', customer: 'acme', site: 'master', epoch: 3, version: '0.1.0', proto: 1 },
  { t: 'WRITE', path: 'a/b.txt', mode: 0o644, mtime: 1700000000000, size: 3, body: Buffer.from('abc') },
  { t: 'APPEND', path: 'ticks/x.csv', offset: 10, body: Buffer.from('tick\n') },
  { t: 'DELETE', path: 'old' },
  { t: 'MKDIR', path: 'dir', mode: 0o755 },
  { t: 'SYMLINK', path: 'l', target: 'dir/x' },
  { t: 'BATCH_END', seq: 7, changeTime: 123, inSync: true },
  { t: 'HEARTBEAT', through: null },
  { t: 'ACK', seq: 7, appliedTime: 5, resend: ['x'] },
  { t: 'ACK', seq: 0, appliedTime: 5, features: ['deflate'] },
  { t: 'Z', size: 10, body: zlib.deflateRawSync(Buffer.from('not parsed')) },
  { t: 'NAK', seq: 7, error: 'ENOSPC', fatal: false },
];

describe('frames', () => {
  it.each(samples.map((f) => [f.t, f]))('%s round-trips', (_t, f) => {
    const out = new FrameParser().push(encode(f));
    expect(out).toEqual([f]);
  });

  it('parses a stream however it is split into chunks', () => {
    const all = Buffer.concat(samples.map(encode));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: all.length }), { maxLength: 20 }), (cuts) => {
        const p = new FrameParser();
        const got: Frame[] = [];
        let prev = 0;
        for (const c of [...new Set(cuts)].sort((a, b) => a - b).concat(all.length)) {
          got.push(...p.push(all.subarray(prev, c)));
          prev = c;
        }
        expect(got).toEqual(samples);
        expect(p.pending).toBe(0);
      }),
    );
  });

  const prefix = (h: number, b: number): Buffer => {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(h, 0);
    p.writeUInt32BE(b, 4);
    return p;
  };

  it.each([
    ['header length 0', prefix(0, 0), /header length 0/],
    ['header over the cap', prefix(MAX_HEADER + 1, 0), /header length/],
    ['body over the cap', prefix(10, MAX_BODY + 1), /exceeds cap/],
    ['body of 4 GiB', prefix(10, 0xffffffff), /exceeds cap/],
    ['header not JSON', Buffer.concat([prefix(3, 0), Buffer.from('{{{')]), /not JSON/],
    ['header a JSON array', Buffer.concat([prefix(2, 0), Buffer.from('[]')]), /not a JSON object/],
    ['unknown type', Buffer.concat([prefix(12, 0), Buffer.from('{"t":"EVIL"}')]), /unknown frame type/],
    ['WRITE size mismatch', encodeRaw({ t: 'WRITE', path: 'a', mode: 420, mtime: 1, size: 5 }, Buffer.from('ab')), /size 5 but body has 2/],
    ['negative epoch', encodeRaw({ t: 'HELLO', customer: 'a', site: 'b', epoch: -1, version: 'x', proto: 1 }), /needs customer/],
    ['APPEND offset a string', encodeRaw({ t: 'APPEND', path: 'a', offset: '1' }), /needs path, offset/],
    ['DELETE with a body', encodeRaw({ t: 'DELETE', path: 'a' }, Buffer.from('x')), /unexpected body/],
    ['Z inflating past the cap', encodeRaw({ t: 'Z', size: Z_MAX_INFLATED + 1 }, Buffer.from('x')), /needs size/],
    ['Z without a size', encodeRaw({ t: 'Z' }, Buffer.from('x')), /needs size/],
    ['ACK features not a list', encodeRaw({ t: 'ACK', seq: 0, appliedTime: 1, features: 'deflate' }), /features must be/],
    ['ACK features too long', encodeRaw({ t: 'ACK', seq: 0, appliedTime: 1, features: ['x'.repeat(33)] }), /features must be/],
  ])('rejects %s before allocating', (_n, bytes, msg) => {
    // Only the prefix is needed to refuse an oversize frame: nothing of its size is allocated.
    expect(() => new FrameParser().push(bytes)).toThrow(msg);
  });

  it('an ACK keeps only the fields it knows (what lets an older sender ignore features)', () => {
    const [ack] = new FrameParser().push(encodeRaw({ t: 'ACK', seq: 0, appliedTime: 1, features: ['deflate', 'later'], extra: { x: 1 } }));
    expect(ack).toEqual({ t: 'ACK', seq: 0, appliedTime: 1, features: ['deflate', 'later'] });
    expect(ack).not.toHaveProperty('extra');
  });

  it('a failed stream stays failed', () => {
    const p = new FrameParser();
    expect(() => p.push(prefix(0, 0))).toThrow(FrameError);
    expect(() => p.push(encode(samples[0]))).toThrow(/already failed/);
  });
});

function encodeRaw(h: Record<string, unknown>, body = Buffer.alloc(0)): Buffer {
  const hb = Buffer.from(JSON.stringify(h));
  const p = Buffer.alloc(8);
  p.writeUInt32BE(hb.length, 0);
  p.writeUInt32BE(body.length, 4);
  return Buffer.concat([p, hb, body]);
}

describe('checkRelPath', () => {
  it.each([['a'], ['a/b/c.txt'], ['.hidden'], ['a/..b'], ['...'], ['ü/日本.csv']])('accepts %j', (p) => {
    expect(checkRelPath(p)).toEqual(p.split('/'));
  });
  it.each(
    ['', '/etc/passwd', '../x', 'a/../../x', 'a/./b', 'a//b', 'a/', '.', '..', 'a\0b', '.tandem-staging/x', 'x'.repeat(5000), 'a/' + 'y'.repeat(300)].map((p) => [JSON.stringify(p).slice(0, 30), p]),
  )('refuses %s', (_label, p) => {
    expect(() => checkRelPath(p)).toThrow(PathError);
  });
  it('refuses non-strings', () => {
    expect(() => checkRelPath(42)).toThrow(PathError);
  });
});

describe('symlinkStaysInside', () => {
  it.each([
    ['l', 'x', true],
    ['d/l', '../x', true],
    ['d/l', '../../x', false],
    ['l', '/etc/passwd', false],
    ['l', '/data/root/sub', true],
    ['l', '/data/rootx', false],
    ['l', '.tandem-staging/x', false],
    ['d/e/l', '../../..', false],
    ['l', '', false],
  ])('%s -> %s: %s', (rel, target, ok) => {
    expect(symlinkStaysInside('/data/root', rel, target)).toBe(ok);
  });
});

describe('Excluder', () => {
  const ex = new Excluder(['*.tmp', '/cache/', 'logs/**', 'build']);
  it.each([
    ['a.tmp', false, true],
    ['d/a.tmp', false, true],
    ['a.tmpx', false, false],
    ['cache', true, true],
    ['cache/x', false, true],
    ['cache', false, false],
    ['d/cache/x', false, false],
    ['logs/a/b', false, true],
    ['d/logs/a', false, true],
    ['build/out.o', false, true],
    ['x/build', true, true],
    ['ticks/a.csv', false, false],
    ['.tandem-staging/x', false, true],
  ])('%s (dir %s) excluded: %s', (rel, isDir, want) => {
    expect(ex.excluded(rel, isDir)).toBe(want);
  });
});

describe('TokenBucket', () => {
  it('holds the average rate and lets a big frame through on credit', () => {
    let now = 0;
    const b = new TokenBucket(1000, 100, () => now);
    expect(b.take(100)).toBe(0);
    expect(b.take(500)).toBeCloseTo(500); // 500 bytes of debt at 1000 B/s
    now += 500;
    expect(b.take(0)).toBeCloseTo(0);
    let sent = 0;
    for (now = 1000; now < 11000; now += 10) {
      if (b.take(0) === 0) {
        b.take(50);
        sent += 50;
      }
    }
    expect(sent / 10).toBeGreaterThan(900);
    expect(sent / 10).toBeLessThan(1100);
  });
});

describe('rsyncCause', () => {
  const { rsyncCause } = require('../../agent/src/link');
  it.each([
    [
      'rsync: [receiver] write failed on "/d/x": No space left on device (28)\nrsync error: error in file IO (code 11) at receiver.c(380)\nrsync: [sender] write error: Broken pipe (32)\n',
      'rsync: [receiver] write failed on "/d/x": No space left on device (28); rsync error: error in file IO (code 11) at receiver.c(380) rsync: [sender] write error: Broken pipe (32)',
    ],
    ['rsync error: some error\n', 'rsync error: some error'],
  ])('puts the cause first: %j', (stderr, want) => expect(rsyncCause(stderr)).toBe(want));
});
