/** `lab status`: hosts, addresses, sshd and fault state, and anything left behind. */
import * as fs from 'node:fs';
import { hasMountNs } from './host-mountns';
import { hostPath } from './host-paths';
import { sshdPid } from './host-sshd';
import { findRootLink, links } from './net';
import { ownsNetns, stackDir } from './plan';
import { readState } from './state';
import { listNetns, mountsUnder, netnsPids, procState, requireRoot } from './sys';
import { table, UNKNOWN } from '../util/table';

export interface LabHostStatus {
  readonly site: string;
  readonly role: string;
  readonly region: string;
  readonly address: string;
  readonly sshPort: number;
  readonly netns: string;
  readonly netnsPresent: boolean;
  /** running | stopped (SIGSTOPped) | down (no sshd) */
  readonly sshd: 'running' | 'stopped' | 'down';
  readonly sshdPid: number | null;
  readonly processes: number;
  readonly power: 'on' | 'off';
  readonly link: 'up' | 'cut' | 'missing';
  readonly linkMbit: number | null;
  readonly diskFull: boolean;
  readonly diskUsedMb: number | null;
  readonly diskMb: number;
  readonly vip: boolean;
}

export interface LabStatus {
  readonly customer: string;
  /** True when the stack has a state file (it was brought up and not taken down). */
  readonly up: boolean;
  readonly subnet: string | null;
  readonly operatorLink: string | null;
  readonly vip: { address: string; holder: string } | null;
  readonly inventory: string | null;
  readonly hosts: readonly LabHostStatus[];
  /** Things of this stack the state does not account for (a crashed up, a half-done down). */
  readonly leftovers: readonly string[];
}

export async function labStatus(customer: string): Promise<LabStatus> {
  requireRoot('tandem lab status');
  const st = readState(customer);
  const ns = (await listNetns()).filter((n) => ownsNetns(customer, n));
  const leftovers: string[] = [];
  if (!st) {
    for (const n of ns) leftovers.push(`netns ${n}`);
    for (const m of mountsUnder(stackDir(customer))) leftovers.push(`mount ${m}`);
    const l = await findRootLink(customer);
    if (l) leftovers.push(`link ${l}`);
    if (fs.existsSync(stackDir(customer))) leftovers.push(`dir ${stackDir(customer)}`);
    return { customer, up: false, subnet: null, operatorLink: null, vip: null, inventory: null, hosts: [], leftovers };
  }
  const plan = st.plan;
  const expected = new Set([plan.routerNetns, ...plan.hosts.map((h) => h.netns)]);
  for (const n of ns) if (!expected.has(n)) leftovers.push(`netns ${n} (not a host of the stack)`);
  if (!ns.includes(plan.routerNetns)) leftovers.push(`router netns ${plan.routerNetns} is missing (run tandem lab up to repair)`);
  const rl = await links(plan.routerNetns);
  const hosts: LabHostStatus[] = [];
  for (const h of plan.hosts) {
    const site = st.topology.sites.find((s) => s.name === h.site)!;
    const hs = st.hosts[h.site];
    const present = ns.includes(h.netns);
    const pid = present ? sshdPid(h) : null;
    const state = pid ? procState(pid) : null;
    let used: number | null = null;
    try {
      const s = fs.statfsSync(hostPath(h, 'data'));
      used = Math.round((((s.blocks - s.bfree) * s.bsize) / 1048576) * 10) / 10;
    } catch {
      /* missing */
    }
    const link = rl.get(h.routerIf);
    if (present && !hasMountNs(plan, h.site)) leftovers.push(`${h.site}: mount namespace missing (run tandem lab up to repair)`);
    hosts.push({
      site: h.site,
      role: site.role,
      region: h.region,
      address: h.address,
      sshPort: h.sshPort,
      netns: h.netns,
      netnsPresent: present,
      sshd: !pid ? 'down' : state === 'T' || state === 't' ? 'stopped' : 'running',
      sshdPid: pid,
      processes: present ? (await netnsPids(h.netns)).length : 0,
      power: hs?.poweredOff ? 'off' : 'on',
      link: !link ? 'missing' : link.flags?.includes('UP') ? 'up' : 'cut',
      linkMbit: h.linkMbit,
      diskFull: !!hs?.diskFull,
      diskUsedMb: used,
      diskMb: h.diskMb,
      vip: st.vipHolder === h.site,
    });
  }
  return {
    customer,
    up: true,
    subnet: plan.subnet,
    operatorLink: `${plan.rootLink} ${plan.operatorAddress}`,
    vip: { address: plan.vip, holder: st.vipHolder },
    inventory: `${stackDir(customer)}/inventory.json`,
    hosts,
    leftovers,
  };
}

/** A readable table of a status. */
export function formatStatus(s: LabStatus): string {
  if (!s.up) {
    return [`lab ${s.customer}: not up`, ...(s.leftovers.length ? ['leftovers (tandem lab down removes them):', ...s.leftovers.map((l) => `  ${l}`)] : ['nothing left behind'])].join('\n');
  }
  const head = ['SITE', 'ROLE', 'ADDRESS', 'NETNS', 'SSHD', 'POWER', 'LINK', 'DISK', 'PROCS'];
  const rows = s.hosts.map((h) => [
    `${h.site}${h.vip ? ' (vip)' : ''}`,
    h.role,
    `${h.address}:${h.sshPort}`,
    h.netnsPresent ? h.netns : `${h.netns} MISSING`,
    h.sshdPid ? `${h.sshd} (${h.sshdPid})` : h.sshd,
    h.power,
    `${h.link}${h.linkMbit ? ` ${h.linkMbit}Mbit` : ''}`,
    `${h.diskUsedMb ?? UNKNOWN}/${h.diskMb} MiB${h.diskFull ? ' FULL' : ''}`,
    String(h.processes),
  ]);
  return [
    `lab ${s.customer}: subnet ${s.subnet}, operator link ${s.operatorLink}, vip ${s.vip?.address} on ${s.vip?.holder}`,
    `inventory: ${s.inventory}`,
    '',
    ...table(head, rows),
    '',
    s.leftovers.length ? `leftovers:\n${s.leftovers.map((l) => `  ${l}`).join('\n')}` : 'leftovers: none',
  ].join('\n');
}
