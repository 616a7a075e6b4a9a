/**
 * `agent.js refresh-off`: the host side of a cold mirror's refresh (topology `coldRefreshH`).
 * The provider's schedule powers the host on (EventBridge Scheduler / a Logic App, made by
 * `pulumi up`); this process, run as root at boot by tandem-refresh-off.service, powers it off
 * again once its receiver has caught up since this boot and stayed in sync for a while. It never
 * does while tandem holds the host on (state/hold-power.json, written by a failover that powers it
 * on to promote it, or by an operator: `{"until": <ms>}`), and it exits as soon as the host is not
 * a cold mirror with a refresh any more (promoted, or the refresh taken out of the topology).
 * A feeder that never catches it up leaves it on: a stale cold mirror that costs money is better
 * than one powered off with a gap nobody sees (status says DEGRADED meanwhile).
 */
import { spawnSync } from 'child_process';
import type { AgentConfig } from './contract';
import { HomePaths, errMsg, log, logToFile, readJson, writeFileAtomic } from './env';
import type { ReceiverState } from './receiver-state';

/** In the state dir: `{"until": <epoch ms>, "by": "..."}`; the host stays on until then. */
export const HOLD_FILE = 'hold-power.json';
/** In the state dir: what this process decided last (for status and the operator). */
export const REFRESH_FILE = 'refresh.json';
/** How long the receiver must stay in sync, caught up since boot, before the host goes off. */
export const SETTLE_MS = 60_000;
const POLL_MS = 1000;

export interface Hold {
  readonly until: number;
  readonly by?: string;
}

export type RefreshVerdict = { readonly k: 'exit'; readonly why: string } | { readonly k: 'wait'; readonly why: string; readonly caught: boolean } | { readonly k: 'off'; readonly why: string };

/**
 * One look: what the host should do now. `caughtSince`: when the receiver was first seen caught
 * up (in sync, with everything through a time after `startedAt`) and in sync ever since.
 */
export function refreshVerdict(o: {
  config: AgentConfig | null;
  receiver: ReceiverState | null;
  hold: Hold | null;
  startedAt: number;
  now: number;
  caughtSince: number | null;
  settleMs: number;
}): RefreshVerdict {
  const c = o.config;
  if (!c) return { k: 'wait', why: 'no readable config.json yet', caught: false };
  if (c.role !== 'mirror') return { k: 'exit', why: `this host is ${c.role} now; a refresh never powers a master off` };
  if (!c.coldRefresh) return { k: 'exit', why: 'this host is not a cold mirror with a refresh schedule (coldRefreshH)' };
  const rv = o.receiver;
  const caught = !!rv && rv.inSync && rv.through !== null && rv.through >= o.startedAt;
  if (o.hold && o.hold.until > o.now) return { k: 'wait', why: `held on until ${new Date(o.hold.until).toISOString()}${o.hold.by ? ` by ${o.hold.by}` : ''}`, caught };
  if (!caught) {
    const behind = !rv ? 'no receiver state yet' : !rv.inSync ? 'not in sync' : `in sync only through ${rv.through === null ? '-' : new Date(rv.through).toISOString()}, before this boot`;
    return { k: 'wait', why: `catching up from ${c.feedFrom ?? 'its feeder'} (${behind})`, caught };
  }
  const since = o.caughtSince ?? o.now;
  if (o.now - since < o.settleMs) return { k: 'wait', why: `caught up; powering off after ${Math.round(o.settleMs / 1000)} s in sync`, caught };
  return { k: 'off', why: `caught up since this boot and in sync for ${Math.round((o.now - since) / 1000)} s (through ${new Date(rv!.through!).toISOString()})` };
}

/** The power-off command: systemd's, or a test's (only where tests run, with TANDEM_AGENT_HOME set). */
function powerOffCommand(): string[] {
  const test = process.env.TANDEM_AGENT_HOME ? process.env.TANDEM_TEST_POWEROFF_CMD : undefined;
  return test ? ['sh', '-c', test] : ['systemctl', 'poweroff'];
}

export async function runRefreshOff(paths: HomePaths): Promise<number> {
  logToFile(`${paths.logDir}/refresh.log`);
  const settleMs = (process.env.TANDEM_AGENT_HOME && Number(process.env.TANDEM_TEST_REFRESH_SETTLE_MS)) || SETTLE_MS;
  const startedAt = Date.now();
  const state = (f: string) => `${paths.stateDir}/${f}`;
  let caughtSince: number | null = null;
  let said = '';
  for (;;) {
    const now = Date.now();
    const v = refreshVerdict({
      config: readJson<AgentConfig>(paths.config),
      receiver: readJson<ReceiverState>(paths.receiverState),
      hold: readJson<Hold>(state(HOLD_FILE)),
      startedAt,
      now,
      caughtSince,
      settleMs,
    });
    if (v.k === 'exit') {
      log('info', `refresh-off: ${v.why}; nothing to do`);
      return 0;
    }
    if (v.k === 'off') {
      log('info', `refresh-off: powering off: ${v.why}`);
      writeFileAtomic(state(REFRESH_FILE), JSON.stringify({ poweredOffAt: new Date(now).toISOString(), why: v.why }) + '\n');
      const cmd = powerOffCommand();
      const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'ignore', timeout: 60_000 });
      if (r.status === 0) return 0;
      log('error', `refresh-off: ${cmd.join(' ')} failed (${r.error ? errMsg(r.error) : `exit ${r.status}`}); the host stays on`);
      return 1;
    }
    caughtSince = v.caught ? (caughtSince ?? now) : null;
    if (v.why !== said) {
      log('info', `refresh-off: ${v.why}`);
      said = v.why;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
