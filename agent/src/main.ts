/**
 * Entry of the bundled agent (dist/agent.js): `node agent.js <daemon|receive|status|version>`.
 * Nothing here throws past main: every failure becomes a logged error and an exit code.
 */
import { spawn } from 'child_process';
import { AGENT_VERSION, errMsg, homePaths, log, testTransport } from './env';
import { runDaemon } from './daemon';
import { runReceive } from './receive-cmd';
import { currentStatus, formatStatus } from './status';

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
    case 'receive':
      return runReceive(paths);
    case 'test-rsh':
      return testRsh(rest);
    default:
      process.stderr.write(`usage: agent.js daemon | receive | status [--json] | version (got ${JSON.stringify(cmd ?? '')})\n`);
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

process.on('uncaughtException', (e) => {
  log('error', 'agent: uncaught exception', { error: errMsg(e), stack: e.stack?.split('\n').slice(0, 5) });
});

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    log('error', 'agent: failed', { error: errMsg(e) });
    process.exit(1);
  },
);
