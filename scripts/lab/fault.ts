/**
 * Faults for drills and tests, each real. "Every process of a host" is every process in its
 * network namespace (sshd, sessions, the agent, the platform, anything started in it).
 */
import * as fs from 'node:fs';
import { execIn } from './host-exec';
import { hostPath } from './host-paths';
import { bootHost, killHost, wipeVolatile } from './host-power';
import { sshdPid } from './host-sshd';
import { setHostLink } from './net';
import { DEFAULT_DISK_MB, type HostPlan, type LabPlan } from './plan';
import { readState, writeState, type LabState } from './state';
import { killPids, netnsPids, requireRoot, run, type RunOptions, type RunResult } from './sys';

export const FAULTS = ['crash', 'hang', 'resume', 'isolate', 'heal', 'poweroff', 'poweron', 'diskfull', 'diskfree'] as const;
export type LabFault = (typeof FAULTS)[number];

export const FAULT_HELP: Readonly<Record<LabFault, string>> = {
  crash: 'SIGKILL every process of the host (sshd included); its data and link stay; undo with poweron',
  hang: 'SIGSTOP every process of the host: connections open but nothing answers; undo with resume',
  resume: 'SIGCONT every process of the host',
  isolate: "cut the host's link (a network partition: no site and not the operator reach it); undo with heal",
  heal: "reconnect the host's link",
  poweroff: 'a cold server: stop every process (SIGTERM, then SIGKILL after 2 s), cut the link; data kept; undo with poweron',
  poweron: 'boot the host: empty /run and /tmp, reconnect the link, start sshd, run /var/lib/tandem/boot.d/*',
  diskfull: 'the data directory runs out of space: any new file or growing write fails with ENOSPC; undo with diskfree',
  diskfree: 'give the data directory its configured size back',
};

export function loadLab(customer: string): LabState {
  const st = readState(customer);
  if (!st) throw new Error(`the lab "${customer}" is not up; start it with: tandem lab up --stack ${customer}`);
  return st;
}

export function hostOf(st: LabState, site: string): HostPlan {
  const h = st.plan.hosts.find((x) => x.site === site);
  if (!h) throw new Error(`no site "${site}" in lab "${st.customer}"; sites: ${st.plan.hosts.map((x) => x.site).join(', ')}`);
  return h;
}

async function remountData(h: HostPlan, sizeKb: number, inodes: number): Promise<void> {
  await run(['mount', '-o', `remount,size=${sizeKb}k,nr_inodes=${inodes}`, hostPath(h, 'data')], { context: `resizing the data directory of ${h.site}` });
}

/** Applies a fault to one host of a lab stack. Resolves once the fault is in effect. */
export async function labFault(customer: string, site: string, fault: LabFault): Promise<string> {
  requireRoot('tandem lab fault');
  if (!FAULTS.includes(fault)) throw new Error(`unknown fault "${fault}"; faults: ${FAULTS.join(', ')}`);
  const st = loadLab(customer);
  const plan: LabPlan = st.plan;
  const h = hostOf(st, site);
  const hs = st.hosts[site];
  let what = '';
  switch (fault) {
    case 'crash': {
      const pids = await killHost(h);
      what = `killed ${pids.length} processes`;
      break;
    }
    case 'hang':
    case 'resume': {
      const pids = await netnsPids(h.netns);
      killPids(pids, fault === 'hang' ? 'SIGSTOP' : 'SIGCONT');
      what = `${fault === 'hang' ? 'stopped' : 'continued'} ${pids.length} processes`;
      break;
    }
    case 'isolate':
    case 'heal': {
      hs.isolated = fault === 'isolate';
      if (!hs.poweredOff) await setHostLink(plan, h, !hs.isolated);
      what = hs.isolated ? 'link cut' : hs.poweredOff ? 'link stays down until poweron' : 'link up';
      break;
    }
    case 'poweroff': {
      await setHostLink(plan, h, false);
      const pids = await killHost(h, 2000);
      hs.poweredOff = true;
      what = `powered off (${pids.length} processes stopped, link down, data kept)`;
      break;
    }
    case 'poweron': {
      // Whatever still runs (a crashed host's leftovers, a hung one) goes, as in a power cycle.
      await killHost(h);
      wipeVolatile(h);
      hs.poweredOff = false;
      if (!hs.isolated) await setHostLink(plan, h, true);
      const b = await bootHost(plan, h);
      what = `booted: sshd pid ${b.pid}${b.hooks.length ? `, boot.d: ${b.hooks.join(', ')}` : ''}`;
      break;
    }
    case 'diskfull': {
      const s = fs.statfsSync(hostPath(h, 'data'));
      const usedBlocks = s.blocks - s.bfree;
      const usedInodes = s.files - s.ffree;
      // Size at what is used (tmpfs cannot go below it; 0 would mean "unlimited"), and no inode
      // left, so a new file fails at once and a growing one as soon as its last page is full.
      await remountData(h, Math.max(4, Math.ceil((usedBlocks * s.bsize) / 1024)), Math.max(1, usedInodes));
      hs.diskFull = true;
      what = `data directory full at ${Math.round((usedBlocks * s.bsize) / 1024)} KiB`;
      break;
    }
    case 'diskfree': {
      const mb = h.diskMb ?? DEFAULT_DISK_MB;
      await remountData(h, mb * 1024, Math.max(4096, mb * 256));
      hs.diskFull = false;
      what = `data directory back to ${mb} MiB`;
      break;
    }
  }
  writeState(st);
  return `${site}: ${fault}: ${what}`;
}

/** Runs a command inside a lab host (its network and mount namespaces), as root, not over SSH. */
export async function hostExec(customer: string, site: string, argv: readonly string[], opts: Pick<RunOptions, 'stdin' | 'timeoutMs' | 'allowFail'> = {}): Promise<RunResult> {
  requireRoot('running a command in a lab host');
  const st = loadLab(customer);
  return execIn(st.plan, hostOf(st, site), argv, { allowFail: true, ...opts, context: `on lab host ${site}` });
}

export { sshdPid };
