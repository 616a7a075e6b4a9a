/** Running commands inside a lab host: the environment it gives them and the nsenter that gets them in. */
import type { HostPlan, LabPlan } from './plan';
import { mntFile, netnsFile } from './host-paths';
import { initPid } from './host-procs';
import { run, type RunOptions, type RunResult } from './sys';

/** Environment of processes the lab starts inside a host (like init's). */
export function hostEnv(plan: LabPlan, h: HostPlan): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    TANDEM_LAB_CUSTOMER: plan.customer,
    TANDEM_LAB_SITE: h.site,
  };
}

/**
 * argv that runs a command inside a host: in its init's network, mount, PID and UTS namespaces
 * when it is up; in its network and mount namespaces when it is down (the lab's back door).
 */
export function nsenterArgv(plan: LabPlan, h: HostPlan, argv: readonly string[]): string[] {
  const init = initPid(h);
  if (init) return ['nsenter', '-t', String(init), '--net', '--mount', '--pid', '--uts', '--', ...argv];
  return ['nsenter', `--net=${netnsFile(h.netns)}`, `--mount=${mntFile(plan, h.site)}`, '--', ...argv];
}

/** Runs a command inside a host. */
export function execIn(plan: LabPlan, h: HostPlan, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(nsenterArgv(plan, h, argv), { env: hostEnv(plan, h), ...opts });
}
