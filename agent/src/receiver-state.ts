/**
 * What a receiver keeps about its link across sessions, in `state/receiver.json`: the highest
 * epoch seen (a sender below it is refused after a failover), the master time it holds, in-sync
 * and the last error. The daemon (a relay's master time), the epoch answer and `agent.js status`
 * read it too; only the receiver writes it.
 */
import { HomePaths, errMsg, log, readJson, writeFileAtomic } from './env';

export interface ReceiverState {
  highestEpoch: number;
  lastSeq: number;
  /** Master clock (ms) of the newest change applied here. */
  lastAppliedChangeTime: number | null;
  /** Master clock (ms) up to which this host is known to hold every change. */
  through: number | null;
  inSync: boolean;
  sender: string | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Local clock (ms) of the last frame handled; a stale value means no live link. */
  updatedAt: number;
}

export const emptyReceiverState = (): ReceiverState => ({
  highestEpoch: 0,
  lastSeq: 0,
  lastAppliedChangeTime: null,
  through: null,
  inSync: false,
  sender: null,
  lastError: null,
  lastErrorAt: null,
  updatedAt: 0,
});

/** The saved state over the defaults: a file from an older agent lacks newer fields. */
export function loadReceiverState(paths: HomePaths): ReceiverState {
  return { ...emptyReceiverState(), ...(readJson<ReceiverState>(paths.receiverState) ?? {}) };
}

/** Never throws: a state file that cannot be written must not fail the batch it describes. */
export function saveReceiverState(paths: HomePaths, state: ReceiverState): void {
  try {
    writeFileAtomic(paths.receiverState, JSON.stringify(state));
  } catch (e) {
    log('warn', 'receiver: cannot save state', { error: errMsg(e) });
  }
}
