/** Finding a lab host's processes as this machine sees them: all of them, its init, a pid inside the host. */
import * as fs from 'node:fs';
import type { HostPlan } from './plan';
import { pidsInNetns } from './sys';

/** Pids (as this machine sees them) of every process in a host's network namespace. */
export function hostPids(h: HostPlan): number[] {
  return pidsInNetns([h.netns]);
}

/** The pid a process has inside its own (innermost) PID namespace. */
export function innerPid(pid: number): number | null {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const ids = m ? m[1].trim().split(/\s+/) : [];
    return ids.length ? Number(ids[ids.length - 1]) : null;
  } catch {
    return null;
  }
}

/** The host's init (pid 1 of its PID namespace), by its pid on this machine; null when the host is down. */
export function initPid(h: HostPlan): number | null {
  for (const p of hostPids(h)) {
    try {
      if (innerPid(p) === 1 && fs.readlinkSync(`/proc/${p}/ns/pid`) !== fs.readlinkSync('/proc/self/ns/pid')) return p;
    } catch {
      /* gone */
    }
  }
  return null;
}
