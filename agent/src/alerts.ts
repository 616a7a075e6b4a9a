/**
 * Degraded-redundancy alerts, sent by the agent that feeds mirrors (the master, and relays for
 * their children): it is the one that sees its links fail, and it runs whether or not anyone has
 * `tandem` open. The daemon hands every status it writes to `Alerter.observe`; this decides:
 *
 * - DEGRADED (status health 'degraded') that lasts CONFIRM_MS -> one alert naming the cause and
 *   what is still protected. A link blip shorter than that sends nothing.
 * - while it stays DEGRADED: a reminder every `notify.reminderMin` (default 60) minutes; a new
 *   fault on top (another mirror fails: the double fault) -> one more alert ('worse').
 * - OK again (health ok and every active mirror in sync) for CONFIRM_MS -> one recovery notice.
 *
 * What was last announced is kept in state/alerts.json, so a daemon restart neither repeats an
 * alert nor forgets one that is still owed. A send that fails is tried again after RETRY_MS, not
 * every second.
 */
import type { AgentConfig, AgentNotify, AgentStatus } from './contract';
import { errMsg, log, readJson, writeFileAtomic } from './env';
import { describeFailures, sendAll, type NotifyMessage, type SendResult } from './notify';
import { coldOff } from './status';

export interface AlertState {
  /** What was last announced (or, before any alert, the state first seen). */
  readonly announced: 'ok' | 'degraded';
  /** The faults named in the last DEGRADED alert, e.g. ["mirror b: down"]. */
  readonly faults: readonly string[];
  readonly since: string;
  readonly lastSentAt: string | null;
}

