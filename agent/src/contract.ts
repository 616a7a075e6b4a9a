/**
 * The contract between the operations side (scripts/hosts: install, mirror, status) and the
 * agent that runs on each host (agent/src, bundled to dist/agent.js). Both import these types;
 * nothing else crosses the seam.
 *
 * On a host (paths fixed so a forced command can name them):
 *   /var/lib/tandem/agent.js             the bundled agent
 *   /var/lib/tandem/config.json          AgentConfig, written by install / mirror commands
 *   /var/lib/tandem/state/               agent state (epoch, offsets, journal); survives upgrades
 *   /var/lib/tandem/state/status.json    AgentStatus, rewritten by the running agent
 *   /var/lib/tandem/log/                 the receiver's log
 * /var/lib/tandem itself is root's: the agent (user tandem) writes only in state/, log/ and
 * .ssh/, so it can never replace agent.js, config.json or a boot hook that root runs.
 *   /var/lib/tandem/.ssh/id_ed25519      this host's sync key (used to feed its children)
 *
 * Agent command line (`node /var/lib/tandem/agent.js <cmd>`):
 *   daemon            long-running: feeds children (master and relays), keeps status.json
 *   receive           forced command of the restricted sync key: dispatches on
 *                     SSH_ORIGINAL_COMMAND: "tandem-receive" = frame receiver on stdin/stdout;
 *                     "rsync --server ..." = rsync confined to dataDir; anything else refused
 *   status [--json]   prints this host's AgentStatus
 *   version           prints AGENT_VERSION
 */

export const AGENT_HOME = '/var/lib/tandem';
export const AGENT_USER = 'tandem';

export interface AgentChild {
  readonly site: string;
  readonly address: string;
  readonly sshPort: number;
  /** Pinned host key of the child ("ssh-ed25519 AAAA..."); the agent verifies it. */
  readonly hostKey: string;
  /** 0 = continuous; > 0 = batch every N seconds. */
  readonly syncIntervalS: number;
  readonly bandwidthMbit: number | null;
  readonly failover: 'hot' | 'warm' | 'cold';
}

export interface AgentConfig {
  readonly version: 1;
  readonly customer: string;
  readonly site: string;
  readonly role: 'master' | 'mirror';
  /** Raised by every failover; a receiver refuses a sender with an older epoch. */
  readonly epoch: number;
  readonly dataDir: string;
  readonly exclude: readonly string[];
  /** Site this host receives from (null on the master). */
  readonly feedFrom: string | null;
  /** Address of feedFrom, for the restricted key's from= option. */
  readonly feedFromAddress: string | null;
  /** Sites this host sends to: a master's direct mirrors, or a relay's children. */
  readonly children: readonly AgentChild[];
  /** Mirroring paused entirely (tandem mirror stop) or for listed children (pause). */
  readonly paused: boolean;
  readonly pausedChildren: readonly string[];
  /** Where this host's agent sends degraded/recovered alerts (agent/src/alerts.ts); absent: none. */
  readonly notify?: AgentNotify | null;
  /**
   * Every other site with its address and pinned host key: whom a master's fence asks for its
   * epoch (agent/src/fence.ts) besides its children, so it also reaches a new master that was a
   * grandchild. Absent in configs written before failover existed: then the children only.
   */
  readonly peers?: readonly AgentPeer[];
  /**
   * A cold mirror refreshed on a schedule (topology `coldRefreshH`): the provider powers it on
   * every `everyH` hours and `agent.js refresh-off` powers it off once caught up
   * (agent/src/refresh-off.ts). Absent on every other host.
   */
  readonly coldRefresh?: { readonly everyH: number } | null;
  /**
   * The feeding daemon's tick (ms): how often changes go to continuous mirrors. Absent: 100.
   * Lower: less lag, more CPU on the master. A whole number TICK_MS_MIN..TICK_MS_MAX; written
   * only on the master and only when the topology's master site sets `tickMs`.
   */
  readonly tickMs?: number;
}

/** Bounds of AgentConfig.tickMs (topology `tickMs` on the master site, model/topology/types.ts), inclusive. */
export const TICK_MS_MIN = 20;
export const TICK_MS_MAX = 1000;

/** Another site of the stack, as the fence reaches it. */
export interface AgentPeer {
  readonly site: string;
  readonly address: string;
  readonly sshPort: number;
  readonly hostKey: string;
}

/** A webhook: JSON POST. `token` (from the operator's environment) goes in `Authorization: Bearer`. */
export interface WebhookChannel {
  readonly url: string;
  readonly token?: string | null;
}

/** Mail through an SMTP relay, `smtp://host:port` (STARTTLS when offered) or `smtps://host:port`. */
export interface EmailChannel {
  readonly smtp: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly user?: string | null;
  /** Resolved by the operator from the environment variable the topology names; never logged. */
  readonly password?: string | null;
}

