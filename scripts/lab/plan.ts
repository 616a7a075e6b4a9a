/**
 * Decides, without touching the machine, what a lab stack looks like: names, addresses,
 * interfaces, paths. Pure functions (table-tested); ./up.ts creates what they decide.
 *
 * Addressing: the lab uses only 198.18.0.0/15 (RFC 2544 benchmarking range). Each stack claims a
 * slot k (0..127) and gets the /22 at 198.18.0.0 + k*1024:
 *   +0/30      operator link: +1 the operator (root namespace), +2 the stack's lab router
 *   +10/32     the stack's VIP (routed by the lab router to whichever host holds it)
 *   +64 + 32r  region r's network, a /27: +1 the router's gateway, +2.. the region's hosts
 */
import * as path from 'node:path';
import type { Site, Topology } from '../../model/topology/types';

export const LAB_RANGE = '198.18.0.0/15';
const RANGE_BASE = ipToInt('198.18.0.0');
export const MAX_SLOTS = 128;
export const MAX_REGIONS = 30;
export const MAX_HOSTS_PER_REGION = 29;
export const DEFAULT_DISK_MB = 1024;

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3];
}
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface RegionPlan {
  /** Region name, or `offcloud:<site>` (each off-cloud site is its own network). */
  readonly key: string;
  readonly index: number;
  /** Bridge in the router namespace. */
  readonly bridge: string;
  readonly cidr: string;
  readonly gateway: string;
}

export interface HostPlan {
  readonly site: string;
  readonly index: number;
  readonly region: string;
  readonly address: string;
  readonly prefix: number;
  readonly gateway: string;
  readonly netns: string;
  /** Router-side end of the host's veth (the host side is `eth0`). */
  readonly routerIf: string;
  readonly bridge: string;
  readonly sshPort: number;
  readonly linkMbit: number | null;
  readonly diskMb: number;
  /** The host's directory on this machine (data, agent home, /home, /root, /tmp, /run, /etc/ssh). */
  readonly dir: string;
}

export interface LabPlan {
  readonly customer: string;
  readonly slot: number;
  readonly subnet: string;
  readonly operatorAddress: string;
  readonly routerAddress: string;
  readonly vip: string;
  readonly routerNetns: string;
  /** The operator end of the operator link, in the root namespace (<= 15 chars). */
  readonly rootLink: string;
  readonly stackDir: string;
  readonly regions: readonly RegionPlan[];
  readonly hosts: readonly HostPlan[];
}

/** Root of the lab's state: /var/lib/tandem-lab, or $TANDEM_LAB_DIR. */
export function labRoot(): string {
  return path.resolve(process.env.TANDEM_LAB_DIR || '/var/lib/tandem-lab');
}

export function stackDir(customer: string): string {
  return path.join(labRoot(), customer);
}

/** Network namespace names: dots never occur in customer or site names, so names never clash. */
export function routerNetns(customer: string): string {
  return `tl.${customer}`;
}
export function hostNetns(customer: string, site: string): string {
  return `tl.${customer}.${site}`;
}
export function rootLinkName(slot: number): string {
  return `tl${slot}op`;
}
/** Every netns name a stack may own (for clean-up of leftovers). */
export function ownsNetns(customer: string, name: string): boolean {
  return name === routerNetns(customer) || name.startsWith(`${routerNetns(customer)}.`);
}

export function slotSubnet(slot: number): { base: number; cidr: string } {
  if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_SLOTS) throw new Error(`lab slot ${slot} is out of range 0..${MAX_SLOTS - 1}`);
  const base = RANGE_BASE + slot * 1024;
  return { base, cidr: `${intToIp(base)}/22` };
}

function regionKey(s: Site): string {
  return s.region ?? `offcloud:${s.name}`;
}

export function planLab(t: Topology, slot: number, dir = stackDir(t.customer)): LabPlan {
  const { base, cidr } = slotSubnet(slot);
  const keys: string[] = [];
  for (const s of t.sites) if (!keys.includes(regionKey(s))) keys.push(regionKey(s));
  if (keys.length > MAX_REGIONS) throw new Error(`stack "${t.customer}" has ${keys.length} regions; the lab supports at most ${MAX_REGIONS}`);
  const regions: RegionPlan[] = keys.map((key, r) => {
    const net = base + 64 + 32 * r;
    return { key, index: r, bridge: `br${r}`, cidr: `${intToIp(net)}/27`, gateway: intToIp(net + 1) };
  });
  const perRegion = new Map<string, number>();
  const hosts: HostPlan[] = t.sites.map((s, i) => {
    const reg = regions.find((r) => r.key === regionKey(s))!;
    const n = perRegion.get(reg.key) ?? 0;
    perRegion.set(reg.key, n + 1);
    if (n >= MAX_HOSTS_PER_REGION) throw new Error(`region ${reg.key} of stack "${t.customer}" has more than ${MAX_HOSTS_PER_REGION} sites; the lab's region networks hold at most that many`);
    return {
      site: s.name,
      index: i,
      region: reg.key,
      address: intToIp(ipToInt(reg.gateway) + 1 + n),
      prefix: 27,
      gateway: reg.gateway,
      netns: hostNetns(t.customer, s.name),
      routerIf: `h${i}`,
      bridge: reg.bridge,
      sshPort: s.sshPort,
      linkMbit: s.lab.linkMbit ?? null,
      diskMb: s.lab.diskMb ?? DEFAULT_DISK_MB,
      dir: path.join(dir, 'hosts', s.name),
    };
  });
  return {
    customer: t.customer,
    slot,
    subnet: cidr,
    operatorAddress: intToIp(base + 1),
    routerAddress: intToIp(base + 2),
    vip: intToIp(base + 10),
    routerNetns: routerNetns(t.customer),
    rootLink: rootLinkName(slot),
    stackDir: dir,
    regions,
    hosts,
  };
}

/**
 * tbf parameters for a cap: the bucket must hold at least one timer tick's worth of traffic and
 * a full GSO segment (64 KiB), or tbf under-delivers; the queue holds ~50 ms.
 */
export function tbfParams(mbit: number): { rate: string; burst: number; latency: string } {
  const bytesPerS = (mbit * 1e6) / 8;
  return { rate: `${Math.round(mbit * 1000)}kbit`, burst: Math.max(Math.ceil(bytesPerS / 100), 65536 + 1514), latency: '50ms' };
}

/** Paths under which a host's private directories are mounted inside the host. */
export const HOST_BINDS = ['/var/lib/tandem', '/home', '/root', '/etc/ssh', '/run', '/tmp'] as const;

/** Options of `lab up` and `lab down`. */
export interface LabOptions {
  /** Progress lines (one per step); default: silent. */
  readonly log?: (line: string) => void;
}
