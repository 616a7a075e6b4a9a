/** The `tandem lab` command line: parsing (yargs' own checks) and the non-root refusal. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parser } from '../../scripts/cli';

const bin = path.join(__dirname, '..', '..', 'bin', 'tandem');

describe('tandem lab (parsing)', () => {
  it.each([
    [['lab', 'fault', 'ny', 'melt', '--stack', 'lab'], /Invalid values[\s\S]*fault/],
    [['lab', 'status', 'x.yaml', '--stack', 'lab'], /mutually exclusive/],
    [['lab'], /Not enough non-option arguments|name a lab command/],
  ])('%j is refused', async (argv, msg) => {
    await expect((async () => parser(argv).parseAsync())()).rejects.toThrow(msg);
  });
});

const canDrop = typeof process.getuid === 'function' && process.getuid() === 0 && spawnSync('setpriv', ['--version']).status === 0;
(canDrop ? describe : describe.skip)('tandem lab without root', () => {
  it('stops with a message saying why', () => {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, 'lab', 'status', '--stack', 'labtest-noroot'], {
      encoding: 'utf8',
      env: { ...process.env, HOME: '/tmp' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/needs root: the lab creates network namespaces/);
  });
});
