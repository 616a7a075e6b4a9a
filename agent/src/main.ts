/**
 * Entry of the bundled agent (dist/agent.js): `node agent.js <daemon|receive|status|version>`.
 * Nothing here throws past main: every failure becomes a logged error and an exit code.
 */
import { spawn } from 'child_process';
import { AGENT_VERSION, errMsg, homePaths, log, stderrClosed, testTransport } from './env';
import { runDaemon } from './daemon';
import { runReceive } from './receive-cmd';
import { currentStatus, formatStatus } from './status';
import { runDigest, runEpochAnswer, runFence } from './fence';
import { runRefreshOff } from './refresh-off';

async function main(argv: string[]): Promise<number> {
  const paths = homePaths();
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'version':
      process.stdout.write(AGENT_VERSION + '\n');
      return 0;
    case 'status': {
      const s = currentStatus(paths);
      process.stdout.write(rest.includes('--json') ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s) + '\n');
      return 0;
    }
    case 'daemon':
      return runDaemon(paths, process.argv[1]);
    case 'digest':
      return runDigest(paths, rest);
    case 'epoch':
      return runEpochAnswer(paths);
    case 'fence':
      return runFence(paths);
    case 'refresh-off':
      return runRefreshOff(paths);
    case 'receive':
      return runReceive(paths);
    case 'test-rsh':
      return testRsh(rest);
    default:
      process.stderr.write(`usage: agent.js daemon | receive | status [--json] | digest [--list] | epoch | fence | refresh-off | version (got ${JSON.stringify(cmd ?? '')})\n`);
      return 2;
  }
}

/**
 * Test-only stand-in for ssh under rsync -e: `test-rsh <childHome> <host> <remote cmd...>`
 * runs the child's forced command locally, exactly as sshd would.
 */
function testRsh(args: string[]): Promise<number> {
  if (!testTransport()) {
    process.stderr.write('test-rsh is only for tests (TANDEM_TEST_TRANSPORT=local)\n');
    return Promise.resolve(2);
  }
  const [home, , ...remote] = args;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [process.argv[1], 'receive'], {
      stdio: 'inherit',
      env: { ...process.env, TANDEM_AGENT_HOME: home, SSH_ORIGINAL_COMMAND: remote.join(' '), TANDEM_TEST_TRANSPORT: '' },
    });
    p.on('exit', (code) => resolve(code ?? 1));
  });
}

/** A write to a pipe whose reader is gone: for stdio, the peer (sshd, the sender) went away. */
function peerGone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ECONNRESET';
}

// stdout/stderr go to sshd (receive) or a file (daemon). Without these listeners a write after the
// peer left is an uncaught exception, and logging that exception wrote to stderr again: a
// receiver whose ssh client died spun on it at 60-94 % CPU. Now nothing is written to stderr
// after it failed, and a receiver whose stdout failed has nobody to answer: it exits.
process.stderr.on('error', () => stderrClosed());
let uncaught: number[] = [];
process.on('uncaughtException', (e) => {
  if (peerGone(e)) {
    stderrClosed();
    if (process.argv[2] === 'receive') {
      log('warn', 'receive: the peer is gone (EPIPE); exiting', { error: errMsg(e) });
      process.exit(0);
    }
  }
  log('error', 'agent: uncaught exception', { error: errMsg(e), stack: e.stack?.split('\n').slice(0, 5) });
  // Whatever loops on an exception must not spin forever: 50 in 10 s and the process exits (the
  // daemon's supervisor restarts it; a receiver is started again by its sender).
  const now = Date.now();
  uncaught = uncaught.filter((t) => now - t < 10_000);
  uncaught.push(now);
  if (uncaught.length >= 50) {
    log('error', 'agent: 50 uncaught exceptions in 10 s; exiting');
    process.exit(1);
  }
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    log('error', 'agent: failed', { error: errMsg(e) });
    process.exit(1);
  },
);
