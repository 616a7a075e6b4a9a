/**
 * Owns one drill run on one stack: its steps and events (timed as they happen), each mirror's lag
 * sampled from its agent status over the drill, the load generator, the faults (./faults.ts),
 * failovers through scripts/failover (journaled there; RTO from the journal), waiting for the
 * stack to be in sync, and putting the original layout back. The scenarios (./scenarios.ts) are
 * written in terms of this.
 */
import type { AgentStatus } from '../../agent/src/contract';
import type { Inventory, InventoryHost } from '../../model/inventory';
import type { Topology } from '../../model/topology/types';
import type { LiveLayout } from '../../model/live';
import { driverFor } from '../failover/drivers/index';
import { answers, Sessions } from '../failover/hosts';
import type { JournalRecord } from '../failover/journal';
import { runFailover, type FailoverResult } from '../failover/run';
import { STATUS_JSON, CONFIG_JSON, asRoot } from '../hosts/hostfiles';
import type { Connector, SshSettings } from '../hosts/remote';
import { observe } from '../status/collect';
import { assess, type Verdict } from '../status/verdict';
import { sleep } from '../util/wait';
import { countRecords, type RecordCount } from './count';
import { FaultDriver } from './faults';
import { LoadGenerator } from './load';
import type { DrillCheck, DrillEvent, DrillStep, LagSample, ScenarioName } from './types';

export interface StackState {
  readonly inventory: Inventory;
  readonly topology: Topology;
  readonly stackFile: string;
  readonly live: LiveLayout | null;
}

export interface EngineOptions {
  readonly scenario: ScenarioName;
  /** The stack as it stands now (re-read after every failover: the live layout moves). */
  readonly current: () => Promise<StackState>;
  readonly connect: (inv: Inventory) => Connector;
  readonly ssh: SshSettings;
  readonly rate: number;
  readonly log: (line: string) => void;
  readonly faults: FaultDriver;
}

/** A scenario the layout cannot run: reported as "not applicable", which is not a pass. */
export class NotApplicable extends Error {}

const iso = (ms: number) => new Date(ms).toISOString();

export class Drill {
  readonly steps: DrillStep[] = [];
  readonly events: DrillEvent[] = [];
  readonly lag: LagSample[] = [];
  readonly checks: DrillCheck[] = [];
  readonly journals: JournalRecord[] = [];
  readonly journalFiles: string[] = [];
  readonly load: LoadGenerator;
  readonly recordsFile: string;
  readonly t0 = Date.now();
  private sampling = false;
  private sampler: Promise<void> | null = null;
  /** Set by a scenario when it failed over: the fault (or command) time and where service went. */
  rtoSeconds: number | null = null;
  to: string | null = null;
  count: RecordCount | null = null;
  /** Whether the service answered on the service address when the drill started (it is left as found). */
  serviceWasUp = true;

  constructor(
    readonly o: EngineOptions,
    readonly start: StackState,
  ) {
    const stamp = new Date(this.t0).toISOString().replace(/[:.]/g, '-');
    this.recordsFile = `${start.inventory.dataDir.replace(/\/+$/, '')}/tandem-drill/${o.scenario}-${stamp}.log`;
    this.load = new LoadGenerator({ rate: o.rate, file: this.recordsFile, ssh: o.ssh, log: o.log });
  }

  get customer(): string {
    return this.start.inventory.customer;
  }

  log(line: string): void {
    this.o.log(`${((Date.now() - this.t0) / 1000).toFixed(2).padStart(7)}s  ${line}`);
  }

  event(kind: DrillEvent['kind'], label: string, at = Date.now()): void {
    this.events.push({ kind, at: iso(at), label });
    this.log(`[${kind}] ${label}`);
  }

  check(name: string, ok: boolean, detail: string): boolean {
    this.checks.push({ name, ok, detail });
    this.log(`check ${ok ? 'PASS' : 'FAIL'}: ${name}: ${detail}`);
    return ok;
  }

