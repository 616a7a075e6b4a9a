/** The `tandem lab` command line: parsing (yargs' own checks) and the non-root refusal. */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { main, parser } from '../../scripts/cli';
import { describeLab } from '../support/lab-gate';

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

// Needs root to drop it (setpriv): gated like every lab suite, so it never skips quietly.
describeLab('tandem lab without root', () => {
  it('stops with a message saying why', () => {
    expect(spawnSync('setpriv', ['--version']).status).toBe(0);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, 'lab', 'status', '--stack', 'labtest-noroot'], {
      encoding: 'utf8',
      env: { ...process.env, HOME: '/tmp' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/needs root: the lab creates network namespaces/);
  });
});

/** Parses argv with the real tandem parser, the handler of the named command swapped for a recorder. */
async function parsedArgs(argv: string[]): Promise<Record<string, unknown>> {
  let got: Record<string, unknown> | undefined;
  const p = parser(argv).middleware((a) => {
    got = a;
    // Stop before the handler: nothing touches the lab.
    throw new Error('parsed');
  });
  await expect((async () => p.parseAsync())()).rejects.toThrow('parsed');
  return got!;
}

describe('one grammar: --site, [file] | --stack | --inventory on every lab command', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => warn.mockRestore());

  it.each([
    [['lab', 'fault', 'poweroff', '--site', 'ldn', '--stack', 'lab'], { site: 'ldn', fault: 'poweroff', stack: 'lab' }],
    [['lab', 'fault', 'poweroff', 'stacks/Pulumi.lab.yaml', '--site', 'ldn'], { site: 'ldn', fault: 'poweroff', file: 'stacks/Pulumi.lab.yaml' }],
    [['lab', 'fault', 'crash', '--site', 'ldn', '--inventory', 'inv.json'], { site: 'ldn', fault: 'crash', inventory: 'inv.json' }],
    [['lab', 'vip', '--site', 'chi', '--stack', 'lab', '--json'], { site: 'chi', stack: 'lab', json: true }],
    [['lab', 'vip', 'stacks/Pulumi.lab.yaml', '--site', 'chi'], { site: 'chi', file: 'stacks/Pulumi.lab.yaml' }],
    [['lab', 'exec', '--site', 'ny', '--stack', 'lab', '--', 'ls', '-l'], { site: 'ny', stack: 'lab' }],
    [['lab', 'exec', 'stacks/Pulumi.lab.yaml', '--site', 'ny', '--', 'hostname'], { site: 'ny', file: 'stacks/Pulumi.lab.yaml' }],
    [['lab', 'up', '--stack', 'lab', '--json'], { stack: 'lab', json: true }],
    [['lab', 'down', '--inventory', 'inv.json', '--json'], { inventory: 'inv.json', json: true }],
  ])('%j', async (argv, want) => {
    expect(await parsedArgs(argv)).toMatchObject(want);
    expect(warn).not.toHaveBeenCalledWith(expect.stringMatching(/deprecated/));
  });

  it.each([
    [['lab', 'fault', 'ldn', 'poweroff', '--stack', 'lab'], { site: 'ldn', fault: 'poweroff', stack: 'lab', file: undefined }],
    [['lab', 'vip', 'chi', '--stack', 'lab'], { site: 'chi', stack: 'lab', file: undefined }],
    [['lab', 'exec', 'ny', '--stack', 'lab', '--', 'hostname'], { site: 'ny', stack: 'lab', file: undefined }],
  ])('the old positional site %j still works, with a deprecation warning', async (argv, want) => {
    expect(await parsedArgs(argv)).toMatchObject(want);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(/site as a positional argument is deprecated; write --site/));
  });

  it.each([
    [['lab', 'vip', '--stack', 'lab'], /--site/],
    [['lab', 'exec', '--stack', 'lab', '--', 'ls'], /--site/],
    [['lab', 'fault', 'crash', '--site', 'ny'], /name the hosts/],
    [['lab', 'vip', 'x.yaml', '--stack', 'lab', '--site', 'ny'], /mutually exclusive/],
  ])('%j is refused', async (argv, msg) => {
    await expect((async () => parser(argv).parseAsync())()).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(msg) });
  });
});

describe('lab exec does not pass the child exit code through', () => {
  it('a child exiting 3 is reported and tandem exits 1, not 3 (3 means DEGRADED)', async () => {
    const fault = require('../../scripts/lab/fault') as typeof import('../../scripts/lab/fault');
    const exec = jest.spyOn(fault, 'hostExec').mockResolvedValue({ code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' } as never);
    const chunks: string[] = [];
    const so = jest.spyOn(process.stdout, 'write').mockImplementation((c) => (chunks.push(`out:${String(c)}`), true));
    const se = jest.spyOn(process.stderr, 'write').mockImplementation((c) => (chunks.push(`err:${String(c)}`), true));
    try {
      const code = await main(['lab', 'exec', '--site', 'ny', '--stack', 'lab', '--', 'sh', '-c', 'exit 3']);
      expect(code).toBe(1);
      expect(exec).toHaveBeenCalledWith('lab', 'ny', ['sh', '-c', 'exit 3']);
      expect(chunks).toEqual(['out:out\n', 'err:err\n', 'err:tandem lab exec: the command exited with 3 on ny\n']);
    } finally {
      so.mockRestore();
      se.mockRestore();
      exec.mockRestore();
    }
  });
});
