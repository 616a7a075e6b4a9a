/**
 * `agent.js daemon`: on the master and on relays, watches dataDir and feeds every child over
 * its own link; on every host, keeps status.json current. Re-reads config.json when it
 * changes (the ops side rewrites it for mirror start/stop/pause) without disturbing links
 * whose settings did not change.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { AgentChild, AgentConfig, AgentStatus } from './contract';
import { HomePaths, errMsg, log, readJson, testTransport, writeFileAtomic } from './env';
import { Excluder } from './exclude';
import { COALESCE_MS, ChildLink, Upstream, files } from './link';
import type { ReceiverState } from './receiver-state';
import { buildStatus } from './status';
import { Alerter } from './alerts';
import { fenceReason, RUN_FENCE, type RunFence } from './fence';
import { knownHostsLine } from './transport';
import { createWatcher, type ChangeFeed } from './inotify';

export class Daemon {
  private config: AgentConfig | null = null;
  private links = new Map<string, { key: string; link: ChildLink }>();
  private watcher: ChangeFeed | null = null;
  private watchKey = '';
  private error: string | null = null;
  private fence: string | null = null;
  /**
   * Set when a child's receiver refused this master's stream for a stale epoch: a failover made
   * another site master. Every link stops at once (nothing more is pushed); the root fence process
   * (agent/src/fence.ts), which reads status.json, asks the other sites and steps this host down.
   * Lifted only by a new config (tandem re-rooted this host) or by the fence confirming after the
   * refusal that no higher epoch exists.
   */
  private selfFence: { reason: string; at: number; config: string } | null = null;
  private timers: NodeJS.Timeout[] = [];
  private reloading = Promise.resolve();
  private stopped = false;
  /**
   * The shared tick of a feeding daemon: every tickMs (default COALESCE_MS) it drains the watcher and flushes
   * every continuous link in the same turn, so a file changed for all children is read and
   * its frame encoded once (links in step hit the same FrameCache entries).
   */
  private tick: NodeJS.Timeout | null = null;
  private tickMs = COALESCE_MS;
  /**
   * Set while some directory is not watched (the inotify watch limit): what inotifywait said,
   * the limit then, and the timer that reconciles every link until the watcher is complete.
   */
  private watchRetryAt = 0;
  private unwatched: { message: string; limit: number; timer: NodeJS.Timeout } | null = null;

  constructor(
    private readonly paths: HomePaths,
    private readonly agentJs: string,
  ) {}

  /** Children's lastInSyncAt from the previous daemon's status.json (and from links re-created). */
  private readonly previous = new Map<string, number>();
  /** Degraded/recovered alerts (agent/src/alerts.ts), decided from each status written. */
  private alerts: Alerter | null = null;

  async start(): Promise<void> {
    lowerPriority();
    fs.mkdirSync(this.paths.stateDir, { recursive: true });
    for (const c of readJson<AgentStatus>(this.paths.status)?.children ?? []) {
      const t = c.lastInSyncAt ? Date.parse(c.lastInSyncAt) : NaN;
      if (Number.isFinite(t)) this.previous.set(c.site, t);
    }
    await this.reload();
    this.timers.push(
      setInterval(() => {
        this.noteRefusals();
        this.writeStatus();
        files.closeIdle();
      }, 1000),
    );
    // Poll, not fs.watch: the ops side replaces config.json by rename, which fs.watch loses.
    this.timers.push(setInterval(() => void this.queueReload(), 1000));
    this.writeStatus();
  }

  queueReload(): Promise<void> {
    this.reloading = this.reloading
      .then(() => this.reload())
      .catch((e) => {
        this.error = `config: ${errMsg(e)}`;
      });
    return this.reloading;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const { link } of this.links.values()) link.stop('down');
    this.stopWatcher();
    this.writeStatus(false);
  }

  /** Links by child site (tests and the benchmark read counters from them). */
  link(site: string): ChildLink | undefined {
    return this.links.get(site)?.link;
  }

  private async reload(): Promise<void> {
    if (this.stopped) return;
    const raw = readJson<AgentConfig>(this.paths.config);
    if (!raw) {
      this.error = `no readable config at ${this.paths.config}`;
      return;
    }
    if (this.watchKey === '' && Date.now() < this.watchRetryAt) return;
    // A master fenced at boot (agent/src/fence.ts) feeds nobody until another site confirmed.
    const fence = (testTransport() ? null : fenceReason(raw)) ?? this.selfFenced(raw);
    if (JSON.stringify(raw) === JSON.stringify(this.config) && this.watchKey !== '' && fence === this.fence) return;
    const c = raw;
    this.config = c;
    this.fence = fence;
    this.error = fence;
    const feeds = c.children.length > 0 && !c.paused && !fence;
    const wk = JSON.stringify([c.dataDir, c.exclude, feeds]);
    if (wk !== this.watchKey) {
      for (const { link } of this.links.values()) link.stop('down');
      this.links.clear();
      this.stopWatcher();
      this.watchKey = wk;
      if (feeds) {
        try {
          await this.startWatcher(c);
        } catch (e) {
          // Nothing is mirrored without a watcher: say why, and try again (the limit may be
          // raised, the data dir mounted) instead of waiting for a config change.
          this.watchKey = '';
          this.watchRetryAt = Date.now() + 10_000;
          this.error = `cannot watch ${c.dataDir}: ${errMsg(e)}${/upper limit|watches/i.test(errMsg(e)) ? `; ${WATCH_FIX}` : ''}`;
          log('error', `daemon: ${this.error}`);
          return;
        }
      }
    }
    if (this.tick && this.watcher && tickOf(c) !== this.tickMs) this.startTick(this.watcher, tickOf(c));
    if (!testTransport()) writeFileAtomic(this.paths.knownHosts, c.children.map((ch) => knownHostsLine(ch)).join('\n') + '\n');
    const want = new Map<string, AgentChild>(c.children.map((ch) => [ch.site, ch]));
    for (const [site, { link }] of this.links) {
      const ch = want.get(site);
      if (!ch || this.linkKey(c, ch) !== this.links.get(site)!.key || c.paused || c.pausedChildren.includes(site)) {
        if (link.lastInSyncAt) this.previous.set(site, link.lastInSyncAt);
        link.stop(ch ? 'paused' : 'down');
        this.links.delete(site);
      }
    }
    for (const ch of c.children) {
      if (this.links.has(ch.site) || c.paused || fence || c.pausedChildren.includes(ch.site) || !this.watcher) continue;
      const link = new ChildLink({
        child: ch,
        paths: this.paths,
        dataDir: c.dataDir,
        customer: c.customer,
        site: c.site,
        epoch: c.epoch,
        exclude: c.exclude,
        excluder: new Excluder(c.exclude),
        agentJs: this.agentJs,
        upstream: c.role === 'mirror' ? () => this.upstream() : null,
      });
      const before = this.previous.get(ch.site) ?? null;
      if (before) link.lastInSyncAt = before;
      this.links.set(ch.site, { key: this.linkKey(c, ch), link });
      link.start();
    }
  }

  /** The self-fence's reason while it holds for this config (see `selfFence`). */
  private selfFenced(c: AgentConfig): string | null {
    const f = this.selfFence;
    if (!f) return null;
    const run = readJson<RunFence>(RUN_FENCE);
    const confirmedSince = !!run && !run.fenced && Date.parse(run.at) > f.at;
    if (c.role !== 'master' || JSON.stringify(c) !== f.config || confirmedSince) {
      this.selfFence = null;
      return null;
    }
    return f.reason;
  }

  /** A child refused this master's stream for a stale epoch: stop feeding everyone now. */
  private noteRefusals(): void {
    const c = this.config;
    if (!c || c.role !== 'master' || this.selfFence) return;
    for (const { link } of this.links.values()) {
      const e = link.status().lastError;
      if (!e || !/stale epoch/.test(e)) continue;
      this.selfFence = {
        reason: `fenced: ${link.status().site} refused this master's stream (${e}); another site was made master; feeding nobody until the fence check settles it`,
        at: Date.now(),
        config: JSON.stringify(c),
      };
      log('error', `daemon: ${this.selfFence.reason}`);
      void this.queueReload();
      return;
    }
  }

  private linkKey(c: AgentConfig, ch: AgentChild): string {
    return JSON.stringify([ch, c.epoch, c.customer, c.site, c.dataDir, c.exclude]);
  }

  private async startWatcher(c: AgentConfig): Promise<void> {
    // Test-only (non-default home): TANDEM_TEST_WATCHER=inotifywait runs the fallback feed.
    const forceInotifywait = !!process.env.TANDEM_AGENT_HOME && process.env.TANDEM_TEST_WATCHER === 'inotifywait';
    const w = createWatcher(fs.realpathSync(c.dataDir), new Excluder(c.exclude), this.paths.stateDir, { forceInotifywait });
    w.on('change', (ch) => {
      for (const { link } of this.links.values()) link.note(ch.rel, ch.flags, ch.time);
    });
    w.on('overflow', () => {
      for (const { link } of this.links.values()) link.markReconcile();
    });
    w.on('watchfail', (message) => this.onWatchFail(message));
    // inotifywait's names went stale after a rename: a new one watches every directory under
    // its current name, and every link reconciles what the stale names hid.
    w.on('stale', () => setImmediate(() => this.restartWatcher()));
    w.on('exit', (code) => {
      this.stopWatcher();
      this.error = `the change feed stopped (${code === null ? 'its directory went away' : `inotifywait exited ${code}`}); restarting`;
      log('error', 'daemon: watcher died; restarting it, every child reconciles');
      this.watchKey = '';
      this.config = null;
      setTimeout(() => void this.queueReload(), 1000);
    });
    await w.start();
    this.watcher = w;
    this.startTick(w, tickOf(c));
  }

  /** The shared tick at ms; started again when a new config changes tickMs. */
  private startTick(w: ChangeFeed, ms: number): void {
    if (this.tick) clearInterval(this.tick);
    this.tickMs = ms;
    this.tick = setInterval(() => {
      try {
        w.drain();
      } catch (e) {
        log('error', 'daemon: cannot read the watcher', { error: errMsg(e) });
      }
      for (const { link } of this.links.values()) if (link.continuous) link.flush();
    }, ms);
  }

  /**
   * A directory could not be watched: changes under it raise no event. Until the watcher is
   * complete, every link reconciles every UNWATCHED_RECONCILE_MS (rsync finds what the events
   * missed), the daemon reports the cause (DEGRADED), and once the limit is raised the watcher
   * is started again with every directory watched.
   */
  private onWatchFail(message: string): void {
    for (const { link } of this.links.values()) link.markReconcile();
    const limit = watchLimit();
    this.error = `not every directory is watched (${message}); inotify watch limit ${limit ?? '?'}; changes there reach mirrors only by a reconcile every ${UNWATCHED_RECONCILE_MS / 1000} s; ${WATCH_FIX}`;
    log('error', `daemon: ${this.error}`);
    if (this.unwatched) {
      this.unwatched.message = message;
      return;
    }
    const timer = setInterval(() => {
      const now = watchLimit();
      if (now !== null && this.unwatched && now > this.unwatched.limit) {
        log('info', 'daemon: inotify watch limit raised; restarting the watcher', { limit: now });
        this.restartWatcher();
        return;
      }
      for (const { link } of this.links.values()) link.markReconcile();
    }, UNWATCHED_RECONCILE_MS);
    this.unwatched = { message, limit: limit ?? 0, timer };
  }

  /** Full restart: new watcher, every link reconciles (what changed meanwhile is found). */
  private restartWatcher(): void {
    this.stopWatcher();
    for (const { link } of this.links.values()) link.stop('down');
    this.links.clear();
    this.watchKey = '';
    this.config = null;
    this.error = null;
    void this.queueReload();
  }

  private stopWatcher(): void {
    if (this.unwatched) clearInterval(this.unwatched.timer);
    this.unwatched = null;
    if (this.tick) clearInterval(this.tick);
    this.tick = null;
    this.watcher?.stop();
    this.watcher = null;
    files.closeAll();
  }

  /** On a relay: the master's clock for what this host has applied. */
  private upstream(): Upstream {
    const rs = readJson<ReceiverState>(this.paths.receiverState);
    const live = !!rs && rs.inSync && Date.now() - rs.updatedAt < 10_000;
    return { changeTime: rs?.lastAppliedChangeTime ?? null, through: live ? rs!.through : null };
  }

  writeStatus(running = true): void {
    try {
      const rs = readJson<ReceiverState>(this.paths.receiverState);
      const children = (this.config?.children ?? []).map((ch) => {
        const l = this.links.get(ch.site)?.link;
        if (l) return l.status();
        // A paused child gets nothing: how much it misses is not counted, so not 0 either.
        const t = this.previous.get(ch.site);
        return { site: ch.site, state: 'paused' as const, bytesBehind: null, lagS: null, lastAckAt: null, lastInSyncAt: t ? new Date(t).toISOString() : null, lastError: null, bytesSent: 0 };
      });
      const s = buildStatus(this.config, rs, children, running, this.error);
      writeFileAtomic(this.paths.status, JSON.stringify(s, null, 2) + '\n');
      (this.alerts ??= new Alerter(path.join(this.paths.stateDir, 'alerts.json'))).observe(this.config, s);
    } catch (e) {
      log('warn', 'daemon: cannot write status', { error: errMsg(e) });
    }
  }
}

