/**
 * The wire format between a sender (master or relay) and a receiver: length-prefixed binary
 * frames with a small JSON header.
 *
 *   u32 BE headerLen | u32 BE bodyLen | header (UTF-8 JSON object) | body (bodyLen bytes)
 *
 * Both lengths are checked against hard caps BEFORE anything is allocated, so a hostile or
 * broken peer cannot make the receiver allocate more than MAX_HEADER + MAX_BODY (a Z frame adds
 * at most Z_MAX_INFLATED for its inflated content).
 */
import * as zlib from 'zlib';
import type { VerifyAnswer } from './verify';

export const MAX_HEADER = 64 * 1024;
/** Whole-file WRITEs and APPEND chunks above this go through rsync instead. */
export const MAX_BODY = 16 * 1024 * 1024;
export const PREFIX = 8;
/**
 * Most bytes a Z frame may inflate to. Above the largest batch a sender can build (bodies stop
 * at BATCH_BYTES plus one MAX_BODY, 24 MiB, plus their headers), so the cap never decides what
 * a sender may compress; and it bounds what a Z costs the receiver: its body (<= MAX_BODY) plus
 * this, whatever the compressed bytes claim.
 */
export const Z_MAX_INFLATED = 32 * 1024 * 1024;
/** What a receiver can say it takes, in its ACK of the HELLO. */
export const FEATURE_DEFLATE = 'deflate';

export type Frame =
  | { t: 'HELLO'; customer: string; site: string; epoch: number; version: string; proto: number }
  | { t: 'WRITE'; path: string; mode: number; mtime: number; size: number; body: Buffer }
  | { t: 'APPEND'; path: string; offset: number; body: Buffer }
  | { t: 'DELETE'; path: string }
  | { t: 'MKDIR'; path: string; mode: number }
  | { t: 'SYMLINK'; path: string; target: string }
  | { t: 'BATCH_END'; seq: number; changeTime: number; inSync: boolean }
  | { t: 'HEARTBEAT'; through: number | null }
  | { t: 'ACK'; seq: number; appliedTime: number; resend?: string[]; features?: string[]; verify?: VerifyAnswer[] }
  /**
   * A listing of part of a directory on the sender (body: JSON array of VEntry), compared by
   * the receiver after the batch it is in has been applied; answered in that batch's ACK.
   * Only sent to a receiver that listed 'verify' in its features.
   */
  | { t: 'VERIFY'; id: number; dir: string; from: string; to: string; whole: boolean; body: Buffer }
  | { t: 'NAK'; seq: number; error: string; fatal?: boolean }
  /** Data frames of one batch, encoded back to back, then deflateRaw'ed; size = inflated length. */
  | { t: 'Z'; size: number; body: Buffer };

export type FrameType = Frame['t'];

export class FrameError extends Error {}

export function encode(frame: Frame): Buffer {
  const { body, ...header } = frame as Frame & { body?: Buffer };
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const b = body ?? Buffer.alloc(0);
  if (h.length > MAX_HEADER) throw new FrameError(`frame header ${h.length} bytes exceeds ${MAX_HEADER}`);
  if (b.length > MAX_BODY) throw new FrameError(`frame body ${b.length} bytes exceeds ${MAX_BODY}`);
  const p = Buffer.allocUnsafe(PREFIX);
  p.writeUInt32BE(h.length, 0);
  p.writeUInt32BE(b.length, 4);
  return Buffer.concat([p, h, b]);
}

/** Encodes without copying the body (for large WRITEs): returns the pieces to write in order. */
export function encodeParts(frame: Frame): Buffer[] {
  const { body, ...header } = frame as Frame & { body?: Buffer };
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const b = body ?? Buffer.alloc(0);
  if (h.length > MAX_HEADER || b.length > MAX_BODY) throw new FrameError('frame over the size cap');
  const p = Buffer.allocUnsafe(PREFIX);
  p.writeUInt32BE(h.length, 0);
  p.writeUInt32BE(b.length, 4);
  return b.length ? [Buffer.concat([p, h]), b] : [Buffer.concat([p, h])];
}

