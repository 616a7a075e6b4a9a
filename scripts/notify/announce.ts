/**
 * Advance notice: `tandem notify --announce` tells every channel of a maintenance or drill window
 * ahead of time and keeps a record of it in the operator's state dir, so that a planned
 * switchover or drill can check (`requireAnnouncement`) that it was announced
 * `notify.announceLeadMin` minutes ahead, and refuse otherwise unless --force.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AgentNotify } from '../../agent/src/contract';
import { channelNames, describeFailures, sendAll, type NotifyMessage, type SendResult } from '../../agent/src/notify';
import type { Topology } from '../../model/topology/types';
import { CommandError, EXIT } from '../errors';

export interface Window {
  readonly from: Date;
  readonly to: Date;
}

export interface Announcement {
  readonly id: string;
  readonly customer: string;
  readonly from: string;
  readonly to: string;
  readonly impact: string;
  readonly sentAt: string;
  /** Every channel tried, with its outcome. */
  readonly results: readonly SendResult[];
}

export class WindowError extends Error {}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * `<from>/<to>`: ISO 8601 times with a zone (Z or +hh:mm), or `<from>/+<n>m|h` for a length.
 * The window must end after it starts and not have ended already.
 */
export function parseWindow(s: string, now = new Date()): Window {
  const fix = 'write it as <from>/<to> in ISO 8601 with a zone, e.g. 2026-12-03T02:00Z/2026-12-03T03:00Z, or 2026-12-03T02:00Z/+90m';
  const parts = s.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new WindowError(`--window ${JSON.stringify(s)} is not a window; ${fix}`);
  const [a, b] = parts.map((x) => x.trim());
  const time = (x: string, which: string): Date => {
    const d = new Date(x);
    if (!ISO_RE.test(x) || Number.isNaN(d.getTime())) throw new WindowError(`--window ${which} ${JSON.stringify(x)} is not an ISO 8601 time with a zone; ${fix}`);
    return d;
  };
  const from = time(a, 'start');
  let to: Date;
  const rel = /^\+(\d+)([mh])$/.exec(b);
  if (rel) to = new Date(from.getTime() + Number(rel[1]) * (rel[2] === 'h' ? 3_600_000 : 60_000));
  else to = time(b, 'end');
  if (to.getTime() <= from.getTime()) throw new WindowError(`--window ${JSON.stringify(s)} ends (${to.toISOString()}) before or when it starts (${from.toISOString()}); give an end after the start`);
  if (to.getTime() <= now.getTime()) throw new WindowError(`--window ${JSON.stringify(s)} is over already (it ended ${to.toISOString()}, now ${now.toISOString()}); announce a window still ahead`);
  return { from, to };
}

export function announcementMessage(customer: string, w: Window, impact: string, leadMin: number | null, now = new Date()): NotifyMessage {
  const mins = Math.round((w.to.getTime() - w.from.getTime()) / 60_000);
  const ahead = Math.round((w.from.getTime() - now.getTime()) / 60_000);
  return {
    kind: 'announce',
    subject: `[tandem ${customer}] planned maintenance ${w.from.toISOString()} - ${w.to.toISOString()}`,
    text:
      `Planned maintenance or drill on ${customer} from ${w.from.toISOString()} to ${w.to.toISOString()} (${mins} min)` +
      `${ahead > 0 ? `, starting in ${ahead} min` : ', starting now'}.\nImpact: ${impact}`,
    fields: { customer, from: w.from.toISOString(), to: w.to.toISOString(), impact, ...(leadMin !== null ? { announceLeadMin: leadMin } : {}) },
  };
}

/** The operator's state dir for a customer: ~/.tandem/<customer> (TANDEM_NOTIFY_DIR overrides the root). */
export function notifyDir(customer: string): string {
  return path.join(process.env.TANDEM_NOTIFY_DIR || path.join(os.homedir(), '.tandem'), customer);
}

export function announcementsFile(customer: string): string {
  return path.join(notifyDir(customer), 'announcements.json');
}

