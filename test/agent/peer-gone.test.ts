/**
 * A receiver must not outlive its peer, and no agent log grows without bound (issue 8, item 9).
 * The field report: an ssh client that went away early left `agent.js receive` orphaned at
 * 60-94 % CPU, writing "uncaught exception EPIPE" to its log at ~4.6 MB/s. Here the real bundled
 * receiver runs over pipes the way sshd runs it; the lab version is test/ops/lab-security.test.ts.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { LOG_CAP, log, logToFile } from '../../agent/src/env';
import { agentBundle, makeHost, tempRoot, writeConfig } from './helpers';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

describe('a receiver whose peer is gone', () => {
  const root = tempRoot('peer-gone');
  const h = makeHost(root, 'ldn');
  writeConfig(h, { role: 'mirror', feedFrom: 'ny', feedFromAddress: '198.51.100.1' });
  const logFile = path.join(h.home, 'log', 'receiver.log');
  const pids: number[] = [];
  afterAll(() => {
    for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
    fs.rmSync(root, { recursive: true, force: true });
  });

  function receiver() {
    const p = spawn(process.execPath, [agentBundle(), 'receive'], {
      env: { ...process.env, TANDEM_AGENT_HOME: h.home, SSH_ORIGINAL_COMMAND: 'tandem-receive', TANDEM_QUIET: '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    pids.push(p.pid!);
    p.on('error', () => undefined);
    p.stdin!.on('error', () => undefined);
    return p;
  }

  it('exits within 3 s when its stdout and stderr readers vanish while stdin stays open, and logs a few lines', async () => {
    fs.rmSync(logFile, { force: true });
    const p = receiver();
    await new Promise((r) => setTimeout(r, 300)); // running, waiting for HELLO
    // sshd's ends of stdout/stderr gone; then input that makes the receiver answer (and log).
    p.stdout!.destroy();
    p.stderr!.destroy();
    p.stdin!.write(Buffer.from('not a frame at all, just bytes from a client that left'));
    expect(await gone(p.pid!, 3000)).toBe(true);
    expect(fs.statSync(logFile).size).toBeLessThan(16 * 1024);
    expect(fs.readFileSync(logFile, 'utf8')).not.toMatch(/uncaught exception/);
  }, 15_000);

  it.each(['SIGHUP', 'SIGTERM'] as const)(
    'exits on %s',
    async (sig) => {
      const p = receiver();
      await new Promise((r) => setTimeout(r, 300));
      p.kill(sig);
      expect(await gone(p.pid!, 3000)).toBe(true);
    },
    15_000,
  );

  it('exits on stdin EOF', async () => {
    const p = receiver();
    await new Promise((r) => setTimeout(r, 300));
    p.stdin!.end();
    expect(await gone(p.pid!, 3000)).toBe(true);
  }, 15_000);
});

describe('the agent log cap', () => {
  it(`keeps a log and its one .1 under ${LOG_CAP} bytes each while writing far past it`, () => {
    const dir = tempRoot('logcap');
    const file = path.join(dir, 'log', 'x.log');
    const quiet = process.env.TANDEM_QUIET;
    process.env.TANDEM_QUIET = '1';
    try {
      logToFile(file);
      const filler = 'x'.repeat(1000);
      let written = 0;
      for (let i = 0; written < 3 * LOG_CAP; i++) {
        log('error', `line ${i}`, { filler });
        written += 1100;
      }
      // One line longer than the cap is cut, not written whole.
      log('error', 'huge', { filler: 'y'.repeat(LOG_CAP + 10) });
      log('info', 'last line');
      const sizes = fs
        .readdirSync(path.dirname(file))
        .sort()
        .map((n) => [n, fs.statSync(path.join(path.dirname(file), n)).size] as const);
      expect(sizes.map(([n]) => n)).toEqual(['x.log', 'x.log.1']);
      for (const [, size] of sizes) expect(size).toBeLessThanOrEqual(LOG_CAP);
      expect(fs.readFileSync(file, 'utf8')).toMatch(/last line\n$/);
    } finally {
      if (quiet === undefined) delete process.env.TANDEM_QUIET;
      else process.env.TANDEM_QUIET = quiet;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
