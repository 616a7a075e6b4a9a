/**
 * The receiving side of a link, one session per link: parses frames from the sender, checks the
 * HELLO, stages every file of a batch inside dataDir's filesystem, and at the batch's end has it
 * published through a journal (apply.ts) so that after a crash the mirror is at the whole batch
 * or at none of it; answers with ACK/NAK and VERIFY results, and keeps the receiver state
 * (receiver-state.ts) current. All disk work is synchronous on purpose: signals (SIGTERM from a
 * newer receiver taking over) are only handled between frames, so a batch is never interrupted
 * half-applied by anything short of SIGKILL/power loss, and those are what the journal is for.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AGENT_VERSION, HomePaths, PROTO_VERSION, STAGING_DIR, errMsg, log } from './env';
import { FEATURE_DEFLATE, Frame, FrameError, FrameParser, MAX_BODY, unpackZ } from './frame';
import { PathError, checkRelPath, safeTarget, symlinkStaysInside } from './pathsafe';
import { Excluder } from './exclude';
import { FEATURE_VERIFY, VEntry, VerifyAnswer, VerifyUnit, compareUnit } from './verify';
import { applyOps, preflight, removeJournal, replayJournal, writeJournal, type ApplyOptions, type Op } from './apply';
import { loadReceiverState, saveReceiverState, type ReceiverState } from './receiver-state';
import { writeAll, writeSparse } from './diskio';

// Importable from here as before the state moved to its own file.
export { emptyReceiverState } from './receiver-state';
export type { ReceiverState } from './receiver-state';

export interface ReceiverOptions {
  dataDir: string;
  paths: HomePaths;
  customer: string;
  /** Epoch from this host's own config; a sender below it is stale. */
  configEpoch: number;
  /** A master never receives. */
  role: 'master' | 'mirror';
  send: (f: Frame) => void;
  /** Called once when the link must end (fatal protocol error). */
  close: (code: number, reason: string) => void;
  /** @default true; the receive command passes false for TANDEM_FSYNC=0 (unsafe on power loss). */
  fsync?: boolean;
  maxBody?: number;
  /** This host's exclude patterns: excluded names on the mirror are never "extra". */
  exclude?: readonly string[];
  /**
   * Asked before every frame after the HELLO: may this link still feed this host? A reason ends
   * the link (fatal). A session outlives a failover when its TCP connection survives a network
   * partition: without this, a demoted master's stream resumed into the old session after the
   * partition healed and was applied on the new master (found by test/failover/partition.test.ts).
   */
  stillValid?: (sender: string, senderEpoch: number) => string | null;
  /**
   * Test-only (the receive command passes TANDEM_TEST_CRASH_AFTER_OPS in test mode): SIGKILL this
   * process after N ops of a batch or a journal replay.
   * @default never
   */
  crashAfterOps?: number;
  /**
   * What the ACK of the HELLO advertises. Test-only override (the receive command passes [] for
   * TANDEM_TEST_NO_DEFLATE=1 in test mode): [] is a receiver older than Z frames.
   * @default [FEATURE_DEFLATE, FEATURE_VERIFY]
   */
  features?: readonly string[];
}

export class ReceiverSession {
  readonly state: ReceiverState;
  private readonly parser: FrameParser;
  private readonly dataDir: string;
  private readonly staging: string;
  private hello = false;
  private closed = false;
  private ops: Op[] = [];
  private staged: string[] = [];
  private batchError: string | null = null;
  private resend: string[] = [];
  /** VERIFY units of the current batch, compared once it is applied. */
  private verifies: VerifyUnit[] = [];
  private readonly excluder: Excluder;
  private appendEnds = new Map<string, number>();
  private n = 0;
  private readonly fsync: boolean;
  /** Where and how a batch's ops are published (apply.ts). */
  private readonly applyTo: ApplyOptions;
  /** What the ACK of the HELLO advertises. */
  private readonly features: string[];

  constructor(private readonly o: ReceiverOptions) {
    this.dataDir = fs.realpathSync(o.dataDir);
    this.staging = path.join(this.dataDir, STAGING_DIR);
    this.parser = new FrameParser(o.maxBody ?? MAX_BODY);
    this.state = loadReceiverState(o.paths);
    this.fsync = o.fsync ?? true;
    this.applyTo = { dataDir: this.dataDir, staging: this.staging, fsync: this.fsync, crashAfterOps: o.crashAfterOps ?? -1 };
    this.features = o.features ? [...o.features] : [FEATURE_DEFLATE, FEATURE_VERIFY];
    this.excluder = new Excluder(o.exclude ?? []);
  }

