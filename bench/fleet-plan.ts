/**
 * `fleet plan` of N generated customers, timed (target: 100 customers in under 90 s on the
 * 2-core machine). Writes a customers file of N inline topologies of mixed shapes (AWS only,
 * AWS + Azure, with off-cloud boxes, relays, DNS) and runs the real `tandem fleet plan` on it.
 *
 *   node bin/run-ts bench/fleet-plan.ts [--customers=100] [--parallel=N]
 */
import { benchFlags } from './flags';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeCustomersFile } from '../test/fleet/generate';

const FLAGS = benchFlags('node bin/run-ts bench/fleet-plan.ts [--customers=100] [--parallel=N]', {
  customers: { type: 'number', default: 100, describe: 'generated customers' },
  parallel: { type: 'string', describe: 'worker processes (default: the plan command decides)' },
});
const N = FLAGS.customers;
const PARALLEL = FLAGS.parallel;
const ROOT = path.join(__dirname, '..');
function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fleet-bench-'));
  try {
    const file = writeCustomersFile(dir, N);
    const load = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'tandem'), 'fleet', 'plan', '--customers', file, ...(PARALLEL ? ['--parallel', PARALLEL] : [])], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    // cutime + cstime of this process: the command and its plan workers, all waited for.
    const f = fs
      .readFileSync('/proc/self/stat', 'utf8')
      .slice(fs.readFileSync('/proc/self/stat', 'utf8').lastIndexOf(')') + 2)
      .split(' ');
    const cpu = (Number(f[13]) + Number(f[14])) / 100;
    if (r.status !== 0) {
      process.stderr.write(r.stdout + r.stderr);
      throw new Error(`fleet plan exited ${r.status}`);
    }
    const summary = r.stdout.trim().split('\n').pop();
    console.log(`fleet plan of ${N} generated customers: ${s.toFixed(1)} s wall (${os.cpus().length} cores, load average before the run ${load})`);
    console.log(`CPU of the command and its workers: ${cpu.toFixed(1)} s (${(cpu / N).toFixed(2)} s per customer)`);
    console.log(summary);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) main();