/** Test-only overrides need a non-default TANDEM_AGENT_HOME, like the agent's other TANDEM_TEST_*. */
function testMs(name: string): number | null {
  const v = process.env.TANDEM_AGENT_HOME ? Number(process.env[name]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : null;
}
export const CONFIRM_MS = (): number => testMs('TANDEM_TEST_ALERT_CONFIRM_MS') ?? 5_000;
export const RETRY_MS = (): number => testMs('TANDEM_TEST_ALERT_RETRY_MS') ?? 30_000;
export const reminderMs = (n: AgentNotify): number => testMs('TANDEM_TEST_ALERT_REMINDER_MS') ?? (n.reminderMin ?? 60) * 60_000;

/** The faults of a status, one line each, stable so that "the same fault" compares equal. */
export function faultsOf(s: AgentStatus): string[] {
  const out: string[] = [];
  if (s.daemonError) out.push(`agent on ${s.site}: ${s.daemonError}`);
  for (const c of s.children) {
    if (c.state === 'down' || c.state === 'error') out.push(`mirror ${c.site}: ${c.state}${c.lastError ? ` (${c.lastError})` : ''}`);
    else if ((c.differences ?? 0) > 0) out.push(`mirror ${c.site}: ${c.differences} entries differ from ${s.site}`);
  }
  if (out.length === 0 && s.health === 'degraded' && s.lastError) out.push(`${s.site}: ${s.lastError}`);
  return out;
}

/** Mirrors that still hold a current copy. */
export function protectedBy(s: AgentStatus): string[] {
  return s.children.filter((c) => c.state === 'in-sync' || c.state === 'catching-up').map((c) => `${c.site} (${c.state})`);
}

/**
 * The status as the alerter judges it: without the cold mirrors that are powered off (status.ts
 * coldOff). buildStatus already leaves them out of health and lastError; here they also leave the
 * children a recovery notice waits to see in sync, and the faults an alert names. Without this, a
 * master with a cold mirror powered off stayed DEGRADED for good: no recovery notice, and a later
 * fault of another mirror already "known" raised no alert (found by the double-fault drill).
 */
export function withoutColdOff(config: AgentConfig, s: AgentStatus): AgentStatus {
  const children = s.children.filter((c) => !coldOff(config, c));
  return children.length === s.children.length ? s : { ...s, children };
}

const faultKey = (f: string): string => f.replace(/ \(.*$/, '');

export function alertMessage(kind: 'degraded' | 'worse' | 'reminder' | 'recovered', customer: string, s: AgentStatus, faults: readonly string[], since: string): NotifyMessage {
  const safe = protectedBy(s);
  const still = safe.length ? `Still protected by: ${safe.join(', ')}.` : 'Nothing is protected: no mirror holds a current copy.';
  const title = { degraded: 'DEGRADED', worse: 'DEGRADED (another fault)', reminder: 'still DEGRADED', recovered: 'OK again' }[kind];
  const subject = `[tandem ${customer}] redundancy ${title}: ${kind === 'recovered' ? `every mirror of ${s.site} in sync` : faults.join('; ')}`;
  const text =
    kind === 'recovered'
      ? `Redundancy of ${customer} is OK again (degraded since ${since}). Every mirror fed by ${s.site} is in sync: ${safe.join(', ') || 'none'}.`
      : `Redundancy of ${customer} is DEGRADED since ${since}, as seen by the agent on ${s.site} (${s.role}).\nCause: ${faults.join('; ')}.\n${still}\nRun \`tandem status --stack ${customer}\` for details.`;
  return {
    kind,
    subject: subject.length > 200 ? `${subject.slice(0, 197)}...` : subject,
    text,
    fields: { customer, site: s.site, role: s.role, health: kind === 'recovered' ? 'ok' : 'degraded', since, faults: [...faults], protectedBy: safe, at: s.updatedAt },
  };
}

export class Alerter {
  private state: AlertState | null;
  private pending: { health: 'ok' | 'degraded'; at: number } | null = null;
  private sending = false;
  private retryAt = 0;

  constructor(
    private readonly file: string,
    private readonly send: (n: AgentNotify, m: NotifyMessage) => Promise<SendResult[]> = sendAll,
  ) {
    this.state = readJson<AlertState>(file);
  }

  /** Called with every status the daemon writes (about once a second). Never throws. */
  observe(config: AgentConfig | null, s: AgentStatus, now = Date.now()): void {
    try {
      this.step(config, s, now);
    } catch (e) {
      log('warn', 'alerts: cannot decide', { error: errMsg(e) });
    }
  }

  private step(config: AgentConfig | null, full: AgentStatus, now: number): void {
    // Only a feeding daemon alerts: a mirror's own trouble shows on its feeder's link, and one
    // sender per fault is what keeps subscribers from getting the same news twice.
    if (!config || !full.running || config.children.length === 0 || config.paused) return;
    const s = withoutColdOff(config, full);
    const active = s.children.filter((c) => c.state !== 'paused');
    const health: 'ok' | 'degraded' | null = s.health === 'degraded' ? 'degraded' : active.every((c) => c.state === 'in-sync') ? 'ok' : null; // null: connecting, seeding: no news yet
    if (health === null) {
      this.pending = null;
      return;
    }
    if (!this.state) {
      // First time ever: an OK start is recorded silently; a degraded one is news.
      if (health === 'ok') return this.save({ announced: 'ok', faults: [], since: new Date(now).toISOString(), lastSentAt: null });
      this.state = { announced: 'ok', faults: [], since: new Date(now).toISOString(), lastSentAt: null };
    }
    if (this.sending || now < this.retryAt || !config.notify) return;
    const st = this.state;
    const faults = health === 'degraded' ? faultsOf(s) : [];
    if (health !== st.announced) {
      if (!this.pending || this.pending.health !== health) this.pending = { health, at: now };
      if (now - this.pending.at < CONFIRM_MS()) return;
      const since = new Date(this.pending.at).toISOString();
      if (health === 'degraded') this.fire(config, 'degraded', s, faults, { announced: 'degraded', faults, since, lastSentAt: new Date(now).toISOString() }, since);
      else this.fire(config, 'recovered', s, [], { announced: 'ok', faults: [], since, lastSentAt: new Date(now).toISOString() }, st.since);
      return;
    }
    this.pending = null;
    if (health !== 'degraded') return;
    const known = new Set(st.faults.map(faultKey));
    const added = faults.filter((f) => !known.has(faultKey(f)));
    if (added.length) {
      this.fire(config, 'worse', s, faults, { ...st, faults: [...new Set([...st.faults, ...faults])], lastSentAt: new Date(now).toISOString() }, st.since);
      return;
    }
    const last = st.lastSentAt ? Date.parse(st.lastSentAt) : 0;
    if (now - last >= reminderMs(config.notify)) this.fire(config, 'reminder', s, faults.length ? faults : st.faults, { ...st, lastSentAt: new Date(now).toISOString() }, st.since);
  }

  private fire(config: AgentConfig, kind: 'degraded' | 'worse' | 'reminder' | 'recovered', s: AgentStatus, faults: readonly string[], next: AlertState, since: string): void {
    const msg = alertMessage(kind, config.customer, s, faults, since);
    this.sending = true;
    void this.send(config.notify!, msg)
      .then((rs) => {
        const failed = rs.filter((r) => !r.ok);
        // Delivered to at least one channel: the news is out; a dead channel is logged, not
        // re-sent to the channels that already have it.
        if (failed.length < rs.length || rs.length === 0) {
          this.save(next);
          this.pending = null;
          log(failed.length ? 'warn' : 'info', `alerts: sent ${kind}`, { subject: msg.subject, ...(failed.length ? { failed: describeFailures(rs) } : {}) });
        } else {
          this.retryAt = Date.now() + RETRY_MS();
          log('error', `alerts: could not send ${kind}; trying again in ${RETRY_MS() / 1000} s`, { failed: describeFailures(rs) });
        }
      })
      .catch((e) => {
        this.retryAt = Date.now() + RETRY_MS();
        log('error', `alerts: could not send ${kind}`, { error: errMsg(e) });
      })
      .finally(() => {
        this.sending = false;
      });
  }

  private save(st: AlertState): void {
    this.state = st;
    writeFileAtomic(this.file, JSON.stringify(st, null, 2) + '\n');
  }
}
