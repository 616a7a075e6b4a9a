/** bin/tandem in a clone where nothing is installed yet says what to run, not a stack trace. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

it.each([
  ['tandem', ['validate', '--stack', 'lab']],
  ['run-ts', ['bench/lab-up.ts']],
])('bin/%s without node_modules names the command to run first', (bin, args) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-noinstall-'));
  try {
    // bin/ as a fresh clone has it (its entries share bin/register.js), and no node_modules.
    fs.cpSync(path.join(__dirname, '..', '..', 'bin'), path.join(dir, 'bin'), { recursive: true });
    const r = spawnSync(process.execPath, [path.join(dir, 'bin', bin), ...args], { encoding: 'utf8', cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/npm packages are not installed/);
    expect(r.stderr).toMatch(/bash scripts\/setup\.sh/);
    expect(r.stderr).not.toMatch(/MODULE_NOT_FOUND|at Module/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('bin/run-ts runs a TypeScript file as bin/tandem runs the command (esbuild-register), with its arguments', () => {
  const dir = fs.mkdtempSync(path.join(__dirname, '..', '..', '.tmp-run-ts-'));
  try {
    const file = path.join(dir, 'hello.ts');
    fs.writeFileSync(
      file,
      "import { type Argv } from 'yargs';\nconst n: number = 2;\nconst x: Argv | null = null;\nprocess.stdout.write(`${n * 21} ${String(x)} ${process.argv.slice(2).join(',')} ${path.basename(process.argv[1])}\\n`);\nimport * as path from 'path';\n",
    );
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'run-ts'), file, '--a=1', 'b'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('42 null --a=1,b hello.ts\n');
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
