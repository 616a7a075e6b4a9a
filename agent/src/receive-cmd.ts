/**
 * `agent.js receive`: the forced command of the restricted sync key. sshd puts what the
 * client asked for in SSH_ORIGINAL_COMMAND; we serve exactly two things and refuse the rest.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { AgentConfig } from './contract';
import { HomePaths, STAGING_DIR, errMsg, log, logToFile, readJson, stderrClosed, writeFileAtomic } from './env';
import { Frame, encode } from './frame';
import { ReceiverSession, type ReceiverOptions } from './receiver';
import { runEpochAnswer } from './fence';

const RRSYNC_CANDIDATES = ['/usr/bin/rrsync', '/usr/share/doc/rsync/support/rrsync'];

export function runReceive(paths: HomePaths): Promise<number> {
  logToFile(path.join(paths.logDir, 'receiver.log'));
  const cmd = (process.env.SSH_ORIGINAL_COMMAND ?? '').trim();
  const config = readJson<AgentConfig>(paths.config);
  if (!config) {
    log('error', 'receive: no readable config; refusing', { config: paths.config });
    return Promise.resolve(2);
  }
  if (cmd === 'tandem-receive') return frameReceiver(paths, config);
  // The feeder asking this host's epoch at its boot (agent/src/fence.ts): public facts only.
  if (cmd === 'tandem-epoch') return Promise.resolve(runEpochAnswer(paths));
  if (/^rsync --server(\s|$)/.test(cmd)) return Promise.resolve(rsyncServer(cmd, config));
  log('error', 'receive: refused command', { command: cmd.slice(0, 200) });
  process.stderr.write(`tandem: this key only runs tandem-receive or rsync into the data dir; refused: ${cmd.slice(0, 100)}\n`);
  return Promise.resolve(1);
}

/** rsync confined to dataDir by rsync's own rrsync (write-only: a child never serves reads). */
function rsyncServer(cmd: string, config: AgentConfig): number {
  if (/\s--sender(\s|$)/.test(cmd)) {
    log('error', 'receive: rsync --sender refused (mirrors only receive)', { command: cmd.slice(0, 200) });
    process.stderr.write('tandem: this key only writes into the data dir; rsync --sender refused\n');
    return 1;
  }
  const rrsync = RRSYNC_CANDIDATES.find((p) => fs.existsSync(p));
  if (!rrsync) {
    log('error', 'receive: rrsync not found; install the rsync package (Debian ships /usr/bin/rrsync)');
    return 1;
  }
  try {
    // --temp-dir must exist before rrsync validates it.
    fs.mkdirSync(path.join(config.dataDir, STAGING_DIR, 'rsync-tmp'), { recursive: true, mode: 0o700 });
  } catch (e) {
    log('error', 'receive: cannot prepare rsync temp dir', { error: errMsg(e) });
    return 1;
  }
  const r = spawnSync(rrsync, ['-wo', config.dataDir], { stdio: 'inherit', env: { ...process.env, SSH_ORIGINAL_COMMAND: cmd } });
  if (r.error) log('error', 'receive: rrsync failed to start', { error: errMsg(r.error) });
  return r.status ?? 1;
}

