/**
 * The topology model: the one typed shape every part of tandem works from.
 * It is produced only by `loadTopology` / `parseTopology` (./load.ts), which validate the
 * stack config and report every problem at once; nothing else should build one by hand
 * except tests.
 */

export const PROVIDERS = ['aws', 'azure', 'offcloud'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const ROLES = ['master', 'mirror'] as const;
export type Role = (typeof ROLES)[number];

export const FAILOVER_MODES = ['hot', 'warm', 'cold'] as const;
/**
 * hot: running, mirroring continuously, may take over at once.
 * warm: running, mirroring (continuously or on an interval), platform stopped.
 * cold: powered off; synced when it boots or resumes, started on failover.
 */
export type FailoverMode = (typeof FAILOVER_MODES)[number];

export interface ServiceSpec {
  /** Shell command that starts the trading platform on a host. */
  readonly start: string;
  /** Shell command that stops it. */
  readonly stop: string;
  /** TCP port that answers when the platform is up. */
  readonly healthPort: number;
}

export interface DnsSpec {
  /** Hosted zone, e.g. `example.com`. */
  readonly zone: string;
  /** Record users connect to, inside the zone, e.g. `trade.acme.example.com`. */
  readonly name: string;
  /** TTL of the failover records in seconds. @default 30 */
  readonly ttl: number;
}

/** Lab-only settings of a site; ignored by the cloud programs. */
export interface LabSiteSpec {
  /** Cap on this site's link to the rest of the lab, in Mbit/s (tc tbf). @default no cap */
  readonly linkMbit?: number;
  /** Size of the data directory in MiB (a size-capped mount). @default 1024 */
  readonly diskMb?: number;
}

interface SiteBase {
  /** Unique, lowercase: `[a-z][a-z0-9-]*`, at most 20 characters. */
  readonly name: string;
  readonly provider: Provider;
  /** Index in `sites` of the stack config, so messages can point at the source. */
  readonly index: number;
  /** Instance size (AWS instance type / Azure VM size). @default provider default, see DEFAULT_SIZES */
  readonly size: string;
  /** Data volume size in GiB. @default 100 */
  readonly diskGb: number;
  /** AWS region or Azure location; `null` for offcloud sites. */
  readonly region: string | null;
  /** Off-cloud only: the address tandem reaches the host at. */
  readonly address: string | null;
  /** Off-cloud only: the host's public key, `ssh-ed25519 AAAA...`, pinned. */
  readonly hostKey: string | null;
  /** SSH user with sudo rights. @default "ubuntu" on AWS, "tandem-admin" on Azure; required off-cloud */
  readonly user: string;
  /** SSH port. @default 22 */
  readonly sshPort: number;
  readonly lab: LabSiteSpec;
}

export interface MasterSite extends SiteBase {
  readonly role: 'master';
  /**
   * The feeding daemon's tick in ms: how often changes go to continuous mirrors. Whole number,
   * TICK_MS_MIN..TICK_MS_MAX. Lower: less lag, more CPU on the master. @default absent (the agent's 100)
   */
  readonly tickMs?: number;
}

export interface MirrorSite extends SiteBase {
  readonly role: 'mirror';
  /** @default 'warm' */
  readonly failover: FailoverMode;
  /** 0 = continuous (default); > 0 = sync every N seconds. */
  readonly syncIntervalS: number;
  /** Name of the site this mirror receives from; `null` = straight from the master. */
  readonly relayVia: string | null;
  /** Cap on this mirror's inbound sync traffic in Mbit/s; `null` = no cap. */
  readonly bandwidthMbit: number | null;
  /**
   * Cold mirrors only: power the site on every N hours, let it catch up, power it off again, so
   * a cold mirror is never weeks stale. Whole hours, 1..720. @default absent (never refreshed)
   */
  readonly coldRefreshH?: number;
  /**
   * Recovery time objective of a failover to this mirror, seconds: fault (or the switchover
   * command) to the service answering again. Drills are judged against it.
   * @default the topology's rtoTargetS, else by failover mode (see ./targets.ts)
   */
  readonly rtoTargetS?: number;
  /**
   * Recovery point objective of an unplanned failover to this mirror, seconds of writes that may
   * be lost. A planned switchover is always held to 0.
   * @default the topology's rpoTargetS, else by failover mode and interval (see ./targets.ts)
   */
  readonly rpoTargetS?: number;
}

export type Site = MasterSite | MirrorSite;

/**
 * Bounds of the master's `tickMs`, inclusive. The agent's own copy is agent/src/contract.ts
 * (model/ imports nothing else in the repo); test/unit/topology.test.ts keeps the two equal.
 */
export const TICK_MS_MIN = 20;
export const TICK_MS_MAX = 1000;

/** Longest cold refresh interval: 30 days. Longer than that and the mirror is the stale copy this exists to prevent. */
export const COLD_REFRESH_MAX_H = 720;

export interface Topology {
  /** `[a-z0-9-]+`; the stack/customer name. */
  readonly customer: string;
  /** Absolute path of what is mirrored. */
  readonly dataDir: string;
  /** Glob patterns (rsync filter syntax) left out of mirroring. @default [] */
  readonly exclude: readonly string[];
  readonly service: ServiceSpec;
  /** CIDRs allowed to SSH in. */
  readonly adminCidrs: readonly string[];
  /** Explicit opt-in to SSH open to the world. @default false */
  readonly allowOpenSsh: boolean;
  /**
   * OpenSSH public keys that may log in as each cloud host's admin user. Needed by `pulumi up`
   * when the stack has aws or azure sites; the lab and off-cloud boxes do not use it. @default []
   */
  readonly adminKeys: readonly string[];
  readonly dns: DnsSpec | null;
  readonly sites: readonly Site[];
  /** Where alerts and announcements go (`notify:`); absent when the stack has none. */
  readonly notify?: NotifySpec;
  /** RTO target of a failover to any mirror that does not set its own, seconds. @default by failover mode (./targets.ts) */
  readonly rtoTargetS?: number;
  /** RPO target of an unplanned failover to any mirror that does not set its own, seconds. @default by failover mode (./targets.ts) */
  readonly rpoTargetS?: number;
}

/** A webhook: JSON POST to `url`; a bearer token, if any, read from the environment variable `tokenEnv`. */
export interface WebhookSpec {
  readonly url: string;
  readonly tokenEnv: string | null;
}

/** Mail through an SMTP relay; the password, if any, read from the environment variable `passwordEnv`. */
export interface EmailSpec {
  /** `smtp://host:port` (STARTTLS when offered) or `smtps://host:port`. */
  readonly smtp: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly user: string | null;
  readonly passwordEnv: string | null;
}

/** Notify channels. Secrets are never in the stack file: only the names of the variables holding them. */
export interface NotifySpec {
  readonly webhooks: readonly WebhookSpec[];
  readonly email: EmailSpec | null;
  /** Minutes between reminders while redundancy stays DEGRADED. @default 60 */
  readonly reminderMin: number;
  /** A planned switchover or drill must be announced at least this many minutes ahead; null = not required. @default null */
  readonly announceLeadMin: number | null;
}

/** One feed edge: `from` sends to `to`. */
export interface FeedEdge {
  readonly from: string;
  readonly to: string;
}

export const DEFAULT_SIZES: Readonly<Record<Provider, string>> = {
  aws: 'c6i.large',
  azure: 'Standard_D2s_v5',
  offcloud: 'n/a',
};

export const DEFAULT_USERS: Readonly<Record<Exclude<Provider, 'offcloud'>, string>> = {
  aws: 'ubuntu',
  azure: 'tandem-admin',
};

/** A problem found in a stack config. `path` is the field path, e.g. `sites[2].region`. */
export interface Issue {
  readonly severity: 'error' | 'warning';
  readonly path: string;
  readonly message: string;
}
