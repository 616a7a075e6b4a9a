/**
 * The lab's networks: a router namespace per stack holding one bridge per region, a veth per host
 * (its "link" to the rest of the lab, where caps and cuts apply), and one veth to the operator in
 * the root namespace with a route for the stack's /22 only.
 */
import * as fs from 'node:fs';
import { type HostPlan, type LabPlan, tbfParams } from './plan';
import { waitFor } from '../util/wait';
import { ip, listNetns, run } from './sys';

interface LinkInfo {
  ifname: string;
  operstate?: string;
  flags?: string[];
  master?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export async function links(ns: string | null): Promise<Map<string, LinkInfo>> {
  const r = await ip(ns, ['-j', 'addr', 'show'], { allowFail: true });
  const m = new Map<string, LinkInfo>();
  if (r.code !== 0 || !r.stdout.trim()) return m;
  for (const l of JSON.parse(r.stdout) as LinkInfo[]) m.set(l.ifname, l);
  return m;
}

function hasAddr(l: LinkInfo | undefined, addr: string, prefix: number): boolean {
  return !!l?.addr_info?.some((a) => a.family === 'inet' && a.local === addr && a.prefixlen === prefix);
}

/** Writes a sysctl in a namespace (/proc/sys/net is per network namespace). */
async function sysctls(ns: string | null, kv: Record<string, string>): Promise<void> {
  const args = Object.entries(kv).map(([k, v]) => `${k}=${v}`);
  if (ns) await run(['nsenter', `--net=/run/netns/${ns}`, 'sysctl', '-qw', ...args], { context: `sysctl in ${ns}` });
  else await run(['sysctl', '-qw', ...args], { context: 'sysctl' });
}

export async function ensureNetns(ns: string): Promise<boolean> {
  if ((await listNetns()).includes(ns)) return false;
  await ip(null, ['netns', 'add', ns], { context: `creating network namespace ${ns}` });
  // No IPv6 at all: nothing link-local, no router solicitations; loopback up.
  await sysctls(ns, { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' });
  await ip(ns, ['link', 'set', 'lo', 'up']);
  return true;
}

/** Finds the operator link a stack owns, by its alias (works without the state file). */
export async function findRootLink(customer: string): Promise<string | null> {
  for (const n of fs.readdirSync('/sys/class/net')) {
    try {
      if (fs.readFileSync(`/sys/class/net/${n}/ifalias`, 'utf8').trim() === `tandem-lab:${customer}`) return n;
    } catch {
      /* no alias */
    }
  }
  return null;
}

/** True if a root-namespace link of that name exists and belongs to another stack. */
export function rootLinkTaken(name: string, customer: string): boolean {
  try {
    const alias = fs.readFileSync(`/sys/class/net/${name}/ifalias`, 'utf8').trim();
    return alias !== `tandem-lab:${customer}`;
  } catch {
    return false;
  }
}

/** The router namespace, its bridges, and the operator link. */
export async function ensureRouter(plan: LabPlan): Promise<void> {
  const R = plan.routerNetns;
  await ensureNetns(R);
  await sysctls(R, { 'net.ipv4.ip_forward': '1' });
  let rl = await links(R);
  const root = await links(null);
  if (!rl.has('op') || !root.has(plan.rootLink)) {
    if (root.has(plan.rootLink)) await ip(null, ['link', 'del', plan.rootLink]);
    if (rl.has('op')) await ip(R, ['link', 'del', 'op']);
    await ip(null, ['link', 'add', plan.rootLink, 'type', 'veth', 'peer', 'name', 'op', 'netns', R], { context: 'creating the operator link' });
    await ip(null, ['link', 'set', plan.rootLink, 'alias', `tandem-lab:${plan.customer}`]);
    await sysctls(null, { [`net.ipv6.conf.${plan.rootLink}.disable_ipv6`]: '1' });
    rl = await links(R);
  }
  const rootNow = (await links(null)).get(plan.rootLink);
  if (!hasAddr(rootNow, plan.operatorAddress, 30)) {
    await ip(null, ['addr', 'flush', 'dev', plan.rootLink]);
    await ip(null, ['addr', 'add', `${plan.operatorAddress}/30`, 'dev', plan.rootLink]);
  }
  if (!hasAddr(rl.get('op'), plan.routerAddress, 30)) {
    await ip(R, ['addr', 'flush', 'dev', 'op']);
    await ip(R, ['addr', 'add', `${plan.routerAddress}/30`, 'dev', 'op']);
  }
  await ip(null, ['link', 'set', plan.rootLink, 'up']);
  await ip(R, ['link', 'set', 'op', 'up']);
  // The only route to the lab from this machine: this stack's /22, via its router.
  await ip(null, ['route', 'replace', plan.subnet, 'via', plan.routerAddress, 'dev', plan.rootLink], { context: 'routing the lab subnet' });
  for (const reg of plan.regions) {
    if (!rl.has(reg.bridge)) await ip(R, ['link', 'add', reg.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    if (!hasAddr(rl.get(reg.bridge), reg.gateway, 27)) {
      await ip(R, ['addr', 'flush', 'dev', reg.bridge]);
      await ip(R, ['addr', 'add', `${reg.gateway}/27`, 'dev', reg.bridge]);
    }
    await ip(R, ['link', 'set', reg.bridge, 'up']);
  }
}

/** The host's namespace and its link (veth to its region's bridge), address, route and cap. */
export async function ensureHostNet(plan: LabPlan, h: HostPlan, linkUp: boolean): Promise<void> {
  const R = plan.routerNetns;
  await ensureNetns(h.netns);
  let hl = await links(h.netns);
  const rl = await links(R);
  if (!hl.has('eth0') || !rl.has(h.routerIf)) {
    if (hl.has('eth0')) await ip(h.netns, ['link', 'del', 'eth0']);
    if (rl.has(h.routerIf)) await ip(R, ['link', 'del', h.routerIf]);
    await ip(R, ['link', 'add', h.routerIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns], { context: `creating the link of ${h.site}` });
    hl = await links(h.netns);
  }
  if (rl.get(h.routerIf)?.master !== h.bridge) await ip(R, ['link', 'set', h.routerIf, 'master', h.bridge]);
  if (!hasAddr(hl.get('eth0'), h.address, h.prefix)) {
    await ip(h.netns, ['addr', 'flush', 'dev', 'eth0']);
    await ip(h.netns, ['addr', 'add', `${h.address}/${h.prefix}`, 'dev', 'eth0']);
  }
  await ip(h.netns, ['link', 'set', 'eth0', 'up']);
  await ip(R, ['link', 'set', h.routerIf, linkUp ? 'up' : 'down']);
  // Only the stack's own /22 is routable from a host: no default route, nothing outside.
  await ip(h.netns, ['route', 'replace', plan.subnet, 'via', h.gateway, 'dev', 'eth0', 'onlink']);
  await applyCap(plan, h);
  if (linkUp) await waitLinkUp(plan, h);
}

/** tbf on both ends of the host's link, so the cap holds in both directions. */
export async function applyCap(plan: LabPlan, h: HostPlan): Promise<void> {
  const ends: [string, string][] = [
    [h.netns, 'eth0'],
    [plan.routerNetns, h.routerIf],
  ];
  for (const [ns, dev] of ends) {
    const cur = await run(['tc', '-n', ns, '-j', 'qdisc', 'show', 'dev', dev, 'root'], { allowFail: true });
    let q: { kind?: string; options?: { rate?: number; burst?: number } } = {};
    try {
      q = (JSON.parse(cur.stdout) as (typeof q)[])[0] ?? {};
    } catch {
      /* none */
    }
    if (h.linkMbit) {
      const p = tbfParams(h.linkMbit);
      if (q.kind === 'tbf' && q.options?.rate === Math.round((h.linkMbit * 1e6) / 8) && q.options?.burst === p.burst) continue;
      await run(['tc', '-n', ns, 'qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', p.rate, 'burst', String(p.burst), 'latency', p.latency], {
        context: `capping the link of ${h.site} at ${h.linkMbit} Mbit/s`,
      });
    } else if (q.kind === 'tbf') {
      await run(['tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'root'], { allowFail: true });
    }
  }
}

export async function setHostLink(plan: LabPlan, h: HostPlan, up: boolean): Promise<void> {
  await ip(plan.routerNetns, ['link', 'set', h.routerIf, up ? 'up' : 'down'], { context: `${up ? 'connecting' : 'cutting'} the link of ${h.site}` });
  if (up) await waitLinkUp(plan, h);
}

/**
 * The kernel turns a link's carrier on lazily (linkwatch, up to ~1 s); until then its qdisc drops
 * every packet. Wait (bounded) until both ends are operationally up, so "heal" means healed.
 */
async function waitLinkUp(plan: LabPlan, h: HostPlan): Promise<void> {
  const up = async () => (await links(h.netns)).get('eth0')?.operstate === 'UP' && (await links(plan.routerNetns)).get(h.routerIf)?.operstate === 'UP';
  await waitFor(`the link of ${h.site} to come up`, up, { timeoutMs: 5000, everyMs: 20, retryErrors: false });
}