/** The config's tick when it is a sane one (the topology allows 20-1000 ms), else the default. */
function tickOf(c: AgentConfig): number {
  const t = c.tickMs;
  return typeof t === 'number' && Number.isInteger(t) && t >= 20 && t <= 1000 ? t : COALESCE_MS;
}

/** Test-only override (needs a non-default TANDEM_AGENT_HOME): TANDEM_TEST_UNWATCHED_MS. */
export const UNWATCHED_RECONCILE_MS = (process.env.TANDEM_AGENT_HOME && Number(process.env.TANDEM_TEST_UNWATCHED_MS)) || 30_000;
const WATCH_FIX = 'raise fs.inotify.max_user_watches (tandem agent install sizes it to the tree), or exclude directories that need no mirroring';

/** The inotify watch limit that applies to this process (its user namespace's, if lower). */
function watchLimit(): number | null {
  let v: number | null = null;
  for (const f of ['/proc/sys/fs/inotify/max_user_watches', '/proc/sys/user/max_inotify_watches']) {
    try {
      const n = Number(fs.readFileSync(f, 'utf8').trim());
      if (Number.isFinite(n)) v = v === null ? n : Math.min(v, n);
    } catch {
      /* not there */
    }
  }
  return v;
}

/** The agent must never compete with the trading platform for CPU or disk. */
function lowerPriority(): void {
  try {
    os.setPriority(0, 10);
  } catch (e) {
    log('warn', 'daemon: cannot lower CPU priority', { error: errMsg(e) });
  }
  const r = spawnSync('ionice', ['-c3', '-p', String(process.pid)], { stdio: 'ignore' });
  if (r.error || r.status !== 0) log('info', 'daemon: ionice not applied (missing or not permitted)');
}

export async function runDaemon(paths: HomePaths, agentJs: string): Promise<number> {
  const d = new Daemon(paths, agentJs);
  await d.start();
  log('info', 'daemon: running', { home: paths.home, pid: process.pid });
  return new Promise((resolve) => {
    const stop = (): void => {
      d.stop();
      resolve(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    process.on('SIGHUP', () => void d.queueReload());
  });
}
