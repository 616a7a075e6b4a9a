/** `tandem status` output: a table for people, JSON for machines. */
import { table, UNKNOWN } from '../util/table';
import type { HostRow, Verdict } from './verdict';

export { UNKNOWN };

export function fmtBytes(n: number | null): string {
  if (n === null) return UNKNOWN;
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${u[i]}`;
}

export function fmtLag(s: number | null): string {
  if (s === null) return UNKNOWN;
  if (s < 10) return `${(Math.round(s * 10) / 10).toFixed(1)} s`;
  if (s < 3600) return `${Math.round(s)} s`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** How long ago an online verify found a mirror equal: UNKNOWN when it has not (yet). */
export function fmtAgo(iso: string | null, now = Date.now()): string {
  if (!iso) return UNKNOWN;
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

function roleText(r: HostRow): string {
  return r.role === 'master' ? 'master' : r.relay ? 'relay' : 'mirror';
}

/** LAG: a powered-off cold mirror has no link to lag on; what counts is how old its data is. */
function lagCell(r: HostRow): string {
  if (r.role === 'master') return UNKNOWN;
  if (r.state === 'off (cold)') return r.lagS === null ? UNKNOWN : `data ${fmtLag(r.lagS)} old`;
  return fmtLag(r.lagS);
}

export function renderTable(v: Verdict): string {
  const head = ['SITE', 'ROLE', 'EPOCH', 'VERSION', 'STATE', 'LAG', 'BEHIND', 'VERIFIED', 'LAST-ERROR'];
  const rows = v.rows.map((r) => [
    r.site,
    roleText(r),
    r.epoch === null ? UNKNOWN : String(r.epoch),
    r.agentVersion ?? UNKNOWN,
    r.state,
    lagCell(r),
    fmtBytes(r.bytesBehind),
    r.role === 'master' ? UNKNOWN : fmtAgo(r.verifiedAt ?? null),
    r.lastError ?? '',
  ]);
  const verdict = v.ok ? 'OK' : `DEGRADED: ${v.reasons.join('; ')}`;
  return [...table(head, rows), '', verdict].join('\n');
}

export function renderJson(customer: string, v: Verdict, elapsedMs: number): string {
  return JSON.stringify(
    {
      customer,
      verdict: v.ok ? 'OK' : 'DEGRADED',
      reasons: v.reasons,
      inSyncMirrors: v.inSyncMirrors,
      hosts: v.rows,
      checkedAt: new Date().toISOString(),
      elapsedMs,
    },
    null,
    2,
  );
}