  /** One timed step; a failing step is recorded and rethrown. */
  async step<T>(name: string, fn: () => Promise<T>, detail?: (v: T) => string): Promise<T> {
    const at = Date.now();
    this.log(`${name} ...`);
    try {
      const v = await fn();
      const d = detail ? detail(v) : '';
      this.steps.push({ name, at: iso(at), ms: Date.now() - at, ok: true, detail: d });
      this.log(`${name}: done in ${Date.now() - at} ms${d ? ` (${d})` : ''}`);
      return v;
    } catch (e) {
      const msg = (e as Error).message;
      this.steps.push({ name, at: iso(at), ms: Date.now() - at, ok: false, detail: msg });
      this.log(`${name}: FAILED: ${msg.split('\n')[0]}`);
      throw e;
    }
  }

  master(inv: Inventory): InventoryHost {
    const m = inv.hosts.find((h) => h.role === 'master');
    if (!m) throw new Error(`the inventory of ${inv.customer} has no master`);
    return m;
  }

  originalMaster(): string {
    return this.start.topology.sites.find((s) => s.role === 'master')!.name;
  }

  // ---- lag sampling ------------------------------------------------------------------------

  /** Samples every host's agent status (status.json, read over SSH) every `everyMs` until stopped. */
  startSampling(everyMs = 500): void {
    if (this.sampling) return;
    this.sampling = true;
    const sites = this.start.inventory.hosts.map((h) => h.site);
    this.sampler = (async () => {
      let inv = this.start.inventory;
      let sessions = new Sessions(inv, this.o.connect(inv), { ...this.o.ssh, timeoutMs: 1500, retries: 0 });
      const lastTry = new Map<string, number>();
      while (this.sampling) {
        const t = Date.now();
        await Promise.all(
          sites.map(async (site) => {
            // A host that did not answer is tried again every 2 s, not every round.
            if ((lastTry.get(site) ?? 0) > t) return void this.lag.push({ at: iso(t), site, lagSeconds: null, state: 'unreachable' });
            try {
              const r = await Promise.race([sessions.get(site), sleep(1500).then(() => Promise.reject(new Error('timeout')))]);
              const h = inv.hosts.find((x) => x.site === site)!;
              const res = await r.exec(asRoot(h.user, `cat ${STATUS_JSON} 2>/dev/null; echo; date +%s%3N`), { timeoutMs: 1500 });
              const lines = res.stdout.trim().split('\n');
              const now = Number(lines.pop());
              const st = JSON.parse(lines.join('\n')) as AgentStatus;
              const stale = now - Date.parse(st.updatedAt) > 5000;
              if (st.role === 'master') return;
              this.lag.push({ at: iso(t), site, lagSeconds: stale ? null : st.lagS, state: stale ? 'agent down' : st.inSync ? 'in-sync' : 'behind' });
            } catch {
              sessions.drop(site);
              lastTry.set(site, Date.now() + 2000);
              this.lag.push({ at: iso(t), site, lagSeconds: null, state: 'unreachable' });
            }
          }),
        );
        await sleep(Math.max(0, everyMs - (Date.now() - t)));
        // Roles move at a failover: follow the live layout (addresses and keys stay).
        try {
          const next = (await this.o.current()).inventory;
          if (next.hosts.some((h, i) => h.role !== inv.hosts[i]?.role)) {
            await sessions.closeAll();
            inv = next;
            sessions = new Sessions(inv, this.o.connect(inv), { ...this.o.ssh, timeoutMs: 1500, retries: 0 });
          }
        } catch {
          /* keep the old view */
        }
      }
      await sessions.closeAll();
    })();
  }

  async stopSampling(): Promise<void> {
    this.sampling = false;
    await this.sampler;
    this.sampler = null;
  }

  /** The newest lag sample of a site. */
  lastLag(site: string): LagSample | null {
    for (let i = this.lag.length - 1; i >= 0; i--) if (this.lag[i].site === site) return this.lag[i];
    return null;
  }

  // ---- the stack ---------------------------------------------------------------------------

  async verdict(inv?: Inventory): Promise<Verdict> {
    const i = inv ?? (await this.o.current()).inventory;
    return assess(await observe(i, this.o.connect(i), { ...this.o.ssh, timeoutMs: Math.min(this.o.ssh.timeoutMs, 5000) }, 8));
  }

