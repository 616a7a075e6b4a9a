/**
 * The differential test of mirroring (issue 8), in three parts:
 *  1. a seeded generator of filesystem operations on the master's data dir (`OpGen`), whose
 *     operations are plain data (`Op`), applied with node's fs (`applyOp`) and printed as a
 *     script that replays exactly (`formatOps`);
 *  2. the model compare: the master's tree on disk IS the model of every mirror; `diffTrees`
 *     walks both and lists every difference (missing/extra entry, type, mode & 0o7777, content,
 *     symlink target) under tandem's mirroring policy (see `snapshot`);
 *  3. the lab side shared by test/agent/differential.test.ts and bench/differential.ts: install
 *     and start the agent on a lab, read every host's status the way `tandem status` does, and
 *     `settle`: wait until status says in sync, then hold it to that.
 *
 * Everything a run does is decided by the seed and the options: the generator keeps its own
 * picture of the tree (it never looks at the disk), so a seed yields the same operations on any
 * machine, and a failure's script (`Op[]`) is a reproducible case on its own.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { AgentStatus } from '../../agent/src/contract';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { hostExec } from '../../scripts/lab';
import { installFleet } from '../../scripts/hosts/install';
import { mirrorFleet } from '../../scripts/hosts/mirror';
import { connectorFor } from '../../scripts/hosts/ssh';
import { silentProgress } from '../../scripts/hosts/parallel';
import { STATUS_SCRIPT, parseStatusOutput } from '../../scripts/status/collect';
import { assess, type HostObservation } from '../../scripts/status/verdict';

// ---- seeded randomness ---------------------------------------------------------------------

/** mulberry32: 32 bits of state, fast, good enough for test generation; same sequence on every machine. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly f: () => number;
  constructor(seed: number) {
    this.f = mulberry32(seed);
  }
  float(): number {
    return this.f();
  }
  /** lo <= n < hi */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.f() * (hi - lo));
  }
  chance(p: number): boolean {
    return this.f() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.f() * xs.length)];
  }
  weighted<K extends string>(w: Readonly<Record<K, number>>): K {
    const keys = Object.keys(w) as K[];
    const total = keys.reduce((s, k) => s + Math.max(0, w[k]), 0);
    let x = this.f() * total;
    for (const k of keys) {
      x -= Math.max(0, w[k]);
      if (x < 0) return k;
    }
    return keys[keys.length - 1];
  }
  /** Sizes spread over orders of magnitude: mostly small, some large. */
  size(max: number): number {
    const r = this.f();
    const n = r < 0.6 ? this.int(0, 200) : r < 0.9 ? this.int(200, 8192) : r < 0.99 ? this.int(8192, 131072) : this.int(131072, 1 << 20);
    return Math.min(n, max);
  }
}

/** n bytes determined by `fill` alone, so a script replays to the same content. */
export function fillBytes(n: number, fill: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  const r = mulberry32(fill ^ 0x9e3779b9);
  let i = 0;
  for (; i + 4 <= n; i += 4) b.writeUInt32LE((r() * 4294967296) >>> 0, i);
  for (; i < n; i++) b[i] = (r() * 256) & 255;
  return b;
}

// ---- operations ----------------------------------------------------------------------------

/** One operation on the data dir; paths are relative to the run's directory. Plain data: JSON round-trips. */
export type Op =
  | { op: 'mkdir'; p: string; mode: number }
  /** New file: open O_CREAT|O_EXCL, write n bytes, fchmod. */
  | { op: 'create'; p: string; n: number; fill: number; mode: number }
  /** Existing file, in place: O_TRUNC then n new bytes (same inode). */
  | { op: 'replace'; p: string; n: number; fill: number }
  /** The safe-writer pattern: write `p.tmp` (excluded), then rename it over p. */
  | { op: 'atomic'; p: string; n: number; fill: number; mode: number }
  | { op: 'append'; p: string; n: number; fill: number }
  /** Existing file, same size, every byte rewritten in place (pwrite at 0, no truncate). */
  | { op: 'rewrite'; p: string; fill: number }
  /** n bytes written at offset `at` inside the file (may extend it). */
  | { op: 'pwrite'; p: string; at: number; n: number; fill: number }
  | { op: 'truncate'; p: string; size: number }
  /** Seek past the end and write: a hole, then data (creates the file if absent). */
  | { op: 'sparse'; p: string; at: number; n: number; fill: number }
  | { op: 'rename'; from: string; to: string }
  | { op: 'unlink'; p: string }
  | { op: 'rmdir'; p: string }
  | { op: 'rmrf'; p: string }
  | { op: 'link'; from: string; to: string }
  | { op: 'symlink'; p: string; target: string }
  | { op: 'chmod'; p: string; mode: number }
  /** `width` chains of `depth` directories, `files` small files in each directory. */
  | { op: 'tree'; p: string; depth: number; width: number; files: number; fill: number }
  | { op: 'sleep'; ms: number };

