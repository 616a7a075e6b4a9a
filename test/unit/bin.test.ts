/** bin/tandem in a clone where nothing is installed yet says what to run, not a stack trace. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

it('bin/tandem without node_modules names the command to run first', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-noinstall-'));
  try {
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.copyFileSync(path.join(__dirname, '..', '..', 'bin', 'tandem'), path.join(dir, 'bin', 'tandem'));
    const r = spawnSync(process.execPath, [path.join(dir, 'bin', 'tandem'), 'validate', '--stack', 'lab'], { encoding: 'utf8', cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/npm packages are not installed/);
    expect(r.stderr).toMatch(/bash scripts\/setup\.sh/);
    expect(r.stderr).not.toMatch(/MODULE_NOT_FOUND|at Module/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
