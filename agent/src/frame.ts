/**
 * The wire format between a sender (master or relay) and a receiver: length-prefixed binary
 * frames with a small JSON header.
 *
 *   u32 BE headerLen | u32 BE bodyLen | header (UTF-8 JSON object) | body (bodyLen bytes)
 *
 * Both lengths are checked against hard caps BEFORE anything is allocated, so a hostile or
 * broken peer cannot make the receiver allocate more than MAX_HEADER + MAX_BODY.
 */

export const MAX_HEADER = 64 * 1024;
/** Whole-file WRITEs and APPEND chunks above this go through rsync instead. */
export const MAX_BODY = 16 * 1024 * 1024;
export const PREFIX = 8;

export type Frame =
  | { t: 'HELLO'; customer: string; site: string; epoch: number; version: string; proto: number }
  | { t: 'WRITE'; path: string; mode: number; mtime: number; size: number; body: Buffer }
  | { t: 'APPEND'; path: string; offset: number; body: Buffer }
  | { t: 'DELETE'; path: string }
  | { t: 'MKDIR'; path: string; mode: number }
  | { t: 'SYMLINK'; path: string; target: string }
  | { t: 'BATCH_END'; seq: number; changeTime: number; inSync: boolean }
  | { t: 'HEARTBEAT'; through: number | null }
  | { t: 'ACK'; seq: number; appliedTime: number; resend?: string[] }
  | { t: 'NAK'; seq: number; error: string; fatal?: boolean };

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
      if (!isStr(h.customer, 200) || !isStr(h.site, 200) || !isInt(h.epoch) || !isStr(h.version, 100) || !isInt(h.proto))
        bad('needs customer, site, epoch, version, proto');
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
      return { t: 'ACK', seq: h.seq as number, appliedTime: h.appliedTime as number, resend: resend as string[] | undefined };
    }
    case 'NAK':
      noBody();
      if (typeof h.seq !== 'number' || !isStr(h.error, 10000)) bad('needs seq, error');
      return { t: 'NAK', seq: h.seq as number, error: h.error as string, fatal: h.fatal === true };
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
