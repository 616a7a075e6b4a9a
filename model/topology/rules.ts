/**
 * The value rules of the model, in one place: the stack loader (./load.ts) and the inventory
 * check (scripts/hosts/inventory-check.ts) both apply these, so a value the topology refuses is
 * refused in an inventory too, with the same words. Each check returns what is wrong and how to
 * write it instead; the caller adds the field path and the value.
 *
 * Values here end up on remote command lines and in sshd's authorized_keys options (quoted, but
 * quoting is the second line of defence): a dataDir of `/srv/trading$(touch x)` or an address of
 * `-oProxyCommand=...` must never get that far.
 */
import * as path from 'node:path';
import * as ipaddr from 'ipaddr.js';

/** Site names: lowercase, short; they name hosts, keys' comments, Pulumi resources. */
export const SITE_NAME_RE = /^[a-z][a-z0-9-]{0,19}$/;
export const SITE_NAME_RULE = "use lowercase letters, digits and '-', starting with a letter, at most 20 characters";
export const CUSTOMER_RE = /^[a-z0-9][a-z0-9-]{0,39}$/;
export const CUSTOMER_RULE = "use lowercase letters, digits and '-', at most 40 characters";
export const USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
export const USER_RULE = "use lowercase letters, digits, '_' and '-', e.g. trader";

export type RuleResult<T = string> = { ok: true; value: T } | { ok: false; why: string };

/** Directories a dataDir must neither be nor sit in nor contain. */
const SYSTEM_DIRS = ['/bin', '/boot', '/dev', '/etc', '/lib', '/proc', '/sbin', '/sys', '/usr', '/var/lib/tandem', '/run', '/tmp'];
/** What a path may be made of: what a boot script, rsync and sshd take without any quoting. */
const SAFE_PATH_CHARS = /^[A-Za-z0-9._/-]+$/;

/**
 * A data directory: absolute, below /, normalized, of plain characters, not a system directory.
 * `why` continues a sentence that starts with the value: `dataDir "x" <why>`.
 */
export function checkDataDir(v: unknown): RuleResult {
  if (typeof v !== 'string' || !path.posix.isAbsolute(v) || path.posix.normalize(v) === '/') {
    return { ok: false, why: 'is not allowed; use an absolute path below /, e.g. /srv/trading' };
  }
  const norm = path.posix.normalize(v).replace(/\/+$/, '');
  if (norm !== v.replace(/\/+$/, '') || !SAFE_PATH_CHARS.test(v)) {
    // The suggestion keeps what comes before the first character that is not allowed.
    const cut = norm.search(/[^A-Za-z0-9._/-]/);
    const plain = (cut >= 0 ? norm.slice(0, cut) : norm).replace(/\/+$/, '') || '/srv/trading';
    return { ok: false, why: `is not allowed; use a plain normalized path of letters, digits, '.', '_', '-' and '/' (no "..", spaces, quotes or shell characters), e.g. ${plain}` };
  }
  const clash = SYSTEM_DIRS.find((s) => norm === s || norm.startsWith(`${s}/`) || s.startsWith(`${norm}/`));
  if (clash) return { ok: false, why: `overlaps the system directory ${clash}; use a directory of its own, e.g. /srv/trading` };
  return { ok: true, value: norm };
}

const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * An address tandem connects to or names in a from= restriction: an IPv4 address in dotted
 * decimal, an IPv6 address (no zone), or a DNS name (labels of letters, digits and inner '-', the
 * last one not numeric). Nothing that starts with '-' passes, so it can never be read as an option.
 */
export function checkAddress(v: unknown): RuleResult {
  const why = 'is not an IP address or host name; write it like 198.51.100.7 or home.example.net';
  if (typeof v !== 'string' || v.length === 0 || v.length > 253) return { ok: false, why };
  if (ipaddr.IPv4.isValidFourPartDecimal(v)) return { ok: true, value: v };
  if (v.includes(':')) return !v.includes('%') && ipaddr.IPv6.isValid(v) ? { ok: true, value: v } : { ok: false, why };
  const labels = v.replace(/\.$/, '').split('.');
  if (labels.every((l) => DNS_LABEL.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1])) return { ok: true, value: v };
  return { ok: false, why };
}

/** One exclude pattern (rsync filter syntax); `why` continues `exclude[i] <value> `. */
export function checkExclude(p: unknown): RuleResult {
  if (typeof p !== 'string' || p.trim() === '' || p.includes('\n')) {
    return { ok: false, why: 'is not a pattern; each entry is one glob such as "*.tmp" or "logs/**"' };
  }
  if (p === '/') return { ok: false, why: 'would exclude the whole dataDir; name the files or folders to leave out' };
  return { ok: true, value: p };
}

/** Longest RTO target: a day. A failover slower than that is a rebuild, not a failover. */
export const RTO_TARGET_MAX_S = 86_400;
/** Longest RPO target: 30 days, the oldest a refreshed cold mirror may be (COLD_REFRESH_MAX_H). */
export const RPO_TARGET_MAX_S = 720 * 3600;

/**
 * rtoTargetS: seconds from the fault to the service answering again; more than 0 (no failover is
 * instant), fractions allowed. `why` continues `<path> <value> `.
 */
export function checkRtoTargetS(v: unknown): RuleResult<number> {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > RTO_TARGET_MAX_S) {
    return { ok: false, why: `is not allowed; rtoTargetS is the seconds from a fault to the service answering again: a number above 0 and at most ${RTO_TARGET_MAX_S}, e.g. 10` };
  }
  return { ok: true, value: v };
}

/** rpoTargetS: seconds of writes an unplanned failover may lose; 0 (nothing) allowed. */
export function checkRpoTargetS(v: unknown): RuleResult<number> {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > RPO_TARGET_MAX_S) {
    return { ok: false, why: `is not allowed; rpoTargetS is the seconds of writes a failover may lose: a number from 0 to ${RPO_TARGET_MAX_S}, e.g. 5 (0: nothing may be lost)` };
  }
  return { ok: true, value: v };
}
