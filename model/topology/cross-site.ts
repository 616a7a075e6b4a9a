/**
 * Rules between sites, run once every site has been read: unique names and addresses, one master
 * and at least one mirror, relayVia chains (known, not cold, no cycles), regions apart from the
 * master's metro, and warnings for slow links, RPO targets the schedule cannot meet and hot
 * mirrors on an interval.
 */
import { type Checker, show, type Obj } from './checker';
import { fmtDuration } from './format';
import { metroOf } from './regions';
import { closest } from './suggest';
import type { Site } from './types';

/** Below this cap a continuous mirror cannot keep a sub-second lag through a burst. */
const SLOW_LINK_MBIT = 10;

/**
 * Checks across sites. Runs even when some sites have errors of their own (so every problem
 * shows at once); counts and names then come from the raw entries, so a master with a typo
 * in its region is not also reported as "no master".
 */
export function crossSiteChecks(check: Checker, sites: readonly Site[], raw: readonly Obj[], complete: boolean, topTargets: { rtoTargetS?: number; rpoTargetS?: number }): void {
  const byName = new Map<string, Site>();
  const rawNames = raw.map((r) => r.name).filter((n): n is string => typeof n === 'string');
  for (const s of sites) {
    const prev = byName.get(s.name);
    if (prev) {
      check.error(`sites[${s.index}].name`, `sites[${s.index}].name "${s.name}" is already used by sites[${prev.index}]; give every site its own name`);
    } else byName.set(s.name, s);
  }
  const rawMasters = raw.filter((r) => r.role === 'master');
  if (rawMasters.length === 0) {
    check.error('sites', `sites has no master; mark exactly one site with role: master`);
  } else if (rawMasters.length > 1) {
    check.error('sites', `sites has ${rawMasters.length} masters (${rawMasters.map((m) => show(m.name)).join(', ')}); exactly one site may have role: master — make the others role: mirror`);
  }
  if (!raw.some((r) => r.role === 'mirror')) {
    check.error('sites', `sites has no mirror; add at least one site with role: mirror in another region`);
  }
  const masters = sites.filter((s) => s.role === 'master');
  const mirrors = sites.filter((s): s is Extract<Site, { role: 'mirror' }> => s.role === 'mirror');
  const addrs = new Map<string, Site>();
  for (const s of sites) {
    if (!s.address) continue;
    const prev = addrs.get(s.address);
    if (prev)
      check.error(`sites[${s.index}].address`, `sites[${s.index}].address "${s.address}" is also the address of "${prev.name}"; two sites on one box are no redundancy — give each its own box`);
    else addrs.set(s.address, s);
  }
  // Relays.
  for (const m of mirrors) {
    if (m.relayVia === null) continue;
    const p = `sites[${m.index}].relayVia`;
    if (m.relayVia === m.name) {
      check.error(p, `${p} "${m.relayVia}" is the site itself; name another mirror to receive from, or remove relayVia to receive from the master`);
      continue;
    }
    const target = byName.get(m.relayVia);
    if (!target) {
      if (rawNames.includes(m.relayVia)) continue; // that site has errors of its own
      const guess = closest(m.relayVia, rawNames);
      check.error(p, `${p} "${m.relayVia}" is not a site in this stack; ${guess ? `did you mean "${guess}"?` : `use one of: ${rawNames.join(', ')}`}`);
      continue;
    }
    if (target.role === 'mirror' && target.failover === 'cold') {
      check.error(p, `${p} "${m.relayVia}" is a cold mirror, powered off between syncs, so it cannot relay; relay through a hot or warm mirror, or remove relayVia`);
    }
    if (target.role === 'mirror' && target.syncIntervalS > m.syncIntervalS) {
      check.warn(
        p,
        `${p} "${m.relayVia}" syncs every ${target.syncIntervalS} s, so "${m.name}" will lag by up to that much whatever its own syncIntervalS; relay through a continuous mirror for less lag`,
      );
    }
  }
  for (const m of mirrors) {
    const seen: string[] = [m.name];
    let cur: Site | undefined = m;
    while (cur && cur.role === 'mirror' && cur.relayVia !== null && cur.relayVia !== cur.name) {
      const next = byName.get(cur.relayVia);
      if (!next) break;
      if (seen.includes(next.name)) {
        if (next.name === m.name) {
          check.error(
            `sites[${m.index}].relayVia`,
            `sites[${m.index}].relayVia forms a cycle (${[...seen, next.name].join(' -> ')}) that never reaches the master; make one of them receive from the master (remove its relayVia)`,
          );
        }
        break;
      }
      seen.push(next.name);
      cur = next;
    }
  }

  if (rawMasters.length !== 1 || masters.length !== 1) return;
  const master = masters[0];

  // Geographic separation: the point of a mirror is to survive what takes the master's site down.
  const place = (s: Site): string | null => (s.provider === 'offcloud' ? null : (metroOf(s.provider, s.region!) ?? `${s.provider}:${s.region}`));
  const masterPlace = place(master);
  const near = (s: Site): boolean => masterPlace !== null && place(s) === masterPlace;
  if (complete && mirrors.length > 0 && mirrors.every(near)) {
    for (const m of mirrors) {
      const same = m.provider === master.provider && m.region === master.region;
      const why = same ? `is the master's region` : `is in ${masterPlace}, the same metro as the master's ${master.provider} ${master.region}`;
      check.error(`sites[${m.index}].region`, `sites[${m.index}].region "${m.region}" ${why}; a mirror must be in another region (one in the master's region is allowed only beside one that is not)`);
    }
  }

  // Slow links: the expected lag of a continuous or near-continuous mirror on a thin pipe.
  for (const m of mirrors) {
    const cap = effectiveCap(m, byName);
    if (cap === null || cap >= SLOW_LINK_MBIT || m.syncIntervalS >= 60) continue;
    const secPerMiB = (8 * 1.048576) / cap;
    const mode = m.syncIntervalS === 0 ? 'continuous' : `every ${m.syncIntervalS} s`;
    check.warn(
      `sites[${m.index}].bandwidthMbit`,
      `sites[${m.index}] "${m.name}" syncs ${mode} over a ${cap} Mbit/s cap: expect about ${secPerMiB.toFixed(1)} s of lag for every MiB changed in a burst (a 100 MiB burst: about ${fmtDuration(secPerMiB * 100)}); raise bandwidthMbit to ${SLOW_LINK_MBIT} or more, or set syncIntervalS to 60 or more to batch`,
    );
  }
  // An RPO target the mirror's own schedule cannot meet: a drill would fail it every time.
  for (const m of mirrors) {
    const rpo = m.rpoTargetS ?? topTargets.rpoTargetS;
    if (rpo === undefined) continue;
    const from = m.rpoTargetS !== undefined ? `sites[${m.index}].rpoTargetS` : 'rpoTargetS';
    const stale = m.failover === 'cold' && m.coldRefreshH !== undefined ? m.coldRefreshH * 3600 : m.syncIntervalS;
    if (stale <= rpo) continue;
    const how = m.failover === 'cold' && m.coldRefreshH !== undefined ? `is a cold mirror refreshed every ${m.coldRefreshH} h` : `syncs every ${m.syncIntervalS} s`;
    const fix = m.failover === 'cold' && m.coldRefreshH !== undefined ? 'refresh it more often (coldRefreshH)' : `set syncIntervalS to ${Math.floor(rpo)} or less`;
    check.warn(
      `sites[${m.index}].rpoTargetS`,
      `sites[${m.index}] "${m.name}" ${how}, so an unplanned failover to it can lose up to ${fmtDuration(stale)} of writes: ${from} ${rpo} s cannot be met; ${fix}, or raise the target to ${stale} s or more`,
    );
  }
  for (const m of mirrors) {
    if (m.failover === 'hot' && m.syncIntervalS > 0) {
      check.warn(
        `sites[${m.index}].syncIntervalS`,
        `sites[${m.index}] "${m.name}" is a hot mirror that syncs every ${m.syncIntervalS} s: a failover can lose up to ${fmtDuration(m.syncIntervalS)} of data; hot mirrors are normally continuous (syncIntervalS: 0)`,
      );
    }
  }
}

/** The tightest bandwidth cap on the path from the master to this mirror. */
function effectiveCap(m: Site, byName: Map<string, Site>): number | null {
  let cap: number | null = null;
  const seen = new Set<string>();
  let cur: Site | undefined = m;
  while (cur && cur.role === 'mirror' && !seen.has(cur.name)) {
    seen.add(cur.name);
    if (cur.bandwidthMbit !== null) cap = cap === null ? cur.bandwidthMbit : Math.min(cap, cur.bandwidthMbit);
    cur = cur.relayVia ? byName.get(cur.relayVia) : undefined;
  }
  return cap;
}