  /** Replays a journal left by a crash, then clears loose staged files. */
  recover(): void {
    fs.mkdirSync(this.staging, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.o.paths.stateDir, { recursive: true });
    const j = replayJournal(this.applyTo, this.o.paths);
    if (j) {
      this.state.lastAppliedChangeTime = Math.max(this.state.lastAppliedChangeTime ?? 0, j.changeTime || 0) || null;
      this.state.lastSeq = j.seq;
      this.saveState();
    }
    removeJournal(this.o.paths);
    for (const name of fs.readdirSync(this.staging)) {
      if (name.startsWith('rsync-')) continue; // rsync's own temp/partial dirs
      fs.rmSync(path.join(this.staging, name), { recursive: true, force: true });
    }
  }

  /** Feed bytes from the link. Never throws. */
  onData(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch (e) {
      this.fatal(e instanceof FrameError ? e.message : `parser: ${errMsg(e)}`);
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      this.dispatch(f);
    }
  }

  private senderEpoch = 0;

  private dispatch(f: Frame): void {
    if (this.hello && this.o.stillValid) {
      const why = this.o.stillValid(this.state.sender ?? '', this.senderEpoch);
      if (why) return this.fatal(why);
    }
    try {
      this.handle(f);
    } catch (e) {
      // Anything unexpected fails the batch, not the process.
      this.failBatch(`${f.t}: ${errMsg(e)}`);
    }
  }

  /** The sender went away. */
  onEnd(): void {
    this.discardStaged();
    this.state.inSync = false;
    this.state.updatedAt = Date.now();
    this.saveState();
  }

