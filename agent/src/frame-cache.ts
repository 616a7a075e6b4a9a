/**
 * Owns what links share within one turn of the event loop: the frames built for a path (links in
 * step need the same frame, so it is read and encoded once, not once per child), the encoded
 * batch and its deflated form, and the shared stats and reads of dataDir (files.ts).
 */
import { Frame, encodeParts, encodeZ } from './frame';
import { SharedFiles } from './files';
import type { Offset } from './reconcile';

/**
 * A batch whose data frames encode to at most this goes as one Z frame when the child takes
 * deflate. Bigger ones are bulk file bodies, often already compressed, and deflating them would
 * hold the tick (and every other link) for tens of milliseconds.
 */
const DEFLATE_MAX = 1024 * 1024;
/**
 * zlib's fastest level: the point of compressing here instead of in ssh is CPU, and a tick's
 * appends and JSON headers shrink nearly as much as at the default level (a 7 KiB batch of the
 * benchmark's ticks: 1,257 bytes at level 1, 1,184 at 6).
 */
const DEFLATE_LEVEL = 1;

/**
 * Frames built in the current tick, shared by links: children that are in step (the normal
 * case) need the same frame for a path, so it is read and encoded once, not once per child.
 */
interface CachedFrame {
  f: Frame | null;
  more: boolean;
  big: boolean;
  off: Offset | null;
}

export class FrameCache {
  private frames = new Map<string, CachedFrame>();
  private encoded = new WeakMap<Frame, Buffer[]>();
  private armed = false;

  get(key: string) {
    return this.frames.get(key);
  }

  set(key: string, v: CachedFrame): void {
    this.frames.set(key, v);
    this.arm();
  }

  encode(f: Frame): Buffer[] {
    let e = this.encoded.get(f);
    if (!e) {
      e = encodeParts(f);
      this.encoded.set(f, e);
    }
    return e;
  }

  private lastFrames: Frame[] | null = null;
  private lastBuf: Buffer | null = null;
  private lastZ: Buffer | null = null;

  /**
   * The frames of a batch as one buffer; with deflate, as one Z frame if that is worth it.
   * Links in step build the very same frames in the same turn, so the buffer of the previous
   * link is reused when every frame is the same object. Its Z is reused when the bytes are the
   * same: frames that are not cached (DELETE of a path gone, MKDIR, SYMLINK) are new objects in
   * each link, and a batch with one of them would otherwise be compressed once per child.
   */
  encodeAll(frames: Frame[], deflate = false): Buffer {
    const lf = this.lastFrames;
    if (!(lf && lf.length === frames.length && frames.every((f, i) => f === lf[i]))) {
      const parts: Buffer[] = [];
      for (const f of frames) for (const p of this.encode(f)) parts.push(p);
      const buf = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (!this.lastBuf?.equals(buf)) {
        this.lastBuf = buf;
        this.lastZ = null;
      }
      this.lastFrames = frames;
      this.arm();
    }
    const buf = this.lastBuf!;
    if (!deflate || buf.length > DEFLATE_MAX) return buf;
    if (!this.lastZ) {
      // Content that does not shrink (already compressed bodies) goes as it is.
      const z = encodeZ(buf, DEFLATE_LEVEL);
      this.lastZ = z.length < buf.length ? z : buf;
    }
    return this.lastZ;
  }

  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    setImmediate(() => {
      this.frames.clear();
      this.lastFrames = null;
      this.lastBuf = null;
      this.lastZ = null;
      this.armed = false;
    });
  }
}
export const cache = new FrameCache();

/** Stats and reads of dataDir, shared by every link in this process (see files.ts). */
export const files = new SharedFiles();