export function readAnnouncements(customer: string): Announcement[] {
  try {
    const v = JSON.parse(fs.readFileSync(announcementsFile(customer), 'utf8')) as unknown;
    return Array.isArray(v) ? (v as Announcement[]) : [];
  } catch {
    return [];
  }
}

function record(a: Announcement): void {
  const file = announcementsFile(a.customer);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Windows long past are of no use to any check; the file stays small.
  const keep = readAnnouncements(a.customer).filter((x) => Date.parse(x.to) > Date.now() - 30 * 86_400_000);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify([...keep, a], null, 2) + '\n');
  fs.renameSync(tmp, file);
}

/**
 * Sends the announcement to every channel. Recorded when at least one channel took it (the
 * subscribers there were told); throws CommandError exit 1 naming each failed channel otherwise,
 * or when any channel failed (after recording what went out).
 */
export async function announce(topology: Topology, channels: AgentNotify, w: Window, impact: string, now = new Date(), timeoutMs?: number): Promise<Announcement> {
  const msg = announcementMessage(topology.customer, w, impact, topology.notify?.announceLeadMin ?? null, now);
  const results = await sendAll(channels, msg, timeoutMs);
  const a: Announcement = { id: randomUUID(), customer: topology.customer, from: w.from.toISOString(), to: w.to.toISOString(), impact, sentAt: now.toISOString(), results };
  const delivered = results.filter((r) => r.ok).length;
  if (delivered > 0) record(a);
  if (delivered < results.length) {
    const what = delivered ? `announced on ${delivered} of ${results.length} channels (recorded); failed` : 'not announced (nothing recorded): every channel failed';
    throw new CommandError(`notify: ${what}: ${describeFailures(results)}`, EXIT.failed);
  }
  return a;
}

export interface AnnouncementCheck {
  readonly required: boolean;
  readonly leadMin: number | null;
  /** The announcement that covers the start, sent early enough; null when none. */
  readonly announcement: Announcement | null;
  readonly ok: boolean;
  readonly reason: string;
}

/**
 * For a planned switchover or drill starting at `startsAt`: was it announced at least
 * `notify.announceLeadMin` minutes ahead, by a window that contains the start? Throws a
 * CommandError (exit 2) saying how to fix it, unless `force` (then the check is returned, for the
 * caller to log that it went ahead unannounced).
 */
export function requireAnnouncement(topology: Topology, startsAt: Date, opts: { force?: boolean } = {}): AnnouncementCheck {
  const lead = topology.notify?.announceLeadMin ?? null;
  if (lead === null || lead === 0) return { required: false, leadMin: lead, announcement: null, ok: true, reason: 'no advance notice required (notify.announceLeadMin not set)' };
  const t = startsAt.getTime();
  const all = readAnnouncements(topology.customer).filter((a) => Date.parse(a.from) <= t && t <= Date.parse(a.to));
  const early = all.find((a) => Date.parse(a.sentAt) <= t - lead * 60_000) ?? null;
  const check: AnnouncementCheck = early
    ? { required: true, leadMin: lead, announcement: early, ok: true, reason: `announced at ${early.sentAt} for ${early.from} - ${early.to}` }
    : {
        required: true,
        leadMin: lead,
        announcement: null,
        ok: false,
        reason: all.length
          ? `the announcement covering ${startsAt.toISOString()} went out at ${all[0].sentAt}, less than ${lead} min ahead`
          : `no announcement covers ${startsAt.toISOString()} (records: ${announcementsFile(topology.customer)})`,
      };
  if (!check.ok && !opts.force) {
    throw new CommandError(
      `${topology.customer}: a planned switchover or drill must be announced at least ${lead} min ahead (notify.announceLeadMin); ${check.reason}. ` +
        `Announce it: tandem notify --announce --stack ${topology.customer} --window <from>/<to> --impact "<what users will see>", or pass --force`,
      EXIT.usage,
    );
  }
  return check;
}

export { channelNames };
