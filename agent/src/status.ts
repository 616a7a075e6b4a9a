/**
 * AgentStatus: the daemon writes it every second; `agent.js status` merges it with the
 * receiver's state (the receiver runs in sshd's process tree, not the daemon's), so a mirror
 * whose daemon is stopped still reports what it has applied.
 */
import * as fs from 'fs';
import type { AgentConfig, AgentStatus, ChildStatus } from './contract';
import { AGENT_VERSION, HomePaths, readJson } from './env';
import type { ReceiverState } from './receiver-state';
import { fenceReason, readFence, RUN_FENCE, type RunFence } from './fence';

/** A receiver that has not heard from its sender for this long is not in sync. */
export const LINK_STALE_MS = 10_000;
export const STATUS_STALE_MS = 5_000;

/** A child that makes its feeder's status DEGRADED: its link down or failing, or found different. */
export const childFailing = (c: ChildStatus): boolean => c.state === 'error' || c.state === 'down' || (c.differences ?? 0) > 0;

/**
 * A cold mirror that does not answer (its link down or connecting) once it has completed a sync:
 * powered off by design, so not a fault of its feeder (the same rule as `tandem status`,
 * docs/operations.md, and the alerter's). One that never synced, or answers with an error, is.
 */
export function coldOff(config: AgentConfig | null, c: ChildStatus): boolean {
  return (c.state === 'down' || c.state === 'connecting') && !!c.lastInSyncAt && !!config?.children.some((k) => k.site === c.site && k.failover === 'cold');
}

export function buildStatus(config: AgentConfig | null, rs: ReceiverState | null, children: readonly ChildStatus[], running: boolean, daemonError: string | null, now = Date.now()): AgentStatus {
  const role = config?.role ?? 'mirror';
  const active = children.filter((c) => c.state !== 'paused');
  const linkAlive = !!rs && now - rs.updatedAt < LINK_STALE_MS;
  let inSync: boolean;
  let lagS: number | null = null;
  if (role === 'master') inSync = active.every((c) => c.state === 'in-sync');
  else {
    inSync = !!rs && rs.inSync && linkAlive && active.every((c) => c.state === 'in-sync');
    if (rs?.through) lagS = Math.max(0, (now - rs.through) / 1000);
    else if (rs?.lastAppliedChangeTime) lagS = Math.max(0, (now - rs.lastAppliedChangeTime) / 1000);
  }
  const failing = (c: ChildStatus): boolean => childFailing(c) && !coldOff(config, c);
  const childErr = children.find((c) => c.lastError && failing(c));
  const recvErr = role === 'mirror' && rs?.lastError ? `receiving: ${rs.lastError}` : null;
  const lastError = daemonError ?? recvErr ?? (childErr ? `${childErr.site}: ${childErr.lastError}` : null);
  const degraded = !!lastError || children.some(failing);
  return {
    site: config?.site ?? '',
    role,
    epoch: Math.max(config?.epoch ?? 0, rs?.highestEpoch ?? 0),
    agentVersion: AGENT_VERSION,
    updatedAt: new Date(now).toISOString(),
    running,
    lastAppliedChangeAt: rs?.lastAppliedChangeTime ? new Date(rs.lastAppliedChangeTime).toISOString() : null,
    lagS: lagS === null ? null : Math.round(lagS * 1000) / 1000,
    inSync,
    lastError,
    health: degraded ? 'degraded' : 'ok',
    daemonError,
    children,
  };
}

/** What `agent.js status` prints: the daemon's file if fresh, with the receiver state merged. */
export function currentStatus(paths: HomePaths, now = Date.now()): AgentStatus {
  const config = readJson<AgentConfig>(paths.config);
  const rs = readJson<ReceiverState>(paths.receiverState);
  const file = readJson<AgentStatus>(paths.status);
  const fresh = !!file && now - Date.parse(file.updatedAt) < STATUS_STALE_MS && file.running;
  const children = fresh
    ? file!.children
    : (config?.children ?? []).map((c): ChildStatus => ({
        site: c.site,
        lastInSyncAt: file?.children.find((x) => x.site === c.site)?.lastInSyncAt ?? null,
        state: config?.paused || config?.pausedChildren.includes(c.site) ? 'paused' : 'down',
        // Nothing runs that could count it: unknown, not "current".
        bytesBehind: null,
        lagS: null,
        lastAckAt: null,
        lastError: 'agent daemon not running',
        bytesSent: 0,
      }));
  // The daemon's own trouble (a directory it cannot watch) is in its file, apart from the
  // receiver's and the children's, which are merged again here from their sources.
  const daemonError = fresh ? (file!.daemonError ?? null) : config?.children.length ? 'agent daemon not running' : null;
  const s = buildStatus(config, rs, children, fresh, daemonError, now);
  // Fencing: a fenced master says so; a master that demoted itself names where its data was kept
  // (an error until someone has looked: remove state/fence.json to acknowledge).
  const fencedNow = process.env.TANDEM_AGENT_HOME ? null : fenceReason(config);
  const kept = readFence(paths);
  const run = process.env.TANDEM_AGENT_HOME ? null : readJson<RunFence>(RUN_FENCE);
  if (!fencedNow && !kept?.splitBrainDir) return s;
  const keptMsg = kept?.splitBrainDir ? `split-brain writes kept in ${kept.splitBrainDir} (${kept.reason}); review them, then remove ${paths.stateDir}/fence.json` : null;
  const err = fencedNow ?? keptMsg;
  return {
    ...s,
    lastError: s.lastError && s.lastError !== fencedNow ? `${err}; ${s.lastError}` : err,
    health: 'degraded',
    fence: { fenced: !!fencedNow, reason: fencedNow ?? kept!.reason, splitBrainDir: kept?.splitBrainDir ?? run?.splitBrainDir ?? null },
  };
}

export function formatStatus(s: AgentStatus): string {
  const lines = [`${s.site} (${s.role}, epoch ${s.epoch}, agent ${s.agentVersion}): ${(s.health ?? 'ok').toUpperCase()}${s.running ? '' : ', daemon not running'}`];
  if (s.role === 'mirror') lines.push(`  in sync: ${s.inSync ? 'yes' : 'no'}; lag ${s.lagS === null ? '-' : s.lagS.toFixed(3) + ' s'}; newest change applied ${s.lastAppliedChangeAt ?? '-'}`);
  if (s.lastError) lines.push(`  last error: ${s.lastError}`);
  if (s.fence) lines.push(`  fence: ${s.fence.fenced ? 'FENCED' : 'not fenced'}: ${s.fence.reason}${s.fence.splitBrainDir ? `; split-brain writes kept in ${s.fence.splitBrainDir}` : ''}`);
  for (const c of s.children)
    lines.push(
      `  -> ${c.site}: ${c.state}; lag ${c.lagS === null ? '-' : c.lagS.toFixed(3) + ' s'}; ${c.bytesBehind ?? '-'} bytes behind; verified ${c.verifiedAt ?? '-'}${c.lastError ? '; ' + c.lastError : ''}`,
    );
  return lines.join('\n');
}

export function statusExists(paths: HomePaths): boolean {
  return fs.existsSync(paths.status) || fs.existsSync(paths.receiverState);
}
