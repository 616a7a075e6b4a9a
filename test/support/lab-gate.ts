/**
 * Whether this machine can run the lab suites (root, network and mount namespaces), and the one
 * `describeLab` every lab suite uses. Without what the lab needs a suite is skipped with a loud
 * line on stderr — unless TANDEM_REQUIRE_LAB=1 (set by .ci/run), where it FAILS with the reason:
 * a CI that cannot make namespaces must not be green with none of the lab tests run.
 */
import { spawnSync } from 'child_process';

function labProblem(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root (the lab makes network namespaces, mounts and sshd instances)';
  const r = spawnSync('unshare', ['--net', '--mount', 'true'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `cannot create namespaces: unshare --net --mount: ${(r.error?.message ?? r.stderr ?? '').trim() || `exit ${r.status}`}`;
  return null;
}

export const labUnavailable = labProblem();
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const labRequired = process.env.TANDEM_REQUIRE_LAB === '1';

function gated(name: string, fn: () => void): void {
  if (!labUnavailable) return describe(name, fn);
  if (labRequired) {
    return describe(name, () => {
      it('can run here (TANDEM_REQUIRE_LAB=1)', () => {
        throw new Error(`lab suite "${name}" cannot run: ${labUnavailable}`);
      });
    });
  }
  process.stderr.write(`SKIPPED lab suite "${name}": ${labUnavailable} (set TANDEM_REQUIRE_LAB=1 to make this a failure)\n`);
  return describe.skip(name, fn);
}

export const describeLab = gated as unknown as jest.Describe;
