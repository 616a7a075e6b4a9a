/**
 * Synchronous file primitives of the receiver: whole and sparse writes to an open fd, a
 * directory fsync, an lstat that answers null instead of throwing. Synchronous on purpose (see
 * receiver.ts): a batch is never interrupted between two of them by a signal handler.
 */
import * as fs from 'fs';

const BLOCK = 4096;
const ZERO = Buffer.alloc(BLOCK);
/**
 * Writes a whole file, leaving holes where a block is all zeros (as rsync --sparse does): a
 * sparse file on the master does not become fully allocated on the mirror. Small bodies go in
 * one write.
 */
export function writeSparse(fd: number, buf: Buffer): void {
  if (buf.length < 16 * BLOCK) return writeAll(fd, buf);
  let run = -1; // start of a run of data blocks not yet written
  for (let off = 0; off < buf.length; off += BLOCK) {
    const end = Math.min(off + BLOCK, buf.length);
    const zero = end - off === BLOCK && buf.subarray(off, end).equals(ZERO);
    if (!zero && run < 0) run = off;
    if (zero && run >= 0) {
      writeAt(fd, buf.subarray(run, off), run);
      run = -1;
    }
  }
  if (run >= 0) writeAt(fd, buf.subarray(run), run);
  fs.ftruncateSync(fd, buf.length);
}

function writeAt(fd: number, buf: Buffer, pos: number): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off, pos + off);
}

export function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

export function fsyncDir(d: string): void {
  try {
    const fd = fs.openSync(d, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

export function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

export function isSymlink(p: string): boolean {
  return lstatOrNull(p)?.isSymbolicLink() ?? false;
}