/** Notify channels with their secrets resolved (agent/src/notify.ts sends to them). */
export interface AgentNotify {
  readonly webhooks: readonly WebhookChannel[];
  readonly email: EmailChannel | null;
  /** Minutes between reminders while redundancy stays DEGRADED. @default 60 */
  readonly reminderMin?: number;
}

export interface ChildStatus {
  readonly site: string;
  readonly state: 'connecting' | 'seeding' | 'catching-up' | 'in-sync' | 'paused' | 'down' | 'error';
  /**
   * Bytes changed here that the child has not acknowledged; null while the link is not streaming
   * (down, connecting, reconciling with rsync): the sender keeps nothing for such a link, so it
   * cannot tell, and 0 would read as "current".
   */
  readonly bytesBehind: number | null;
  /** Seconds between the newest change here and the newest change the child acknowledged. */
  readonly lagS: number | null;
  readonly lastAckAt: string | null;
  /**
   * When the child last held everything this host has (now, while in sync). Survives daemon
   * restarts. Agents >= 0.2.0.
   */
  readonly lastInSyncAt?: string | null;
  readonly lastError: string | null;
  /** Bytes of frames this daemon has written to the child's link since it started (always written by agents >= 0.1.0). */
  readonly bytesSent?: number;
  /**
   * Start of the last full online-verify pass that found the child equal to this host's data
   * (every file hashed on both sides); null: not yet, or differences since. Agents >= 0.2.0.
   */
  readonly verifiedAt?: string | null;
  /** Entries found different from this host's data and not yet verified repaired (DEGRADED). */
  readonly differences?: number;
  /** Entries found different (and repaired) since the daemon started: what verify has caught. */
  readonly differencesFound?: number;
}

export interface AgentStatus {
  readonly site: string;
  readonly role: 'master' | 'mirror';
  readonly epoch: number;
  readonly agentVersion: string;
  /** ISO time this status was written; a stale one means the agent is not running. */
  readonly updatedAt: string;
  readonly running: boolean;
  /** Receiving side: master time of the newest change applied here. */
  readonly lastAppliedChangeAt: string | null;
  /**
   * Receiving side: seconds between updatedAt and the master time up to which this host holds
   * every change (while changes flow, the age of the newest applied change; while idle, the
   * sender's 1 s heartbeat keeps it under ~1 s). Null before the first batch.
   */
  readonly lagS: number | null;
  readonly inSync: boolean;
  readonly lastError: string | null;
  /**
   * 'degraded' when anything needs attention: a child down or refusing (e.g. out of disk),
   * a receive error here, or the daemon not running where it has children to feed.
   * Always written by agents >= 0.1.0; optional so older status files still parse.
   */
  readonly health?: 'ok' | 'degraded';
  /**
   * The sending daemon's own trouble, apart from its children's: a directory it cannot watch,
   * a config it cannot read. Written by agents >= 0.2.0.
   */
  readonly daemonError?: string | null;
  /** Sending side (master, relays). */
  readonly children: readonly ChildStatus[];
  /**
   * Fencing (agent/src/fence.ts): set while a master that came back has not confirmed there is no
   * higher epoch (it feeds nobody), and after it demoted itself, naming where its data was kept.
   */
  readonly fence?: { readonly fenced: boolean; readonly reason: string; readonly splitBrainDir: string | null } | null;
}

/**
 * The host layout: where the agent keeps what under its home. One definition for the agent
 * (agent/src/env.ts homePaths) and the operator side (scripts/hosts/hostfiles.ts, keys.ts), so
 * the two cannot drift apart. Plain string joins: the home is an absolute path without a
 * trailing slash.
 */
export interface HomePaths {
  readonly home: string;
  readonly config: string;
  readonly status: string;
  readonly stateDir: string;
  readonly receiverState: string;
  readonly journal: string;
  readonly knownHosts: string;
  readonly key: string;
  readonly logDir: string;
  readonly agentJs: string;
  /** koffi's prebuilt Node-API binary beside agent.js (optional: without it the change feed uses inotifywait). */
  readonly ffiNode: string;
}

export function hostLayout(home: string): HomePaths {
  const stateDir = `${home}/state`;
  return {
    home,
    config: `${home}/config.json`,
    status: `${stateDir}/status.json`,
    stateDir,
    receiverState: `${stateDir}/receiver.json`,
    journal: `${stateDir}/journal.json`,
    knownHosts: `${stateDir}/known_hosts`,
    key: `${home}/.ssh/id_ed25519`,
    logDir: `${home}/log`,
    agentJs: `${home}/agent.js`,
    ffiNode: `${home}/koffi.node`,
  };
}

/** The layout on a real host. */
export const HOST = hostLayout(AGENT_HOME);
