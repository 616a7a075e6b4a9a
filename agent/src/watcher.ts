/**
 * Change detection: inotifywait -m -r on dataDir (inotify-tools does the recursive watch
 * bookkeeping). One line per event, NUL-terminated so any file name survives.
 */
import { ChildProcess, spawn } from 'child_process';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { STAGING_DIR, log } from './env';
import { Excluder } from './exclude';

export const EV = { MODIFY: 1, CLOSE_WRITE: 2, MOVED_TO: 4, MOVED_FROM: 8, CREATE: 16, DELETE: 32, ATTRIB: 64 } as const;
const NAMES: Record<string, number> = EV;

export interface Change {
  rel: string;
  flags: number;
  isDir: boolean;
  /** Local clock (ms) when the change was seen. */
  time: number;
}

export declare interface Watcher {
  on(e: 'change', l: (c: Change) => void): this;
  on(e: 'overflow', l: () => void): this;
  on(e: 'exit', l: (code: number | null) => void): this;
}

export class Watcher extends EventEmitter {
  private proc: ChildProcess | null = null;
  private buf = '';
  private stopped = false;

  constructor(
    private readonly dataDir: string,
    private readonly excluder: Excluder,
  ) {
    super();
  }

  /** Resolves once every watch is in place (so nothing after that is missed). */
  start(): Promise<void> {
    const esc = this.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const args = [
      '-m', '-r', '--no-newline', '--format', '%e %w%f%0',
      // No close_write: every write() already raises modify after it is done, so the last
      // event of any write comes after its data; close_write only doubled the event rate.
      '-e', 'modify', '-e', 'moved_to', '-e', 'moved_from',
      '-e', 'create', '-e', 'delete', '-e', 'attrib',
      '--exclude', `^${esc}/${STAGING_DIR}(/|$)`,
      this.dataDir,
    ];
    const proc = spawn('inotifywait', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (d: string) => this.onData(d));
    return new Promise((resolve, reject) => {
      let err = '';
      proc.stderr!.setEncoding('utf8');
      proc.stderr!.on('data', (d: string) => {
        err += d;
        if (err.includes('Watches established')) resolve();
        if (err.length > 8192) err = err.slice(-4096);
      });
      proc.on('error', reject);
      proc.on('exit', (code) => {
        this.proc = null;
        reject(new Error(`inotifywait exited ${code}: ${err.trim().slice(-300)}`));
        if (!this.stopped) this.emit('exit', code);
      });
    });
  }

  stop(): void {
    this.stopped = true;
    this.proc?.kill('SIGTERM');
    this.proc = null;
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    const time = Date.now();
    while ((i = this.buf.indexOf('\0')) >= 0) {
      const rec = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      const sp = rec.indexOf(' ');
      const evs = rec.slice(0, sp).split(',');
      // inotifywait's %w%f ends in '/' for an event on a watched directory itself.
      const full = rec.slice(sp + 1).replace(/\/+$/, '');
      if (evs.includes('Q_OVERFLOW')) {
        log('warn', 'watcher: inotify queue overflowed; every child will reconcile');
        this.emit('overflow');
        continue;
      }
      let flags = 0;
      for (const e of evs) flags |= NAMES[e] ?? 0;
      const isDir = evs.includes('ISDIR');
      if (!full.startsWith(this.dataDir + '/')) continue;
      const rel = full.slice(this.dataDir.length + 1);
      if (!rel || this.excluder.excluded(rel, isDir)) continue;
      this.emit('change', { rel, flags, isDir, time });
      // A directory that appears (created or moved in) may already hold entries that were
      // made before its watch existed: walk it.
      if (isDir && flags & (EV.CREATE | EV.MOVED_TO)) this.walk(full, time);
    }
  }

  private walk(dir: string, time: number): void {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      const rel = full.slice(this.dataDir.length + 1);
      if (this.excluder.excluded(rel, e.isDirectory())) continue;
      this.emit('change', { rel, flags: EV.CLOSE_WRITE, isDir: e.isDirectory(), time });
      if (e.isDirectory()) this.walk(full, time);
    }
  }
}
