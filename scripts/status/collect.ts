/**
 * Reads every host's agent status over SSH, in parallel, each with a short timeout: a host that
 * does not answer is an observation ("unreachable"), never a crash.
 */
import type { AgentStatus } from '../../agent/src/contract';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { AGENT_JS } from '../hosts/keys';
import { STATUS_JSON } from '../hosts/hostfiles';
import { mapParallel } from '../hosts/parallel';
import type { Connector, SshSettings } from '../hosts/remote';
import type { HostObservation } from './verdict';

const MARK = '--tandem-status--';

/** One round trip: the status file's age by the host's own clock, then the agent's status. */
export const STATUS_SCRIPT = `m=$(stat -c %Y ${STATUS_JSON} 2>/dev/null) && echo "age=$(( $(date +%s) - m ))"
[ -f ${AGENT_JS} ] || { echo "${MARK}"; echo "no agent installed (${AGENT_JS} missing)" >&2; exit 3; }
echo "${MARK}"
exec node ${AGENT_JS} status --json`;

export function parseStatusOutput(stdout: string, stderr: string, code: number | null): { status: AgentStatus | null; ageS: number | null; error: string | null } {
  const i = stdout.indexOf(MARK);
  const head = i >= 0 ? stdout.slice(0, i) : '';
  const body = i >= 0 ? stdout.slice(i + MARK.length) : stdout;
  const m = /age=(-?\d+)/.exec(head);
  const ageS = m ? Math.max(0, Number(m[1])) : null;
  if (code !== 0 && !body.trim()) return { status: null, ageS, error: (stderr.trim() || `exit ${code}`).split('\n').slice(-2).join(' ') };
  try {
    const s = JSON.parse(body) as AgentStatus;
    if (typeof s !== 'object' || s === null || typeof s.epoch !== 'number' || !Array.isArray(s.children)) throw new Error('not an AgentStatus');
    return { status: s, ageS, error: null };
  } catch (e) {
    return { status: null, ageS, error: `agent status --json printed something unreadable (${(e as Error).message}); ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`.trim() };
  }
}

export async function observe(inv: Inventory, connect: Connector, ssh: SshSettings, parallel: number): Promise<HostObservation[]> {
  const res = await mapParallel(inv.hosts, parallel, async (h: InventoryHost): Promise<HostObservation> => {
    const base = { site: h.site, role: h.role, failover: h.failover, feedFrom: h.feedFrom, syncIntervalS: h.syncIntervalS };
    let r;
    try {
      r = await connect(h, ssh);
    } catch (e) {
      return { ...base, reachable: false, error: (e as Error).message, status: null, statusAgeS: null };
    }
    try {
      const out = await r.exec(STATUS_SCRIPT, { timeoutMs: ssh.timeoutMs });
      const p = parseStatusOutput(out.stdout, out.stderr, out.code);
      return { ...base, reachable: true, error: p.error, status: p.status, statusAgeS: p.ageS };
    } catch (e) {
      return { ...base, reachable: true, error: (e as Error).message, status: null, statusAgeS: null };
    } finally {
      await Promise.resolve(r.close()).catch(() => undefined);
    }
  });
  return res.map((r, i) => {
    if (r.ok) return r.value;
    const h = inv.hosts[i];
    return { site: h.site, role: h.role, failover: h.failover, feedFrom: h.feedFrom, syncIntervalS: h.syncIntervalS, reachable: false, error: r.error.message, status: null, statusAgeS: null };
  });
}
