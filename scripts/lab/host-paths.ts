/**
 * Where a lab host's things are: its directories on this machine, its namespace files, and the
 * paths inside the host that the rest of the kit relies on.
 */
import * as path from 'node:path';
import type { HostPlan, LabPlan } from './plan';

export const BOOT_DIR = '/var/lib/tandem/boot.d';

export const mntFile = (plan: LabPlan, site: string) => path.join(plan.stackDir, 'ns', `${site}.mnt`);
export const netnsFile = (ns: string) => `/run/netns/${ns}`;

/** Where a host directory seen inside the host lives on this machine. */
export const hostPath = (h: HostPlan, what: 'data' | 'agent' | 'home' | 'root' | 'tmp' | 'run' | 'etc-ssh') => path.join(h.dir, what);