  /**
   * Waits until status says OK and every mirror that is running holds the master's data
   * (cold mirrors that are powered off are fine: they are off by design).
   */
  async waitInSync(what: string, timeoutMs = 120_000): Promise<Verdict> {
    const until = Date.now() + timeoutMs;
    let v: Verdict | null = null;
    while (Date.now() < until) {
      v = await this.verdict().catch(() => null);
      if (v?.ok && v.rows.every((r) => r.role === 'master' || r.state === 'in-sync' || r.state === 'off (cold)')) return v;
      await sleep(500);
    }
    throw new Error(`${what}: not in sync after ${timeoutMs / 1000} s: ${v ? v.reasons.join('; ') || v.rows.map((r) => `${r.site} ${r.state}`).join(', ') : 'status unreadable'}`);
  }

  /** Runs a command on a host over SSH (as root). */
  async exec(site: string, script: string, timeoutMs = 20_000): Promise<string> {
    const { inventory: inv } = await this.o.current();
    const h = inv.hosts.find((x) => x.site === site)!;
    const r = await this.o.connect(inv)(h, { ...this.o.ssh, retries: 1 });
    try {
      const res = await r.exec(asRoot(h.user, script), { timeoutMs });
      if (res.code !== 0) throw new Error(`${site}: ${script.slice(0, 80)}: exit ${res.code}: ${res.stderr.trim().split('\n').slice(-2).join(' ')}`);
      return res.stdout;
    } finally {
      await Promise.resolve(r.close()).catch(() => undefined);
    }
  }

  async roleOf(site: string): Promise<{ role: string; feedFrom: string | null; epoch: number } | null> {
    try {
      return JSON.parse(await this.exec(site, `cat ${CONFIG_JSON}`, 5000)) as { role: string; feedFrom: string | null; epoch: number };
    } catch {
      return null;
    }
  }

  async serviceAnswers(inv: Inventory): Promise<boolean> {
    const addr = inv.vip?.address ?? this.master(inv).address;
    return answers(addr, inv.service.healthPort, 1000);
  }

  // ---- failover ----------------------------------------------------------------------------

  /**
   * A failover through scripts/failover, journaled there. faultAt (unplanned) or commandAt
   * (planned) is where its RTO counts from; the promoted and service-back events come from the
   * journal's own step times.
   */
  async failover(o: { to?: string; planned: boolean; failback?: boolean; faultAt?: number; commandAt?: number }): Promise<FailoverResult> {
    const s = await this.o.current();
    const res = await runFailover({
      inventory: s.inventory,
      topology: s.topology,
      stackFile: s.stackFile,
      live: s.live,
      to: o.to,
      planned: o.planned,
      kind: o.failback ? 'failback' : undefined,
      connect: this.o.connect(s.inventory),
      ssh: this.o.ssh,
      driver: () => driverFor(s.inventory),
      log: (l) => this.log(`  ${l}`),
      faultAt: o.faultAt,
      commandAt: o.commandAt,
    });
    this.journals.push(res.record);
    this.journalFiles.push(res.journalFile);
    const r = res.record;
    const promote = r.steps.find((x) => x.name.startsWith('promote '));
    if (promote?.ok) this.event('promoted', `${r.to} promoted (epoch ${r.epoch})${o.failback ? ' [failback]' : ''}`, Date.parse(promote.at) + promote.ms);
    if (r.serviceAnsweredAt) this.event('service-back', `service answers on the service address at ${r.to}${o.failback ? ' [failback]' : ''}`, Date.parse(r.serviceAnsweredAt));
    if (!res.ok) throw new Error(`${r.kind} ${r.from} -> ${r.to} failed: ${r.error} (journal ${res.journalFile})`);
    return res;
  }

  // ---- records -----------------------------------------------------------------------------

  /** Reads the records file on a host and counts it against what the load generator confirmed. */
  async countOn(site: string): Promise<RecordCount> {
    const text = await this.exec(site, `cat ${this.recordsFile} 2>/dev/null || true`, 120_000);
    return countRecords(text, this.load.segments);
  }

  elapsedS(from: number): number {
    return Math.round((Date.now() - from) / 10) / 100;
  }
}
