import yargs from 'yargs';
import { withSiteOption, withSshOptions, withTargetOptions } from '../../scripts/options';
import { main, parser } from '../../scripts/cli';

/** yargs throws some check failures synchronously and rejects others; make both a rejection. */
async function parse(argv: string[], site = false) {
  const y = withSiteOption(withSshOptions(withTargetOptions(yargs().command('x [file]', '', (a) => a))), site)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  return await y.parseAsync(argv);
}

describe('withTargetOptions + withSshOptions', () => {
  it('defaults', async () => {
    const a = await parse(['x', '--stack', 'lab']);
    expect(a).toMatchObject({ stack: 'lab', parallel: 8, timeout: 20 });
  });
  it('a file positional, --inventory, identity, parallel, timeout', async () => {
    const a = await parse(['x', 'stacks/Pulumi.lab.yaml', '--inventory', './inv.json', '-i', '/k', '--parallel', '3', '--timeout', '5']);
    expect(a).toMatchObject({ file: 'stacks/Pulumi.lab.yaml', inventory: 'inv.json', identity: '/k', parallel: 3, timeout: 5 });
  });
  it.each([
    [['x'], /name the hosts/],
    [['x', 'f.yaml', '--stack', 'lab'], /mutually exclusive/],
    [['x', '--stack'], /Not enough arguments following: stack/],
    [['x', '--stack', 'lab', '--parallel', '0'], /--parallel 0: give a whole number 1\.\.256/],
    [['x', '--stack', 'lab', '--timeout', '-1'], /--timeout -1/],
  ])('%p is refused', async (argv, re) => {
    await expect(parse(argv)).rejects.toThrow(re);
  });
  it('--site is repeatable, and required where asked', async () => {
    expect((await parse(['x', '--stack', 'lab', '--site', 'a', '--site', 'b'], true)).site).toEqual(['a', 'b']);
    await expect(parse(['x', '--stack', 'lab'], true)).rejects.toThrow(/site/);
  });
});

describe('the tandem parser knows the commands', () => {
  it.each([
    [['agent', 'install', '--stack', 'lab', '--parallel', '2']],
    [['agent', 'upgrade', 'stacks/Pulumi.lab.yaml']],
    [['agent', 'uninstall', '--stack', 'lab', '--keep-state']],
    [['mirror', 'start', '--stack', 'lab']],
    [['mirror', 'pause', '--stack', 'lab', '--site', 'ams']],
    [['status', '--stack', 'lab', '--json']],
    [['agent', 'install', '--inventory', 'inv.json', '--json']],
    [['mirror', 'stop', '--stack', 'lab', '--site', 'chi', '--json']],
    [['validate', '--stack', 'lab', '--json']],
    [['plan', '--stack', 'lab', '--json']],
  ])('%p parses (through --help, so no handler and no SSH runs)', async (argv) => {
    // Parse only: --help short-circuits before any handler (and any SSH) runs.
    const p = parser([...argv, '--help']).exitProcess(false);
    const out: string[] = [];
    await p.parseAsync([...argv, '--help'], {}, (_e, _a, o) => {
      out.push(o);
    });
    expect(out.join('')).toMatch(/Options:/);
  });
  it('mirror pause without --site is a usage error', async () => {
    await expect((async () => parser(['mirror', 'pause', '--stack', 'lab']).exitProcess(false).parseAsync())()).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/--site/) });
  });
});

describe('bad flags are bad input: exit 2 with the message, no stack trace', () => {
  it.each([
    [['status'], /name the hosts/],
    [['mirror', 'start', '--stack', 'lab', '--parallel', '0'], /--parallel 0: give a whole number 1\.\.256/],
    [['agent', 'install', '--stack', 'lab', '--timeout', '0'], /--timeout 0/],
  ])('%p', async (argv, re) => {
    const err: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((c) => (err.push(String(c)), true));
    try {
      expect(await main(argv)).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(err.join('')).toMatch(re);
    expect(err.join('')).not.toMatch(/\n\s+at /);
  });
});

describe('--json on every command that reports something', () => {
  it.each([
    [['validate', '--stack', 'lab', '--json']],
    [['plan', '--stack', 'lab', '--json']],
    [['status', '--stack', 'lab', '--json']],
    [['agent', 'install', '--inventory', 'inv.json', '--json']],
    [['agent', 'uninstall', '--stack', 'lab', '--json']],
    [['mirror', 'stop', '--stack', 'lab', '--site', 'chi', '--json']],
    [['lab', 'status', '--stack', 'lab', '--json']],
    [['lab', 'fault', 'crash', '--site', 'ny', '--stack', 'lab', '--json']],
    [['fleet', 'plan', '--json']],
  ])('%p', async (argv) => {
    let got: Record<string, unknown> | undefined;
    // Stop after parsing and validation, before the handler: nothing runs.
    const p = parser(argv).middleware((a) => {
      got = a;
      throw new Error('parsed');
    });
    await expect((async () => p.parseAsync())()).rejects.toThrow('parsed');
    expect(got).toMatchObject({ json: true });
  });
});