/** The frames a Z may hold: only data, never control frames (and never another Z). */
const Z_INNER: ReadonlySet<FrameType> = new Set(['WRITE', 'APPEND', 'DELETE', 'MKDIR', 'SYMLINK']);

/** A Z frame of already encoded data frames. */
export function encodeZ(plain: Buffer, level: number): Buffer {
  if (plain.length > Z_MAX_INFLATED) throw new FrameError(`Z content ${plain.length} bytes exceeds ${Z_MAX_INFLATED}`);
  return encode({ t: 'Z', size: plain.length, body: zlib.deflateRawSync(plain, { level }) });
}

/**
 * The data frames inside a Z, all of them checked before the caller handles the first: inflation
 * is capped at Z_MAX_INFLATED (a deflate bomb fails there, not in memory), the inflated length
 * must be the declared one, the content must be whole frames under the same caps as the stream,
 * and every frame must be a data frame. Throws FrameError.
 */
export function unpackZ(z: { size: number; body: Buffer }, maxBody = MAX_BODY): Frame[] {
  let plain: Buffer;
  try {
    plain = zlib.inflateRawSync(z.body, { maxOutputLength: Z_MAX_INFLATED });
  } catch (e) {
    throw new FrameError(`Z frame does not inflate: ${(e as Error).message.slice(0, 200)}`);
  }
  if (plain.length !== z.size) throw new FrameError(`Z frame inflates to ${plain.length} bytes, not the declared ${z.size}`);
  const parser = new FrameParser(maxBody);
  const frames = parser.push(plain);
  if (parser.pending) throw new FrameError(`Z frame ends inside a frame (${parser.pending} bytes left)`);
  for (const f of frames) if (!Z_INNER.has(f.t)) throw new FrameError(`Z frame may only hold data frames, not ${f.t}`);
  return frames;
}

