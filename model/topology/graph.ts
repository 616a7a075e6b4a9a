/** Who feeds whom: pure functions over a validated Topology. */
import type { FeedEdge, MasterSite, MirrorSite, Site, Topology } from './types';

export function masterOf(t: Topology): MasterSite {
  const m = t.sites.find((s): s is MasterSite => s.role === 'master');
  if (!m) throw new Error(`topology "${t.customer}" has no master (it was not validated)`);
  return m;
}

export function mirrorsOf(t: Topology): MirrorSite[] {
  return t.sites.filter((s): s is MirrorSite => s.role === 'mirror');
}

export function siteByName(t: Topology, name: string): Site {
  const s = t.sites.find((x) => x.name === name);
  if (!s) throw new Error(`no site "${name}" in stack "${t.customer}"; sites: ${t.sites.map((x) => x.name).join(', ')}`);
  return s;
}

/** The site a mirror receives from: its relay, or the master. Null for the master. */
export function feedFrom(t: Topology, site: Site): string | null {
  if (site.role === 'master') return null;
  return site.relayVia ?? masterOf(t).name;
}

export function feedEdges(t: Topology): FeedEdge[] {
  return mirrorsOf(t).map((m) => ({ from: feedFrom(t, m)!, to: m.name }));
}

/** Sites that receive straight from `name`. */
export function childrenOf(t: Topology, name: string): MirrorSite[] {
  return mirrorsOf(t).filter((m) => feedFrom(t, m) === name);
}

/** Sites in feed order: the master first, then each level of the relay tree. */
export function feedOrder(t: Topology): Site[] {
  const out: Site[] = [masterOf(t)];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(t, out[i].name));
  return out;
}