function takeLock(paths: HomePaths): void {
  const lock = path.join(paths.stateDir, 'receiver.pid');
  fs.mkdirSync(paths.stateDir, { recursive: true });
  const old = Number(fs.existsSync(lock) ? fs.readFileSync(lock, 'utf8').trim() : 0);
  // Only a real pid: kill(0) or kill(-1) would signal a whole process group or every process.
  if (Number.isInteger(old) && old > 1 && old !== process.pid && alive(old)) {
    // A newer link from the sender wins: the old one is a link the sender already gave up on.
    log('warn', 'receive: taking over from an older receiver', { pid: old });
    try {
      process.kill(old, 'SIGTERM');
    } catch {
      /* gone */
    }
    const until = Date.now() + 5000;
    while (alive(old) && Date.now() < until) spawnSync('sleep', ['0.05']);
    if (alive(old)) process.kill(old, 'SIGKILL');
  }
  // Atomic: a reader (a newer receiver, a test) never sees the file empty or half written.
  writeFileAtomic(lock, String(process.pid));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The session's check that this host's config (rewritten by a failover) still lets the sender
 * feed it: same feeder, not master, no higher epoch. The config is re-read when its mtime changed,
 * looked at no more than every 100 ms while frames stream: the first frame after a pause (a healed
 * partition) is always checked.
 */
function configStillFeeds(paths: HomePaths): (sender: string, senderEpoch: number) => string | null {
  let checkedAt = 0;
  let mtime = -1;
  let verdict: ((sender: string, senderEpoch: number) => string | null) | null = null;
  return (sender, senderEpoch) => {
    const now = Date.now();
    if (verdict && now - checkedAt < 100) return verdict(sender, senderEpoch);
    checkedAt = now;
    let m: number;
    try {
      m = fs.statSync(paths.config).mtimeMs;
    } catch {
      return `this host's config (${paths.config}) is gone`;
    }
    if (m !== mtime || !verdict) {
      mtime = m;
      const c = readJson<AgentConfig>(paths.config);
      verdict = (who, e) => {
        if (!c) return null; // being rewritten: the next frame looks again
        if (c.epoch > e) return `stale epoch: sender ${who} has epoch ${e}, this host's config has epoch ${c.epoch} since this link came up; a failover happened since`;
        if (c.role === 'master') return `this host is the master now (epoch ${c.epoch}); it does not receive from ${who}`;
        if (c.feedFrom && c.feedFrom !== who) return `this host is fed by ${c.feedFrom} now, not ${who}`;
        return null;
      };
    }
    return verdict(sender, senderEpoch);
  };
}

/**
 * The session's switches that come from the environment, read once here. The test-only ones
 * (docs/agent.md) are honoured only with TANDEM_AGENT_HOME set, as the agent's other
 * TANDEM_TEST_* are: tests always set it, the installed agent runs without it.
 */
function sessionSwitches(): Pick<ReceiverOptions, 'fsync' | 'crashAfterOps' | 'features'> {
  const test = !!process.env.TANDEM_AGENT_HOME;
  const crash = test ? process.env.TANDEM_TEST_CRASH_AFTER_OPS : undefined;
  return {
    fsync: process.env.TANDEM_FSYNC !== '0',
    crashAfterOps: crash ? Number(crash) : undefined,
    // A receiver older than Z frames, which advertises nothing.
    features: test && process.env.TANDEM_TEST_NO_DEFLATE === '1' ? [] : undefined,
  };
}

/** How long a receiver that closed its link waits for its last reply to drain before it exits. */
const CLOSE_DRAIN_MS = 5000;

/**
 * The frame receiver lives exactly as long as its peer: stdin EOF or error, EPIPE on stdout,
 * SIGHUP or SIGTERM end it. It never outlives its ssh session: an orphaned receiver once spun
 * at 60-94 % CPU logging EPIPE after its client went away.
 */
function frameReceiver(paths: HomePaths, config: AgentConfig): Promise<number> {
  return new Promise((resolve) => {
    takeLock(paths);
    let done = false;
    const finish = (code: number, why: string): void => {
      if (done) return;
      done = true;
      if (why !== 'eof') log('info', `receive: ending (${why})`);
      try {
        session.onEnd();
      } catch (e) {
        log('warn', 'receive: cannot record the end of the link', { error: errMsg(e) });
      }
      resolve(code);
      // main exits on the resolved promise; this is the floor if anything keeps the loop busy.
      setTimeout(() => process.exit(code), 1000).unref();
    };
    const session = new ReceiverSession({
      dataDir: config.dataDir,
      paths,
      customer: config.customer,
      configEpoch: config.epoch,
      role: config.role,
      exclude: config.exclude,
      stillValid: configStillFeeds(paths),
      ...sessionSwitches(),
      send: (f: Frame) => {
        if (!process.stdout.destroyed) process.stdout.write(encode(f));
      },
      close: (code) => {
        process.stdin.pause();
        // A peer that stopped reading must not keep us waiting for the drain forever.
        setTimeout(() => finish(code, 'reply not drained'), CLOSE_DRAIN_MS).unref();
        if (process.stdout.destroyed) finish(code, 'stdout closed');
        else process.stdout.write('', () => finish(code, 'link closed'));
      },
    });
    try {
      session.recover();
    } catch (e) {
      log('error', 'receive: cannot prepare staging / replay journal', { error: errMsg(e) });
      resolve(2);
      return;
    }
    process.stdin.on('data', (c: Buffer) => {
      if (!done) session.onData(c);
    });
    process.stdin.on('end', () => finish(0, 'eof'));
    process.stdin.on('close', () => finish(0, 'stdin closed'));
    process.stdin.on('error', (e) => finish(0, `stdin: ${errMsg(e)}`));
    process.stdout.on('error', (e) => finish(0, `stdout: ${errMsg(e)}`));
    process.stderr.on('error', () => stderrClosed());
    process.on('SIGTERM', () => finish(0, 'SIGTERM'));
    process.on('SIGHUP', () => finish(0, 'SIGHUP'));
  });
}