  private handle(f: Frame): void {
    if (!this.hello) {
      if (f.t !== 'HELLO') return this.fatal(`first frame must be HELLO, got ${f.t}`);
      if (this.o.role === 'master') return this.fatal(`this host is the master (epoch ${this.o.configEpoch}); it does not receive from ${f.site}`);
      if (f.customer !== this.o.customer) return this.fatal(`sender customer ${JSON.stringify(f.customer)} is not this host's ${JSON.stringify(this.o.customer)}`);
      if (f.proto !== PROTO_VERSION) return this.fatal(`sender speaks protocol ${f.proto}; this agent ${AGENT_VERSION} speaks ${PROTO_VERSION}`);
      const floor = Math.max(this.state.highestEpoch, this.o.configEpoch);
      if (f.epoch < floor) return this.fatal(`stale epoch: sender ${f.site} has epoch ${f.epoch}, this host has seen ${floor}; a failover happened since`);
      this.hello = true;
      this.senderEpoch = f.epoch;
      this.state.highestEpoch = f.epoch;
      this.state.sender = f.site;
      this.state.updatedAt = Date.now();
      this.saveState();
      log('info', 'receiver: link up', { from: f.site, epoch: f.epoch, version: f.version });
      this.o.send({ t: 'ACK', seq: 0, appliedTime: Date.now(), features: this.features });
      return;
    }
    if (this.batchError && f.t !== 'BATCH_END' && f.t !== 'HEARTBEAT') return; // skip the rest of a failed batch
    switch (f.t) {
      case 'HELLO':
        return this.fatal('HELLO twice');
      case 'ACK':
      case 'NAK':
        return this.fatal(`unexpected ${f.t} from sender`);
      case 'HEARTBEAT':
        // through = null: the sender (a relay) is itself not current with the master.
        if (f.through !== null) this.state.through = Math.max(this.state.through ?? 0, f.through);
        this.state.inSync = f.through !== null;
        this.state.updatedAt = Date.now();
        this.saveState();
        return;
      case 'WRITE': {
        checkRelPath(f.path);
        const stage = this.stageName();
        const fd = fs.openSync(stage, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
        this.staged.push(stage);
        try {
          writeSparse(fd, f.body);
          // setuid/setgid/sticky too: a mirror must be the same tree, not a similar one.
          fs.fchmodSync(fd, f.mode & 0o7777);
          fs.futimesSync(fd, f.mtime / 1000, f.mtime / 1000);
          if (this.fsync) fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        this.ops.push({ k: 'rename', from: path.basename(stage), to: f.path });
        this.appendEnds.set(f.path, f.body.length);
        return;
      }
      case 'APPEND':
        return this.stageAppend(f.path, f.offset, f.body);
      case 'DELETE':
        checkRelPath(f.path);
        this.ops.push({ k: 'delete', to: f.path });
        this.appendEnds.delete(f.path);
        return;
      case 'MKDIR':
        checkRelPath(f.path);
        this.ops.push({ k: 'mkdir', to: f.path, mode: f.mode & 0o7777 });
        return;
      case 'SYMLINK': {
        checkRelPath(f.path);
        if (!symlinkStaysInside(this.dataDir, f.path, f.target)) throw new PathError(`symlink ${JSON.stringify(f.path)} -> ${JSON.stringify(f.target.slice(0, 200))} points outside dataDir; refused`);
        const stage = this.stageName();
        fs.symlinkSync(f.target, stage);
        this.staged.push(stage);
        this.ops.push({ k: 'rename', from: path.basename(stage), to: f.path });
        return;
      }
      case 'BATCH_END':
        return this.endBatch(f.seq, f.changeTime, f.inSync);
      case 'VERIFY': {
        if (!this.features.includes(FEATURE_VERIFY)) return this.fatal('VERIFY frame, but this receiver did not offer verify');
        if (f.dir) checkRelPath(f.dir);
        if (this.verifies.length >= 64) throw new PathError('more than 64 VERIFY frames in one batch');
        let entries: unknown;
        try {
          entries = JSON.parse(f.body.toString('utf8'));
        } catch {
          return this.fatal('VERIFY body is not JSON');
        }
        if (!Array.isArray(entries) || !entries.every(validEntry)) return this.fatal('VERIFY body must be a list of [name, type, mode, size, data, offset?, length?]');
        this.verifies.push({ id: f.id, dir: f.dir, from: f.from, to: f.to, whole: f.whole, entries: entries as VEntry[] });
        return;
      }
      case 'Z': {
        // Malformed compressed content is malformed input like any other: the link closes. Only
        // once the whole Z checked out are its frames handled, exactly as if they had come
        // one by one on the stream (so a refused path fails the batch, as it would there).
        if (!this.features.includes(FEATURE_DEFLATE)) return this.fatal('Z frame, but this receiver did not offer deflate');
        let inner: Frame[];
        try {
          inner = unpackZ(f, this.o.maxBody ?? MAX_BODY);
        } catch (e) {
          return this.fatal(errMsg(e));
        }
        for (const g of inner) {
          if (this.closed) return;
          this.dispatch(g);
        }
        return;
      }
    }
  }

  private stageAppend(rel: string, offset: number, body: Buffer): void {
    const comps = checkRelPath(rel);
    let size = this.appendEnds.get(rel);
    let target: string | null = null;
    if (size === undefined) {
      target = safeTarget(this.dataDir, comps, false);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(target);
      } catch {
        this.resend.push(rel);
        return;
      }
      if (!st.isFile()) {
        this.resend.push(rel);
        return;
      }
      size = st.size;
    } else if (this.ops.some((op) => op.to === rel && op.k === 'rename')) {
      // A WRITE of this path is staged in this batch: appending on top is the sender's bug.
      this.resend.push(rel);
      return;
    }
    const end = offset + body.length;
    if (size < offset || size > end) {
      this.resend.push(rel);
      return;
    }
    const overlap = size - offset;
    if (overlap > 0) {
      // The sender re-sends a few bytes before its offset (and more after a reconcile): they
      // must equal what is here, or this file was not append-only and needs a full resend.
      const fd = fs.openSync(target ?? safeTarget(this.dataDir, comps, false), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        const have = Buffer.alloc(overlap);
        const n = fs.readSync(fd, have, 0, overlap, offset);
        if (n !== overlap || !have.equals(body.subarray(0, overlap))) {
          this.resend.push(rel);
          return;
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    const tail = body.subarray(overlap);
    this.appendEnds.set(rel, end);
    if (tail.length === 0) return;
    const stage = this.stageName();
    const fd = fs.openSync(stage, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    this.staged.push(stage);
    try {
      writeAll(fd, tail);
      if (this.fsync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.ops.push({ k: 'append', from: path.basename(stage), to: rel, at: size, len: tail.length });
  }

  private endBatch(seq: number, changeTime: number, inSync: boolean): void {
    const resend = this.resend;
    if (this.batchError) {
      const error = this.batchError;
      this.reset();
      this.recordError(error);
      this.o.send({ t: 'NAK', seq, error });
      return;
    }
    let errs: string[] = [];
    const refused = preflight(this.applyTo, this.ops);
    if (refused) {
      this.reset();
      log('error', 'receiver: batch refused', { seq, error: refused });
      this.recordError(refused);
      this.o.send({ t: 'NAK', seq, error: refused });
      return;
    }
    const now = Date.now();
    const hadOps = this.ops.length > 0;
    if (hadOps) {
      try {
        writeJournal(this.o.paths, { seq, changeTime, ops: this.ops }, this.fsync);
      } catch (e) {
        this.reset();
        const error = `journal: ${errMsg(e)}`;
        this.recordError(error);
        this.o.send({ t: 'NAK', seq, error });
        return;
      }
    }
    // The journal is the commit point: from here the batch is applied, now or by a replay. The
    // state goes first so that a relay, which forwards what it sees appear in its dataDir,
    // stamps the forwarded batch with this batch's master time, not the previous one's.
    this.state.lastSeq = seq;
    this.state.updatedAt = now;
    if (changeTime > 0) this.state.lastAppliedChangeTime = Math.max(this.state.lastAppliedChangeTime ?? 0, changeTime);
    if (inSync) this.state.through = Math.max(this.state.through ?? 0, changeTime);
    this.state.inSync = inSync && resend.length === 0;
    this.state.lastError = null;
    this.saveState();
    if (hadOps) {
      errs = applyOps(this.applyTo, this.ops);
      removeJournal(this.o.paths);
    }
    const units = this.verifies;
    this.reset();
    if (errs.length) {
      const error = errs.slice(0, 3).join('; ');
      this.recordError(error);
      this.o.send({ t: 'NAK', seq, error });
      return;
    }
    // After the batch is applied: the sender listed its tree as of this point of the stream.
    const verify: VerifyAnswer[] = [];
    for (const u of units) {
      try {
        // Never through a symlink: a parent chain holding one makes the whole unit missing.
        const dirOk = !u.dir || (safeTarget(this.dataDir, checkRelPath(u.dir), false), true);
        verify.push(dirOk ? compareUnit(this.dataDir, u, this.excluder) : { id: u.id, missing: u.entries.map((e) => e[0]), extra: [], differ: [] });
      } catch (e) {
        verify.push({ id: u.id, missing: u.entries.slice(0, 1000).map((x) => x[0]), extra: [], differ: [] });
        log('warn', 'receiver: verify failed', { dir: u.dir.slice(0, 200), error: errMsg(e) });
      }
    }
    const ack: Frame = { t: 'ACK', seq, appliedTime: Date.now() };
    if (resend.length) ack.resend = resend;
    if (verify.length) ack.verify = verify;
    this.o.send(ack);
  }

  private stageName(): string {
    return path.join(this.staging, `${process.pid}-${Date.now().toString(36)}-${this.n++}`);
  }

  private failBatch(error: string): void {
    if (!this.batchError) log('error', 'receiver: batch failed', { error });
    this.batchError ??= error;
    this.discardStaged();
  }

  private discardStaged(): void {
    for (const s of this.staged) {
      try {
        fs.unlinkSync(s);
      } catch {
        /* gone */
      }
    }
    this.staged = [];
    this.ops = [];
  }

  private reset(): void {
    this.discardStaged();
    this.batchError = null;
    this.resend = [];
    this.verifies = [];
    this.appendEnds.clear();
  }

  private recordError(error: string): void {
    this.state.lastError = error;
    this.state.lastErrorAt = Date.now();
    this.state.inSync = false;
    this.saveState();
  }

  private fatal(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    log('error', 'receiver: closing link', { reason });
    this.discardStaged();
    this.recordError(reason);
    try {
      this.o.send({ t: 'NAK', seq: -1, error: reason, fatal: true });
    } catch {
      /* peer gone */
    }
    this.o.close(3, reason);
  }

  saveState(): void {
    saveReceiverState(this.o.paths, this.state);
  }
}

function validEntry(e: unknown): boolean {
  if (!Array.isArray(e) || e.length < 5 || e.length > 7) return false;
  const [n, t, m, sz, d, off, len] = e as unknown[];
  const int = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  return (
    typeof n === 'string' &&
    n.length > 0 &&
    n.length <= 255 &&
    !n.includes('/') &&
    n !== '.' &&
    n !== '..' &&
    (t === 'f' || t === 'd' || t === 'l') &&
    int(m) &&
    int(sz) &&
    typeof d === 'string' &&
    d.length <= 4096 &&
    (off === undefined || int(off)) &&
    (len === undefined || int(len))
  );
}
