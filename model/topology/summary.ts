/** A one-screen summary of a topology: sites, roles, regions, who feeds whom. */
import { childrenOf, masterOf } from './graph';
import type { Site, Topology } from './types';

function where(s: Site): string {
  return s.provider === 'offcloud' ? `offcloud ${s.address}` : `${s.provider} ${s.region}`;
}

function sync(s: Site): string {
  if (s.role === 'master') return s.tickMs !== undefined ? `source, tick ${s.tickMs} ms` : 'source';
  const mode = s.syncIntervalS === 0 ? 'continuous' : `every ${s.syncIntervalS} s`;
  return s.bandwidthMbit !== null ? `${mode}, cap ${s.bandwidthMbit} Mbit/s` : mode;
}

export function summarize(t: Topology): string {
  const rows = t.sites.map((s) => [s.name, s.role === 'master' ? 'master' : `mirror (${s.failover})`, where(s), s.provider === 'offcloud' ? '-' : `${s.size}, ${s.diskGb} GiB`, sync(s)]);
  const head = ['SITE', 'ROLE', 'WHERE', 'SIZE', 'SYNC'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();

  const tree: string[] = [];
  const walk = (name: string, prefix: string, last: boolean, root: boolean) => {
    const s = t.sites.find((x) => x.name === name)!;
    const label = `${s.name} (${s.role === 'master' ? 'master' : s.failover}, ${where(s)})`;
    tree.push(root ? label : `${prefix}${last ? '└─ ' : '├─ '}${label}`);
    const kids = childrenOf(t, name);
    kids.forEach((k, i) => walk(k.name, root ? '' : `${prefix}${last ? '   ' : '│  '}`, i === kids.length - 1, false));
  };
  walk(masterOf(t).name, '', true, true);

  return [
    `customer ${t.customer}: ${t.sites.length} sites, data ${t.dataDir}${t.exclude.length ? ` (excluding ${t.exclude.join(', ')})` : ''}`,
    `service: start "${t.service.start}", stop "${t.service.stop}", health port ${t.service.healthPort}`,
    `ssh from: ${t.adminCidrs.join(', ')}${t.dns ? `   dns: ${t.dns.name} (zone ${t.dns.zone})` : ''}`,
    '',
    fmt(head),
    ...rows.map(fmt),
    '',
    'feeds:',
    ...tree.map((l) => `  ${l}`),
  ].join('\n');
}