const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Checks a decoded header against its type; throws FrameError naming what is wrong. */
export function validate(h: Record<string, unknown>, body: Buffer): Frame {
  const bad = (what: string): never => {
    throw new FrameError(`malformed ${String(h.t)} frame: ${what}`);
  };
  const noBody = (): void => {
    if (body.length) bad('unexpected body');
  };
  switch (h.t) {
    case 'HELLO':
      noBody();
      if (!isStr(h.customer, 200) || !isStr(h.site, 200) || !isInt(h.epoch) || !isStr(h.version, 100) || !isInt(h.proto)) bad('needs customer, site, epoch, version, proto');
      return { t: 'HELLO', customer: h.customer as string, site: h.site as string, epoch: h.epoch as number, version: h.version as string, proto: h.proto as number };
    case 'WRITE':
      if (!isStr(h.path) || !isInt(h.mode) || !isNum(h.mtime) || !isInt(h.size)) bad('needs path, mode, mtime, size');
      if (h.size !== body.length) bad(`size ${String(h.size)} but body has ${body.length} bytes`);
      return { t: 'WRITE', path: h.path as string, mode: h.mode as number, mtime: h.mtime as number, size: h.size as number, body };
    case 'APPEND':
      if (!isStr(h.path) || !isInt(h.offset)) bad('needs path, offset');
      return { t: 'APPEND', path: h.path as string, offset: h.offset as number, body };
    case 'DELETE':
      noBody();
      if (!isStr(h.path)) bad('needs path');
      return { t: 'DELETE', path: h.path as string };
    case 'MKDIR':
      noBody();
      if (!isStr(h.path) || !isInt(h.mode)) bad('needs path, mode');
      return { t: 'MKDIR', path: h.path as string, mode: h.mode as number };
    case 'SYMLINK':
      noBody();
      if (!isStr(h.path) || !isStr(h.target)) bad('needs path, target');
      return { t: 'SYMLINK', path: h.path as string, target: h.target as string };
    case 'BATCH_END':
      noBody();
      if (!isInt(h.seq) || !isNum(h.changeTime) || typeof h.inSync !== 'boolean') bad('needs seq, changeTime, inSync');
      return { t: 'BATCH_END', seq: h.seq as number, changeTime: h.changeTime as number, inSync: h.inSync as boolean };
    case 'HEARTBEAT':
      noBody();
      if (h.through !== null && !isNum(h.through)) bad('through must be a number or null');
      return { t: 'HEARTBEAT', through: h.through as number | null };
    case 'ACK': {
      noBody();
      if (!isInt(h.seq) || !isNum(h.appliedTime)) bad('needs seq, appliedTime');
      const resend = h.resend;
      if (resend !== undefined && !(Array.isArray(resend) && resend.every((p) => isStr(p)))) bad('resend must be a list of paths');
      const features = h.features;
      if (features !== undefined && !(Array.isArray(features) && features.length <= 16 && features.every((x) => isStr(x, 32)))) bad('features must be a list of at most 16 short names');
      const verify = h.verify;
      const names = (v: unknown): boolean => Array.isArray(v) && v.length <= 1000 && v.every((x) => isStr(x, 255));
      if (
        verify !== undefined &&
        !(Array.isArray(verify) && verify.length <= 64 && verify.every((a) => a && typeof a === 'object' && isInt(a.id) && names(a.missing) && names(a.extra) && names(a.differ)))
      )
        bad('verify must be a list of {id, missing, extra, differ}');
      return {
        t: 'ACK',
        seq: h.seq as number,
        appliedTime: h.appliedTime as number,
        resend: resend as string[] | undefined,
        features: features as string[] | undefined,
        verify: verify as VerifyAnswer[] | undefined,
      };
    }
    case 'VERIFY':
      if (!isInt(h.id) || !isStr(h.dir) || !isStr(h.from, 256) || !isStr(h.to, 257) || typeof h.whole !== 'boolean') bad('needs id, dir, from, to, whole');
      return { t: 'VERIFY', id: h.id as number, dir: h.dir as string, from: h.from as string, to: h.to as string, whole: h.whole as boolean, body };
    case 'NAK':
      noBody();
      if (typeof h.seq !== 'number' || !isStr(h.error, 10000)) bad('needs seq, error');
      return { t: 'NAK', seq: h.seq as number, error: h.error as string, fatal: h.fatal === true };
    case 'Z':
      if (!isInt(h.size) || (h.size as number) > Z_MAX_INFLATED) bad(`needs size, at most ${Z_MAX_INFLATED}`);
      return { t: 'Z', size: h.size as number, body };
    default:
      throw new FrameError(`unknown frame type ${JSON.stringify(h.t)?.slice(0, 40)}`);
  }
}

/**
 * Incremental parser: feed it chunks as they arrive, get whole frames out. Never holds more
 * than one frame's bytes plus one chunk. Throws FrameError on anything malformed; after that
 * the stream is unusable (the caller closes the link).
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private have = 0;
  private need: { h: number; b: number } | null = null;
  private broken = false;

  constructor(private readonly maxBody = MAX_BODY) {}

  push(chunk: Buffer): Frame[] {
    if (this.broken) throw new FrameError('stream already failed');
    this.chunks.push(chunk);
    this.have += chunk.length;
    const out: Frame[] = [];
    try {
      for (;;) {
        if (!this.need) {
          if (this.have < PREFIX) break;
          const p = this.take(PREFIX);
          const h = p.readUInt32BE(0);
          const b = p.readUInt32BE(4);
          if (h === 0 || h > MAX_HEADER) throw new FrameError(`frame header length ${h} outside 1..${MAX_HEADER}`);
          if (b > this.maxBody) throw new FrameError(`frame body length ${b} exceeds cap ${this.maxBody}`);
          this.need = { h, b };
        }
        if (this.have < this.need.h + this.need.b) break;
        const hb = this.take(this.need.h);
        const body = this.take(this.need.b);
        this.need = null;
        let header: unknown;
        try {
          header = JSON.parse(hb.toString('utf8'));
        } catch {
          throw new FrameError('frame header is not JSON');
        }
        if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new FrameError('frame header is not a JSON object');
        out.push(validate(header as Record<string, unknown>, body));
      }
    } catch (e) {
      this.broken = true;
      throw e;
    }
    return out;
  }

  /** Bytes buffered but not yet a whole frame. */
  get pending(): number {
    return this.have;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.have -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
    return out;
  }
}