/** Applies one operation under root; returns the error text when the kernel refused (the script records it). */
export function applyOp(root: string, o: Op): string | null {
  const P = (p: string) => path.join(root, p);
  try {
    switch (o.op) {
      case 'mkdir':
        fs.mkdirSync(P(o.p));
        fs.chmodSync(P(o.p), o.mode);
        break;
      case 'create': {
        const fd = fs.openSync(P(o.p), 'wx');
        try {
          if (o.n) fs.writeSync(fd, fillBytes(o.n, o.fill));
          fs.fchmodSync(fd, o.mode);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'replace': {
        const fd = fs.openSync(P(o.p), fs.constants.O_WRONLY | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW);
        try {
          if (o.n) fs.writeSync(fd, fillBytes(o.n, o.fill));
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'atomic': {
        const tmp = P(o.p) + '.tmp';
        fs.writeFileSync(tmp, fillBytes(o.n, o.fill));
        fs.chmodSync(tmp, o.mode);
        fs.renameSync(tmp, P(o.p));
        break;
      }
      case 'append':
        fs.appendFileSync(P(o.p), fillBytes(o.n, o.fill));
        break;
      case 'rewrite': {
        const fd = fs.openSync(P(o.p), fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
        try {
          const n = fs.fstatSync(fd).size;
          if (n) fs.writeSync(fd, fillBytes(n, o.fill), 0, n, 0);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'pwrite':
      case 'sparse': {
        const flags = fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW | (o.op === 'sparse' ? fs.constants.O_CREAT : 0);
        const fd = fs.openSync(P(o.p), flags, 0o644);
        try {
          fs.writeSync(fd, fillBytes(o.n, o.fill), 0, o.n, o.at);
        } finally {
          fs.closeSync(fd);
        }
        break;
      }
      case 'truncate':
        fs.truncateSync(P(o.p), o.size);
        break;
      case 'rename':
        fs.renameSync(P(o.from), P(o.to));
        break;
      case 'unlink':
        fs.unlinkSync(P(o.p));
        break;
      case 'rmdir':
        fs.rmdirSync(P(o.p));
        break;
      case 'rmrf':
        fs.rmSync(P(o.p), { recursive: true, force: false });
        break;
      case 'link':
        fs.linkSync(P(o.from), P(o.to));
        break;
      case 'symlink':
        fs.symlinkSync(o.target, P(o.p));
        break;
      case 'chmod':
        fs.chmodSync(P(o.p), o.mode);
        break;
      case 'tree': {
        fs.mkdirSync(P(o.p));
        for (let w = 0; w < o.width; w++) {
          let d = P(o.p);
          for (let k = 0; k < o.depth; k++) {
            d = path.join(d, `w${w}d${k}`);
            fs.mkdirSync(d);
            for (let f = 0; f < o.files; f++) fs.writeFileSync(path.join(d, `f${f}`), fillBytes(16 + ((o.fill + w + k + f) % 64), o.fill + w * 1000 + k * 10 + f));
          }
        }
        break;
      }
      case 'sleep':
        break;
    }
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

/** What applying a list of operations did. */
export interface Applied {
  readonly ops: readonly Op[];
  /** index in ops -> error code, for the operations the kernel refused (expected: none). */
  readonly errors: ReadonlyMap<number, string>;
  readonly startedAt: number;
  readonly lastOpAt: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Applies ops under root at about `rate` operations a second (a `sleep` op pauses on top), in
 * bursts: node's timers are ~1 ms, so ops are applied back to back until they are ahead of the
 * schedule, then it waits. Bounded: at most `maxMs` (then the rest is skipped and thrown about).
 */
export async function applyOps(root: string, ops: readonly Op[], rate: number, maxMs = 600_000): Promise<Applied> {
  const errors = new Map<number, string>();
  const startedAt = Date.now();
  let due = startedAt;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.op === 'sleep') {
      due += o.ms;
      continue;
    }
    const ahead = due - Date.now();
    if (ahead > 2) await sleep(ahead);
    if (Date.now() - startedAt > maxMs) throw new Error(`applying ${ops.length} ops took more than ${maxMs} ms (at op ${i})`);
    const err = applyOp(root, o);
    if (err) errors.set(i, err);
    due += 1000 / rate;
  }
  return { ops, errors, startedAt, lastOpAt: Date.now() };
}

/** One op per line, JSON with modes in octal: paste into a regression case or feed to the bench's --replay. */
export function formatOps(ops: readonly Op[], errors?: ReadonlyMap<number, string>, indices?: readonly number[]): string {
  const idx = indices ?? ops.map((_, i) => i);
  return idx
    .map((i) => {
      const s = JSON.stringify(ops[i]).replace(/"mode":(\d+)/, (_, m) => `"mode":0o${Number(m).toString(8)}`);
      return `  /* ${i} */ ${s},${errors?.has(i) ? ` // ${errors.get(i)}` : ''}`;
    })
    .join('\n');
}

/** Parses what formatOps printed (or a JSON array of ops). */
export function parseOps(text: string): Op[] {
  const body = text
    .replace(/\/\*.*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/0o([0-7]+)/g, (_, m) => String(parseInt(m, 8)))
    .trim();
  return JSON.parse(body.startsWith('[') ? body : `[${body.replace(/,\s*$/, '')}]`) as Op[];
}

// ---- the generator -------------------------------------------------------------------------

interface Ino {
  size: number;
  mode: number;
}
type Node = { t: 'file'; ino: Ino } | { t: 'dir'; mode: number; kids: number } | { t: 'link'; target: string };

/** A set with O(1) add, delete and random pick. */
class PickSet {
  private readonly a: string[] = [];
  private readonly at = new Map<string, number>();
  get size(): number {
    return this.a.length;
  }
  add(k: string): void {
    if (this.at.has(k)) return;
    this.at.set(k, this.a.length);
    this.a.push(k);
  }
  delete(k: string): void {
    const i = this.at.get(k);
    if (i === undefined) return;
    const last = this.a.pop()!;
    if (last !== k) {
      this.a[i] = last;
      this.at.set(last, i);
    }
    this.at.delete(k);
  }
  pick(r: Rng): string | undefined {
    return this.a.length ? this.a[r.int(0, this.a.length)] : undefined;
  }
  all(): readonly string[] {
    return this.a;
  }
}

export type OpKind =
  | 'create'
  | 'append'
  | 'replace'
  | 'atomic'
  | 'rewrite'
  | 'pwrite'
  | 'truncate'
  | 'sparse'
  | 'renameFile'
  | 'renameOver'
  | 'renameDir'
  | 'awayAndBack'
  | 'dirOverEmpty'
  | 'mkdir'
  | 'tree'
  | 'rmrf'
  | 'rmdir'
  | 'unlink'
  | 'link'
  | 'linkAppend'
  | 'symlinkIn'
  | 'symlinkOut'
  | 'chmodFile'
  | 'chmodDir';

export const DEFAULT_WEIGHTS: Readonly<Record<OpKind, number>> = {
  create: 14,
  append: 12,
  replace: 3,
  atomic: 5,
  rewrite: 6,
  pwrite: 6,
  truncate: 4,
  sparse: 2,
  renameFile: 6,
  renameOver: 3,
  renameDir: 3,
  awayAndBack: 2,
  dirOverEmpty: 1,
  mkdir: 6,
  tree: 0.6,
  rmrf: 1.5,
  rmdir: 1,
  unlink: 5,
  link: 2,
  linkAppend: 1.5,
  symlinkIn: 2.5,
  symlinkOut: 0.7,
  chmodFile: 4,
  chmodDir: 2,
};

export interface GenOptions {
  /** Entries the generator keeps at most (it removes more than it makes above this). */
  readonly maxEntries?: number;
  readonly maxFileBytes?: number;
  /** Largest hole a sparse write makes. */
  readonly maxHole?: number;
  /** Trees: at most this many directories in one. */
  readonly maxTreeDirs?: number;
  /** Probability that a new name is an odd one (spaces, newline, unicode, leading dash, 255 bytes...). */
  readonly oddNames?: number;
  readonly weights?: Partial<Record<OpKind, number>>;
  /** Probability of a pause after an op; pauses are 50-150 ms (other ticks of the agent). */
  readonly pause?: number;
  /** Bytes of the run directory's path (relative to dataDir) + 1, so paths stay under the limit. */
  readonly prefixBytes?: number;
}

// Modes a non-root owner could set and the agent (user tandem, reading as "other" when the file
// is root's) can still read: files keep o+r, directories u+rwx and o+rx.
const FILE_MODES = [0o644, 0o664, 0o666, 0o604, 0o744, 0o755, 0o775, 0o444, 0o555, 0o4755, 0o2755, 0o6755, 0o2644, 0o1644, 0o4644, 0o7777, 0o7755];
const DIR_MODES = [0o755, 0o775, 0o777, 0o2755, 0o2775, 0o1777, 0o3775, 0o705, 0o2705, 0o4755];
const OUTSIDE_TARGETS = ['/etc/hostname', '/etc/passwd', '/tmp', '/', '/srv/elsewhere/x'];

/** Odd names, each made unique by n: what programs and people put in file names. */
function oddName(r: Rng, n: number): string {
  const long = (c: string, bytes: number) => {
    let s = `${n}_`;
    while (Buffer.byteLength(s + c) <= bytes) s += c;
    return s;
  };
  return r.pick<() => string>([
    () => `with space ${n}`,
    () => `new\nline${n}`,
    () => `tab\there${n}`,
    () => `-${n}`,
    () => `--delete-${n}`,
    () => `-e ssh ${n}`,
    () => `üñíçødé-${n}`,
    () => `日本語${n}`,
    () => `📈${n}`,
    () => `glob*?[${n}]`,
    () => `back\\slash${n}`,
    () => `quote'"$(x)${n}`,
    () => `.hidden${n}`,
    () => ` lead${n}`,
    () => `trail${n} `,
    () => `semi;colon&${n}|`,
    () => long('x', 255),
    () => long('é', 255),
    () => `.tandem-staging${n % 3 === 0 ? '' : `-${n}`}`,
    () => `dotdot..${n}`,
    () => `${n}.tmp.not`,
    () => `${n}.TMP`,
  ])();
}

/**
 * Generates operations from a seed, keeping its own picture of the tree so every op is one the
 * kernel accepts (a failure to apply is itself reported by the runner). The picture is all it
 * needs: `next()` never reads the disk.
 */
export class OpGen {
  private readonly r: Rng;
  private readonly o: Required<Omit<GenOptions, 'weights'>> & { weights: Record<OpKind, number> };
  private readonly nodes = new Map<string, Node>();
  private readonly files = new PickSet();
  private readonly dirs = new PickSet(); // '' (the run dir) included
  private readonly links = new PickSet();
  private n = 0;
  private count = 0;
  private readonly pending: { due: number; from: string; to: string }[] = [];
  private readonly queue: Op[] = [];

  constructor(seed: number, opts: GenOptions = {}) {
    this.r = new Rng(seed);
    this.o = {
      maxEntries: opts.maxEntries ?? 2000,
      maxFileBytes: opts.maxFileBytes ?? 256 * 1024,
      maxHole: opts.maxHole ?? 2 * 1024 * 1024,
      maxTreeDirs: opts.maxTreeDirs ?? 60,
      oddNames: opts.oddNames ?? 0.12,
      pause: opts.pause ?? 0.01,
      prefixBytes: opts.prefixBytes ?? 40,
      weights: { ...DEFAULT_WEIGHTS, ...(opts.weights ?? {}) },
    };
    this.nodes.set('', { t: 'dir', mode: 0o755, kids: 0 });
    this.dirs.add('');
  }

  get entries(): number {
    return this.nodes.size - 1;
  }

  /** n ops (pauses not counted) */
  take(n: number): Op[] {
    const out: Op[] = [];
    let real = 0;
    while (real < n) {
      const o = this.next();
      out.push(o);
      if (o.op !== 'sleep') real++;
    }
    return out;
  }

  next(): Op {
    if (this.queue.length) return this.queue.shift()!;
    this.count++;
    const due = this.pending.findIndex((p) => p.due <= this.count);
    if (due >= 0) {
      const p = this.pending.splice(due, 1)[0];
      const back = this.renameIfValid(p.to, p.from);
      if (back) return this.withPause(back);
    }
    for (let tries = 0; tries < 50; tries++) {
      const w = { ...this.o.weights };
      if (this.entries > this.o.maxEntries) {
        for (const k of ['create', 'atomic', 'mkdir', 'tree', 'link', 'linkAppend', 'symlinkIn', 'symlinkOut', 'sparse'] as OpKind[]) w[k] = 0;
        w.rmrf += 4;
        w.unlink += 10;
      }
      const op = this.make(this.r.weighted(w));
      if (op) return this.withPause(op);
    }
    const d = this.mkdirOp();
    return this.withPause(d!);
  }

  private withPause(op: Op): Op {
    if (this.r.chance(this.o.pause)) this.queue.push({ op: 'sleep', ms: this.r.int(50, 150) });
    return op;
  }

  // -- the picture ---------------------------------------------------------------------------

  private join(dir: string, name: string): string {
    return dir ? `${dir}/${name}` : name;
  }
  private parentOf(p: string): string {
    const i = p.lastIndexOf('/');
    return i < 0 ? '' : p.slice(0, i);
  }
  private add(p: string, node: Node): void {
    this.nodes.set(p, node);
    (node.t === 'file' ? this.files : node.t === 'dir' ? this.dirs : this.links).add(p);
    const parent = this.nodes.get(this.parentOf(p));
    if (parent?.t === 'dir') parent.kids++;
  }
  private remove(p: string): void {
    const node = this.nodes.get(p);
    if (!node) return;
    if (node.t === 'dir') for (const k of this.descendants(p)) this.removeOne(k);
    this.removeOne(p);
  }
  private removeOne(p: string): void {
    const node = this.nodes.get(p);
    if (!node) return;
    this.nodes.delete(p);
    (node.t === 'file' ? this.files : node.t === 'dir' ? this.dirs : this.links).delete(p);
    const parent = this.nodes.get(this.parentOf(p));
    if (parent?.t === 'dir') parent.kids--;
  }
  private descendants(p: string): string[] {
    const pre = `${p}/`;
    const out: string[] = [];
    for (const k of this.nodes.keys()) if (k.startsWith(pre)) out.push(k);
    return out;
  }
  /** Moves the picture of from (and its subtree) to to, replacing what to was. */
  private move(from: string, to: string): void {
    if (this.nodes.has(to)) this.remove(to);
    const node = this.nodes.get(from)!;
    const kids = node.t === 'dir' ? this.descendants(from).map((k) => [k, this.nodes.get(k)!] as const) : [];
    for (const [k] of kids) this.removeOne(k);
    this.removeOne(from);
    this.add(to, node);
    if (node.t === 'dir') node.kids = 0;
    // parents before children: keys sorted by length
    for (const [k, v] of kids.sort((a, b) => a[0].length - b[0].length)) {
      if (v.t === 'dir') v.kids = 0;
      this.add(to + k.slice(from.length), v);
    }
  }
  private writableDir(d: string): boolean {
    const n = this.nodes.get(d);
    return n?.t === 'dir' && (n.mode & 0o200) !== 0;
  }
  private pickDir(): string {
    for (let i = 0; i < 8; i++) {
      const d = this.dirs.pick(this.r)!;
      if (this.writableDir(d)) return d;
    }
    return '';
  }
  private pickFile(writable = false): string | undefined {
    for (let i = 0; i < 8; i++) {
      const f = this.files.pick(this.r);
      if (f === undefined) return undefined;
      const n = this.nodes.get(f);
      if (n?.t === 'file' && (!writable || (n.ino.mode & 0o200) !== 0)) return f;
    }
    return undefined;
  }
  private pickNonRootDir(): string | undefined {
    for (let i = 0; i < 8; i++) {
      const d = this.dirs.pick(this.r);
      if (d) return d;
    }
    return undefined;
  }
  /** A new name in dir, unique for the run, whose path stays under the kernel's and the receiver's limits. */
  private newPath(dir: string, suffix = ''): string {
    for (;;) {
      const n = ++this.n;
      const base = this.r.chance(this.o.oddNames) ? oddName(this.r, n) : `${suffix === 'd' ? 'd' : 'f'}${n}`;
      const p = this.join(dir, base);
      if (Buffer.byteLength(p) + this.o.prefixBytes + 20 < 4000 && !this.nodes.has(p)) return p;
      if (dir) dir = this.parentOf(dir);
    }
  }
  private depthOf(p: string): number {
    return p ? p.split('/').length : 0;
  }

  // -- op makers -----------------------------------------------------------------------------

  private mkdirOp(): Op | null {
    const p = this.newPath(this.pickDir(), 'd');
    const mode = this.r.chance(0.7) ? 0o755 : this.r.pick(DIR_MODES);
    this.add(p, { t: 'dir', mode, kids: 0 });
    return { op: 'mkdir', p, mode };
  }

  private renameIfValid(from: string, to: string): Op | null {
    if (!this.nodes.has(from) || this.nodes.has(to)) return null;
    if (!this.writableDir(this.parentOf(from)) || !this.writableDir(this.parentOf(to))) return null;
    if (to.startsWith(`${from}/`)) return null;
    this.move(from, to);
    return { op: 'rename', from, to };
  }

  private make(k: OpKind): Op | null {
    const r = this.r;
    switch (k) {
      case 'create': {
        const p = this.newPath(this.pickDir());
        const n = r.size(this.o.maxFileBytes);
        const mode = r.chance(0.8) ? 0o644 : r.pick(FILE_MODES);
        this.add(p, { t: 'file', ino: { size: n, mode } });
        return { op: 'create', p, n, fill: r.int(0, 2 ** 31), mode };
      }
      case 'atomic': {
        // over an existing file half the time: the common "write temp, rename over" update
        const over = r.chance(0.5) ? this.pickFile() : undefined;
        const p = over && this.writableDir(this.parentOf(over)) ? over : this.newPath(this.pickDir());
        if (Buffer.byteLength(path.basename(p)) > 250) return null;
        const n = r.size(this.o.maxFileBytes);
        const mode = r.chance(0.8) ? 0o644 : r.pick(FILE_MODES);
        if (this.nodes.has(p)) this.remove(p);
        this.add(p, { t: 'file', ino: { size: n, mode } });
        return { op: 'atomic', p, n, fill: r.int(0, 2 ** 31), mode };
      }
      case 'append': {
        const p = this.pickFile(true);
        if (!p) return null;
        const ino = (this.nodes.get(p) as { ino: Ino }).ino;
        if (ino.size > this.o.maxFileBytes * 4) return null;
        const n = r.chance(0.8) ? r.int(1, 300) : r.int(300, 20000);
        ino.size += n;
        return { op: 'append', p, n, fill: r.int(0, 2 ** 31) };
      }
      case 'replace': {
        const p = this.pickFile(true);
        if (!p) return null;
        const ino = (this.nodes.get(p) as { ino: Ino }).ino;
        // same size half the time: the state-file rewrite issue 8 found
        const n = r.chance(0.5) ? ino.size : r.size(this.o.maxFileBytes);
        ino.size = n;
        return { op: 'replace', p, n, fill: r.int(0, 2 ** 31) };
      }
      case 'rewrite': {
        const p = this.pickFile(true);
        if (!p) return null;
        return { op: 'rewrite', p, fill: r.int(0, 2 ** 31) };
      }
      case 'pwrite': {
        const p = this.pickFile(true);
        if (!p) return null;
        const ino = (this.nodes.get(p) as { ino: Ino }).ino;
        if (ino.size === 0) return null;
        const at = r.int(0, ino.size);
        const n = r.chance(0.7) ? r.int(1, Math.max(2, Math.min(64, ino.size - at + 1))) : r.int(1, 4096);
        ino.size = Math.max(ino.size, at + n);
        return { op: 'pwrite', p, at, n, fill: r.int(0, 2 ** 31) };
      }
      case 'truncate': {
        const p = this.pickFile(true);
        if (!p) return null;
        const ino = (this.nodes.get(p) as { ino: Ino }).ino;
        const size = r.chance(0.6) ? r.int(0, ino.size + 1) : ino.size + r.int(1, 70000);
        ino.size = size;
        return { op: 'truncate', p, size };
      }
      case 'sparse': {
        const existing = r.chance(0.5) ? this.pickFile(true) : undefined;
        const p = existing ?? this.newPath(this.pickDir());
        let ino = existing ? (this.nodes.get(p) as { ino: Ino }).ino : undefined;
        if (!ino) {
          ino = { size: 0, mode: 0o644 };
          this.add(p, { t: 'file', ino });
        }
        if (ino.size > this.o.maxHole * 2) return null;
        const at = ino.size + r.int(4096, this.o.maxHole);
        const n = r.int(1, 4096);
        ino.size = at + n;
        return { op: 'sparse', p, at, n, fill: r.int(0, 2 ** 31) };
      }
      case 'renameFile': {
        const from = this.pickFile() ?? this.links.pick(r);
        if (from === undefined) return null;
        return this.renameIfValid(from, this.newPath(this.pickDir()));
      }
      case 'renameOver': {
        // file over file (or over a symlink, or a symlink over a file): rename(2) replaces it
        const from = r.chance(0.8) ? this.pickFile() : this.links.pick(r);
        const to = r.chance(0.8) ? this.pickFile() : this.links.pick(r);
        if (from === undefined || to === undefined || from === to) return null;
        if (!this.writableDir(this.parentOf(from)) || !this.writableDir(this.parentOf(to))) return null;
        const a = (this.nodes.get(from) as { ino?: Ino }).ino;
        const b = (this.nodes.get(to) as { ino?: Ino }).ino;
        if (a && a === b) return null; // two names of one inode: rename does nothing
        this.move(from, to);
        return { op: 'rename', from, to };
      }
      case 'renameDir': {
        const from = this.pickNonRootDir();
        if (from === undefined) return null;
        return this.renameIfValid(from, this.newPath(this.pickDir(), 'd'));
      }
      case 'awayAndBack': {
        // a file or dir renamed away now and back later: in this tick, or the next ones
        const from = r.chance(0.6) ? this.pickNonRootDir() : this.pickFile();
        if (from === undefined) return null;
        const to = r.chance(0.5) ? this.newPath(this.parentOf(from), 'd') : this.newPath(this.pickDir(), 'd');
        const op = this.renameIfValid(from, to);
        if (!op) return null;
        this.pending.push({ due: this.count + (r.chance(0.3) ? 1 : r.int(2, 40)), from, to });
        if (r.chance(0.3)) this.queue.push({ op: 'sleep', ms: r.int(60, 150) });
        return op;
      }
      case 'dirOverEmpty': {
        const empty = this.dirs.all().filter((d) => d && (this.nodes.get(d) as { kids: number }).kids === 0);
        if (!empty.length) return null;
        const to = r.pick(empty);
        const from = this.pickNonRootDir();
        if (from === undefined || from === to || to.startsWith(`${from}/`) || from.startsWith(`${to}/`)) return null;
        if (!this.writableDir(this.parentOf(from)) || !this.writableDir(this.parentOf(to))) return null;
        this.move(from, to);
        return { op: 'rename', from, to };
      }
      case 'mkdir':
        return this.mkdirOp();
      case 'tree': {
        const p = this.newPath(this.pickDir(), 'd');
        const deep = r.chance(0.5);
        const depth = deep ? r.int(5, 25) : r.int(1, 3);
        const width = deep ? r.int(1, 3) : r.int(5, 30);
        const dirsMax = this.o.maxTreeDirs;
        const w = Math.max(1, Math.min(width, Math.floor(dirsMax / depth)));
        const files = r.int(0, 4);
        if (Buffer.byteLength(p) + depth * 8 + this.o.prefixBytes > 3900) return null;
        const fill = r.int(0, 2 ** 30);
        this.add(p, { t: 'dir', mode: 0o755, kids: 0 });
        for (let i = 0; i < w; i++) {
          let d = p;
          for (let k = 0; k < depth; k++) {
            d = `${d}/w${i}d${k}`;
            this.add(d, { t: 'dir', mode: 0o755, kids: 0 });
            for (let f = 0; f < files; f++) this.add(`${d}/f${f}`, { t: 'file', ino: { size: 16 + ((fill + i + k + f) % 64), mode: 0o644 } });
          }
        }
        return { op: 'tree', p, depth, width: w, files, fill };
      }
      case 'rmrf': {
        const p = this.pickNonRootDir();
        if (p === undefined || !this.writableDir(this.parentOf(p))) return null;
        // only what the owner could remove: every dir in it writable (ours always are: u+rwx)
        this.remove(p);
        return { op: 'rmrf', p };
      }
      case 'rmdir': {
        const empty = this.dirs.all().filter((d) => d && (this.nodes.get(d) as { kids: number }).kids === 0);
        if (!empty.length) return null;
        const p = r.pick(empty);
        if (!this.writableDir(this.parentOf(p))) return null;
        this.remove(p);
        return { op: 'rmdir', p };
      }
      case 'unlink': {
        const p = r.chance(0.85) ? this.pickFile() : this.links.pick(r);
        if (p === undefined || !this.writableDir(this.parentOf(p))) return null;
        this.remove(p);
        return { op: 'unlink', p };
      }
      case 'link':
      case 'linkAppend': {
        const from = this.pickFile(k === 'linkAppend');
        if (!from) return null;
        const to = this.newPath(this.pickDir());
        const ino = (this.nodes.get(from) as { ino: Ino }).ino;
        this.add(to, { t: 'file', ino });
        if (k === 'linkAppend') {
          // then write through one of the names, in this tick or a later one
          if (r.chance(0.3)) this.queue.push({ op: 'sleep', ms: r.int(60, 150) });
          const n = r.int(1, 200);
          ino.size += n;
          this.queue.push(r.chance(0.7) ? { op: 'append', p: r.chance(0.5) ? from : to, n, fill: r.int(0, 2 ** 31) } : { op: 'rewrite', p: r.chance(0.5) ? from : to, fill: r.int(0, 2 ** 31) });
        }
        return { op: 'link', from, to };
      }
      case 'symlinkIn': {
        const p = this.newPath(this.pickDir());
        // relative, staying inside the run dir: to something that exists, or dangling
        const pool = [...(r.chance(0.5) ? [this.files.pick(r)] : [this.dirs.pick(r)]), `missing${r.int(0, 100)}`];
        const dest = pool.find((x) => x !== undefined) ?? 'missing';
        const up = this.depthOf(this.parentOf(p));
        const target = (r.chance(0.2) ? './' : '') + '../'.repeat(up) + (dest || '.');
        this.add(p, { t: 'link', target });
        return { op: 'symlink', p, target };
      }
      case 'symlinkOut': {
        const p = this.newPath(this.pickDir());
        const up = this.depthOf(this.parentOf(p)) + 2 + r.int(0, 3);
        const target = r.chance(0.5) ? r.pick(OUTSIDE_TARGETS) : '../'.repeat(up) + r.pick(['etc/passwd', 'tmp', 'x']);
        this.add(p, { t: 'link', target });
        return { op: 'symlink', p, target };
      }
      case 'chmodFile': {
        const p = this.pickFile();
        if (!p) return null;
        const mode = r.pick(FILE_MODES);
        (this.nodes.get(p) as { ino: Ino }).ino.mode = mode;
        return { op: 'chmod', p, mode };
      }
      case 'chmodDir': {
        const p = this.pickNonRootDir();
        if (!p) return null;
        const mode = r.pick(DIR_MODES);
        (this.nodes.get(p) as { mode: number }).mode = mode;
        return { op: 'chmod', p, mode };
      }
    }
  }
}

// ---- the model compare ---------------------------------------------------------------------

/** The staging dir at the top of a mirror's dataDir: the receiver's, not data. */
export const STAGING = '.tandem-staging';

export interface Entry {
  readonly type: 'file' | 'dir' | 'link' | 'other';
  readonly mode: number;
  readonly size: number;
  /** sha256 of a file's content; a link's target. */
  readonly data: string;
}

/**
 * rsync's --safe-links rule, which tandem applies to the stream too: a symlink is mirrored only
 * if its target is relative and never climbs above the data dir, component by component
 * (`a/../../x` climbs out even if it comes back; rsync 3.4+ refuses any `..` after another
 * component). `depth` is the link's directory depth below
 * the data dir.
 */
export function linkIsMirrored(depth: number, target: string): boolean {
  // rsync 3.4+ (checked on this machine's 3.5.0, test/agent/safelinks.test.ts): no `..` after any other component, `.` and
  // empty components count as "other" / nothing respectively.
  if (!target || target.startsWith('/')) return false;
  let d = depth;
  let other = false;
  const parts = target.split('/');
  const last = parts.pop()!;
  for (const c of parts) {
    if (c === '') continue;
    if (c === '..') {
      if (other || --d < 0) return false;
    } else {
      other = true;
      if (c !== '.') d++;
    }
  }
  // A final `..` (no slash after it) is safe to rsync only as the whole target.
  if (last === '..') return target === '..' && d >= 1;
  return true;
}

/** Exclude patterns of the stack; the subset used here: patterns without '/' match any component. */
export function excluder(patterns: readonly string[]): (rel: string) => boolean {
  const res = patterns.map((p) => {
    if (p.includes('/')) throw new Error(`exclude pattern ${JSON.stringify(p)}: only patterns without '/' (e.g. "*.tmp") are modelled`);
    return new RegExp(
      '^' +
        p
          .replace(/[.+^${}()|\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.') +
        '$',
    );
  });
  return (rel) => rel.split('/').some((c) => res.some((re) => re.test(c)));
}

interface CacheKey {
  ino: bigint;
  size: bigint;
  mtime: bigint;
  ctime: bigint;
}
const hashCache = new Map<string, { k: CacheKey; h: string }>();

function fileHash(abs: string, st: fs.BigIntStats): string {
  const c = hashCache.get(abs);
  if (c && c.k.ino === st.ino && c.k.size === st.size && c.k.mtime === st.mtimeNs && c.k.ctime === st.ctimeNs) return c.h;
  const h = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
  if (hashCache.size > 200_000) hashCache.clear();
  hashCache.set(abs, { k: { ino: st.ino, size: st.size, mtime: st.mtimeNs, ctime: st.ctimeNs }, h });
  return h;
}

export interface SnapshotOptions {
  /** Directory depth of root below the data dir (for the symlink rule). */
  readonly depth: number;
  /** True for the data dir's own top: skips the staging dir. */
  readonly isDataRoot?: boolean;
  readonly exclude?: (rel: string) => boolean;
  /** The master's side: leave out what is not mirrored (symlinks leaving the data dir). */
  readonly modelOnly?: boolean;
}

/**
 * Every entry under root ('.' = root itself), as mirroring is defined (policy of the lead,
 * issue 8):
 *  - symlinks whose target leaves the data dir are NOT mirrored (the stream refuses them and
 *    rsync runs with --safe-links): left out of the master's side; one found on a mirror is a
 *    difference ("extra");
 *  - hard links are mirrored as separate files with equal content: compared by content only;
 *  - owners, directory mtimes, atimes, allocation (sparse or not) are not compared; file mtimes
 *    neither (appends keep the mirror's own, docs/agent.md);
 *  - the staging dir at the top of a mirror's data dir is ignored; entries matching the stack's
 *    exclude patterns are left out on both sides.
 */
export function snapshot(root: string, o: SnapshotOptions): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (rel: string, depth: number): void => {
    const abs = rel === '.' ? root : path.join(root, rel);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(abs, { bigint: true });
    } catch {
      return; // gone while walking (the tree is live): the next compare sees it
    }
    const mode = Number(st.mode & 0o7777n);
    if (st.isDirectory()) {
      out.set(rel, { type: 'dir', mode, size: 0, data: '' });
      let names: string[];
      try {
        names = fs.readdirSync(abs);
      } catch {
        return;
      }
      for (const name of names) {
        if (rel === '.' && o.isDataRoot && name === STAGING) continue;
        const r = rel === '.' ? name : `${rel}/${name}`;
        if (o.exclude?.(r)) continue;
        visit(r, depth + 1);
      }
    } else if (st.isSymbolicLink()) {
      let t: string;
      try {
        t = fs.readlinkSync(abs);
      } catch {
        return;
      }
      if (o.modelOnly && !linkIsMirrored(depth - 1, t)) return;
      out.set(rel, { type: 'link', mode: 0, size: 0, data: t });
    } else if (st.isFile()) {
      let h: string;
      try {
        h = fileHash(abs, st);
      } catch {
        return;
      }
      out.set(rel, { type: 'file', mode, size: Number(st.size), data: h });
    } else out.set(rel, { type: 'other', mode, size: 0, data: '' });
  };
  visit('.', o.depth);
  return out;
}

export interface Diff {
  readonly path: string;
  readonly what: 'missing' | 'extra' | 'type' | 'mode' | 'content' | 'target';
  readonly detail: string;
}

/** Every difference of the mirror's tree from the master's (the model). Empty: equal. */
export function diffTrees(master: string, mirror: string, o: Omit<SnapshotOptions, 'modelOnly'>): Diff[] {
  const want = snapshot(master, { ...o, modelOnly: true });
  const have = snapshot(mirror, { ...o, modelOnly: false });
  const out: Diff[] = [];
  for (const [p, w] of want) {
    const h = have.get(p);
    if (!h) out.push({ path: p, what: 'missing', detail: `${w.type}${w.type === 'file' ? `, ${w.size} B` : ''}` });
    else if (h.type !== w.type) out.push({ path: p, what: 'type', detail: `${h.type} instead of ${w.type}` });
    else if (h.mode !== w.mode) out.push({ path: p, what: 'mode', detail: `0${h.mode.toString(8)} instead of 0${w.mode.toString(8)}` });
    else if (w.type === 'link' && h.data !== w.data) out.push({ path: p, what: 'target', detail: `-> ${JSON.stringify(h.data)} instead of ${JSON.stringify(w.data)}` });
    else if (w.type === 'file' && h.data !== w.data) out.push({ path: p, what: 'content', detail: h.size === w.size ? `${w.size} B, other bytes` : `${h.size} B instead of ${w.size} B` });
  }
  for (const [p, h] of have) if (!want.has(p)) out.push({ path: p, what: 'extra', detail: h.type === 'link' ? `link -> ${JSON.stringify(h.data)}` : h.type });
  return out;
}

export function formatDiffs(diffs: readonly Diff[], max = 25): string {
  const lines = diffs.slice(0, max).map((d) => `    ${JSON.stringify(d.path)}: ${d.what} (${d.detail})`);
  if (diffs.length > max) lines.push(`    ... and ${diffs.length - max} more`);
  return lines.join('\n');
}

/**
 * The ops that touched a differing path, an ancestor or a descendant of it, or another name of
 * the same file (hard links): usually a short script that reproduces the difference alone.
 */
export function sliceFor(ops: readonly Op[], paths: readonly string[]): number[] {
  const related = new Set<string>();
  const norm = (p: string) => (p === '.' ? '' : p);
  for (const p of paths) related.add(norm(p));
  const touches = (o: Op): string[] => {
    switch (o.op) {
      case 'rename':
      case 'link':
        return [o.from, o.to];
      case 'sleep':
        return [];
      default:
        return [o.p];
    }
  };
  const near = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`) || a === '' || b === '';
  // names flow backwards through renames and links: follow them from the last op to the first
  const keep = new Set<number>();
  for (let i = ops.length - 1; i >= 0; i--) {
    const ts = touches(ops[i]);
    if (ts.some((t) => [...related].some((r) => r !== '' && near(t, r)))) {
      keep.add(i);
      for (const t of ts) related.add(t);
    }
  }
  // the parents every kept op needs
  const need = new Set<string>();
  for (const i of keep) for (const t of touches(ops[i])) for (let d = path.posix.dirname(t); d !== '.' && d !== ''; d = path.posix.dirname(d)) need.add(d);
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if ((o.op === 'mkdir' || o.op === 'tree') && need.has(o.p)) keep.add(i);
    if (o.op === 'rename' && need.has(o.to)) keep.add(i);
  }
  // pauses between kept ops keep the ticks apart
  for (let i = 0; i < ops.length; i++) if (ops[i].op === 'sleep' && [...keep].some((k) => k < i) && [...keep].some((k) => k > i)) keep.add(i);
  return [...keep].sort((a, b) => a - b);
}

// ---- the lab side --------------------------------------------------------------------------

/** 1 master, a hot direct mirror relaying to a warm one, and another direct mirror. */
export const DIFF_SITES = [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope, relayVia: chi, failover: warm }',
  '{ name: ldn, role: mirror, provider: aws, region: eu-west-2, failover: hot }',
];
export const DIFF_EXCLUDE = ['*.tmp'];
export const MIRRORS = ['chi', 'ams', 'ldn'];

export function diffStackYaml(customer: string): string {
  return [
    'config:',
    `  tandem:customer: ${customer}`,
    '  tandem:topology:',
    '    dataDir: /srv/trading',
    `    exclude: [${DIFF_EXCLUDE.map((e) => JSON.stringify(e)).join(', ')}]`,
    '    service: { start: tandem-lab-platform start, stop: tandem-lab-platform stop, healthPort: 8443 }',
    '    adminCidrs: [198.18.0.0/15]',
    '    sites:',
    ...DIFF_SITES.map((s) => `      - ${s}`),
  ].join('\n');
}

/**
 * The agent bundle to install: the working tree's agent/ (default), or the agent at a git ref
 * (DIFFTEST_AGENT_REF=HEAD: what is committed, while someone edits agent/src). Built into a temp
 * dir, never over dist/agent.js.
 */
export function buildAgentAt(ref?: string): Buffer {
  const repo = path.resolve(__dirname, '..', '..');

  const { buildAgent } = require(path.join(repo, 'scripts', 'build-agent.js')) as { buildAgent: (out: string) => string };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'difftest-agent-'));
  try {
    if (!ref) return fs.readFileSync(buildAgent(path.join(dir, 'agent.js')));
    // The builder resolves agent/src next to itself: build from a copy of the tree at ref.
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'scripts'), { recursive: true });
    execFileSync('sh', ['-c', `git -C "$1" archive "$2" agent | tar -x -C "$3"`, 'sh', repo, ref, src]);
    fs.copyFileSync(path.join(repo, 'scripts', 'build-agent.js'), path.join(src, 'scripts', 'build-agent.js'));
    fs.symlinkSync(path.join(repo, 'node_modules'), path.join(src, 'node_modules'));
    const out = execFileSync(process.execPath, [
      '-e',
      `process.stdout.write(require(${JSON.stringify(path.join(src, 'scripts', 'build-agent.js'))}).buildAgent(${JSON.stringify(path.join(dir, 'agent.js'))}))`,
    ]).toString();
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Installs the agent on every host and starts mirroring, as `tandem agent install` and `tandem mirror start` do. */
export async function startMirroring(inv: Inventory, agentJs: Buffer): Promise<void> {
  const o = { inventory: inv, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, parallel: 8, progress: silentProgress };
  const res = await installFleet(o, 'install', agentJs);
  const bad = res.filter((x) => x.error);
  if (bad.length) throw new Error(`agent install failed: ${bad.map((x) => `${x.site}: ${x.error}`).join('; ')}`);
  const res2 = await mirrorFleet(o, 'start', []);
  const bad2 = res2.filter((x) => x.error);
  if (bad2.length) throw new Error(`mirror start failed: ${bad2.map((x) => `${x.site}: ${x.error}`).join('; ')}`);
}

export interface LabView {
  /** `tandem status`'s verdict from the same observations. */
  readonly verdictOk: boolean;
  /** Stricter: every agent says in sync, healthy, and wrote its status after `since`. */
  readonly inSync: boolean;
  readonly why: string;
  readonly statuses: Record<string, AgentStatus | null>;
}

/** Each host's agent status, read as `tandem status` reads it (its script), through the lab's back door instead of SSH. */
export async function observeLab(customer: string, inv: Inventory, since: number): Promise<LabView> {
  const obs = await Promise.all(
    inv.hosts.map(async (h: InventoryHost): Promise<HostObservation> => {
      const base = { site: h.site, role: h.role, failover: h.failover, feedFrom: h.feedFrom, syncIntervalS: h.syncIntervalS };
      try {
        const r = await hostExec(customer, h.site, ['sh', '-c', STATUS_SCRIPT], { timeoutMs: 10_000 });
        const p = parseStatusOutput(r.stdout, r.stderr, r.code);
        return { ...base, reachable: true, error: p.error, status: p.status, statusAgeS: p.ageS };
      } catch (e) {
        return { ...base, reachable: false, error: (e as Error).message, status: null, statusAgeS: null };
      }
    }),
  );
  const v = assess(obs);
  const why: string[] = v.ok ? [] : [...v.reasons];
  for (const h of obs) {
    const s = h.status;
    if (!s) {
      why.push(`${h.site}: no status (${h.error})`);
      continue;
    }
    if (Date.parse(s.updatedAt) < since) why.push(`${h.site}: status written before the last change`);
    if (s.health && s.health !== 'ok') why.push(`${h.site}: health ${s.health}${s.lastError ? ` (${s.lastError})` : ''}`);
    if (h.role === 'mirror' && !s.inSync) why.push(`${h.site}: not in sync`);
    for (const c of s.children) if (c.state !== 'in-sync') why.push(`${h.site}->${c.site}: ${c.state}${c.lastError ? ` (${c.lastError})` : ''}`);
  }
  return { verdictOk: v.ok, inSync: v.ok && why.length === 0, why: why.join('; '), statuses: Object.fromEntries(obs.map((o) => [o.site, o.status])) };
}

export interface SettleResult {
  /**
   * pass: status said in sync and every mirror equals the master;
   * status-lied: status said in sync (for `lieGraceMs` and more) while a mirror differed;
   * never-in-sync: status did not say in sync within the bound.
   */
  readonly outcome: 'pass' | 'status-lied' | 'never-in-sync';
  /**
   * On pass: status said in sync while every difference left was one `explained` allows (the
   * documented limit of the change feed), and the agents' online verify then made them equal.
   */
  readonly repairedByVerify?: number;
  /** ms from the last op to the first status that said in sync (null: never). */
  readonly inSyncAfterMs: number | null;
  /** ms from the last op to every mirror equal (null: never seen). */
  readonly equalAfterMs: number | null;
  /** Status said in sync this long before the mirrors were equal (a transient lie, not a failure). */
  readonly earlyMs: number;
  /** site -> differences at the end (empty on pass). */
  readonly diffs: Record<string, Diff[]>;
  readonly why: string;
}

export interface SettleOptions {
  readonly customer: string;
  readonly inv: Inventory;
  /** The run's directory, relative to the data dir. */
  readonly prefix: string;
  readonly lastOpAt: number;
  /** Bound on the wait for in-sync (default 30 s). */
  readonly timeoutMs?: number;
  /** How long status may say in sync while a mirror still differs before that is a lie (default 3 s). */
  readonly lieGraceMs?: number;
  /**
   * Differences status may hide for a while: the documented limit of the change feed (see
   * pwritten). While every difference left is one of these, settle waits up to verifyTimeoutMs
   * (default 150 s: the lab agents verify every 60 s) for the online verify to repair them.
   */
  readonly explained?: (d: Diff) => boolean;
  readonly verifyTimeoutMs?: number;
}

/**
 * The documented limits of the change feed (README, Mirroring): the paths (relative to the run
 * dir) whose CONTENT a mirror may still hold old when status first says in sync, until the online
 * verify repairs it (never their type, mode, presence or link target). Followed through later
 * renames of the file or of a parent. Over-approximate on purpose: a path wrongly counted only
 * makes the check more lenient, never a false failure.
 * - A `pwrite`: inotify does not say where a file changed, so a write into the middle of a file
 *   that grew in the same tick goes out as an append. Every name of the file counts.
 * - A write through a name of a hard-linked file, that name then gone (unlinked, renamed over or
 *   away, its directory removed or moved) before the agent read it: inotify reports a write only
 *   to the directory of the name written through, so the file's other names get no event, and
 *   the agent never saw the name as a link. Every other name of the file counts.
 */
export function pwritten(ops: readonly Op[]): Set<string> {
  let names = new Set<string>();
  // The names of each hard-linked file seen so far, and the names written through.
  let groups: { names: Set<string>; written: Set<string> }[] = [];
  const renamed = (n: string, from: string, to: string): string => (n === from ? to : n.startsWith(`${from}/`) ? to + n.slice(from.length) : n);
  const under = (n: string, p: string): boolean => n === p || n.startsWith(`${p}/`);
  /** Names at or under p go away (or move): a group written through one of them counts whole. */
  const gone = (p: string): void => {
    for (const g of groups) if ([...g.written].some((w) => under(w, p))) for (const n of g.names) names.add(n);
  };
  for (const o of ops) {
    if (o.op === 'pwrite') {
      names.add(o.p);
      for (const g of groups) if (g.names.has(o.p)) for (const n of g.names) names.add(n);
    }
    if (o.op === 'pwrite' || o.op === 'append' || o.op === 'rewrite' || o.op === 'replace' || o.op === 'truncate' || o.op === 'sparse') {
      for (const g of groups) if (g.names.has(o.p)) g.written.add(o.p);
    } else if (o.op === 'rename') {
      gone(o.from);
      gone(o.to);
      names = new Set([...names].map((n) => renamed(n, o.from, o.to)));
      groups = groups.map((g) => ({ names: new Set([...g.names].map((n) => renamed(n, o.from, o.to))), written: new Set([...g.written].map((n) => renamed(n, o.from, o.to))) }));
    } else if (o.op === 'unlink' || o.op === 'rmrf' || o.op === 'atomic') {
      gone(o.p);
    } else if (o.op === 'link') {
      if (names.has(o.from)) names.add(o.to);
      const g = groups.find((x) => x.names.has(o.from));
      if (g) g.names.add(o.to);
      else groups.push({ names: new Set([o.from, o.to]), written: new Set() });
    }
  }
  return names;
}

/**
 * After the last op: polls the agents' status and compares every mirror with the master (under
 * prefix only: runs do not see each other's leftovers), until status says in sync and every
 * mirror is equal (pass), status says in sync for lieGraceMs while a mirror differs (lie), or
 * timeoutMs passes.
 */
export async function settle(o: SettleOptions): Promise<SettleResult> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const grace = o.lieGraceMs ?? 3000;
  const data = (s: string) => o.inv.hosts.find((h) => h.site === s)!.labDataDir!;
  const depth = o.prefix.split('/').length;
  const compare = (): Record<string, Diff[]> => {
    const out: Record<string, Diff[]> = {};
    for (const s of MIRRORS) {
      const d = diffTrees(path.join(data('ny'), o.prefix), path.join(data(s), o.prefix), { depth, exclude: excluder(DIFF_EXCLUDE) });
      if (d.length) out[s] = d;
    }
    return out;
  };
  // status.json is rewritten every second: one written after the last op's tick
  const since = o.lastOpAt + 100;
  let inSyncAt: number | null = null;
  let okSince: number | null = null;
  let equalAt: number | null = null;
  let lastCompare = 0;
  let diffs: Record<string, Diff[]> = {};
  let why = '';
  let explainedSince: number | null = null;
  let explainedCount = 0;
  await sleep(200);
  for (;;) {
    const now = Date.now();
    const v = await observeLab(o.customer, o.inv, since);
    why = v.why;
    if (v.inSync) {
      okSince ??= Date.now();
      inSyncAt ??= Date.now();
    } else okSince = null;
    if (v.inSync || Date.now() - lastCompare > 1000) {
      diffs = compare();
      lastCompare = Date.now();
      const equal = Object.keys(diffs).length === 0;
      if (equal) equalAt ??= Date.now();
      else equalAt = null;
    }
    const equal = Object.keys(diffs).length === 0;
    const res = (outcome: SettleResult['outcome']): SettleResult => ({
      outcome,
      inSyncAfterMs: inSyncAt === null ? null : inSyncAt - o.lastOpAt,
      equalAfterMs: equalAt === null ? null : equalAt - o.lastOpAt,
      earlyMs: inSyncAt !== null && equalAt !== null && equalAt > inSyncAt ? equalAt - inSyncAt : 0,
      diffs,
      why,
    });
    if (v.inSync && equal) return explainedSince !== null ? { ...res('pass'), repairedByVerify: explainedCount } : res('pass');
    const all = Object.values(diffs).flat();
    const explained = !!o.explained && all.length > 0 && all.every(o.explained);
    if (explained && v.inSync) {
      explainedSince ??= Date.now();
      explainedCount = Math.max(explainedCount, all.length);
    }
    if (explained && explainedSince !== null && Date.now() - explainedSince < (o.verifyTimeoutMs ?? 150_000)) {
      await sleep(500);
      continue;
    }
    if (v.inSync && !equal && okSince !== null && Date.now() - okSince >= grace) return res('status-lied');
    if (Date.now() - o.lastOpAt > timeoutMs) return res('never-in-sync');
    const spent = Date.now() - now;
    await sleep(Math.max(50, 300 - spent));
  }
}

/**
 * Brings the lab back to a known state after a failed run: every mirror's receiver is killed, so
 * every link reconnects and reconciles with rsync. Bounded wait for in-sync; returns why not.
 */
export async function repairLab(customer: string, inv: Inventory, timeoutMs = 20_000): Promise<string | null> {
  await Promise.all(MIRRORS.map((s) => hostExec(customer, s, ['sh', '-c', 'p=$(cat /var/lib/tandem/state/receiver.pid 2>/dev/null) && kill -9 "$p" 2>/dev/null; true'], { timeoutMs: 10_000 })));
  const since = Date.now() + 500;
  const until = Date.now() + timeoutMs;
  let why = '';
  await sleep(500);
  while (Date.now() < until) {
    const v = await observeLab(customer, inv, since);
    if (v.inSync) return null;
    why = v.why;
    await sleep(300);
  }
  return why || 'not in sync';
}

/** A report of one run for a failure message or the bench's log. */
export function describeRun(name: string, seed: number | null, ops: readonly Op[], errors: ReadonlyMap<number, string>, r: SettleResult, scriptFile?: string): string {
  const lines = [
    `run ${name}${seed !== null ? ` (seed ${seed})` : ''}: ${r.outcome}; ${ops.filter((o) => o.op !== 'sleep').length} ops; in sync after ${r.inSyncAfterMs ?? '-'} ms, equal after ${r.equalAfterMs ?? '-'} ms`,
  ];
  if (r.outcome !== 'pass') lines.push(`  status: ${r.why || 'in sync (OK)'}`);
  if (errors.size)
    lines.push(
      `  ${errors.size} ops refused by the kernel (generator bug): ${[...errors]
        .slice(0, 5)
        .map(([i, e]) => `#${i} ${e}`)
        .join(', ')}`,
    );
  const all = new Set<string>();
  for (const [site, d] of Object.entries(r.diffs)) {
    lines.push(`  ${site}: ${d.length} differences\n${formatDiffs(d)}`);
    for (const x of d) all.add(x.path);
  }
  if (all.size) {
    const idx = sliceFor(ops, [...all].slice(0, 20));
    lines.push(`  ops touching those paths (${idx.length} of ${ops.length}):\n${formatOps(ops, errors, idx.slice(0, 80))}${idx.length > 80 ? '\n  ...' : ''}`);
  }
  if (scriptFile) lines.push(`  full script: ${scriptFile}`);
  return lines.join('\n');
}
