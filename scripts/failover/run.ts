/**
 * Owns carrying out a failover (planned switchover, unplanned failover, failback): probe every
 * host, decide (./plan.ts), fence the old master's feed by raising the epoch on every reachable
 * host, promote, move the service address through the driver, start the service, re-root the
 * mirror tree, record the live layout in the stack file and the journal. Every input problem is
 * found before anything changes (FailoverInputError, exit 2).
 */
import { hasColdRefresh, type Inventory, type InventoryHost } from '../../model/inventory';
import { applyLive, type LiveLayout } from '../../model/live';
import type { Topology } from '../../model/topology/types';
import { applyLiveToInventory } from '../hosts/target';
import type { Connector, Remote, SshSettings } from '../hosts/remote';
import { mapParallel } from '../hosts/parallel';
import type { AddressDriver } from './drivers/types';
import {
  answers,
  copyDifferences,
  digestOf,
  fenceHookScript,
  fenceWatchScript,
  probeHost,
  reconfigureHost,
  runService,
  Sessions,
  shellDigestOf,
  stopFenceScript,
  waitAnswers,
  type Digest,
  type HostProbe,
} from './hosts';
import { Journal, journalDir, saveRecord, type JournalRecord } from './journal';
import { writeLive } from './live-store';
import { chooseTarget, checkTo, FailoverInputError, masterHost, nextEpoch, nextLive, type HostView } from './plan';
import { sq } from '../ssh/quote';
import { asRoot, STATE_DIR } from '../hosts/hostfiles';
import { step } from '../hosts/remote';
import { HOLD_FILE } from '../../agent/src/refresh-off';

export interface FailoverRequest {
  readonly inventory: Inventory;
  /** The stack file's topology and path: the live layout is recorded there. */
  readonly topology: Topology;
  readonly stackFile: string;
  readonly live: LiveLayout | null;
  readonly to?: string;
  readonly planned: boolean;
  readonly kind?: 'failback';
  readonly connect: Connector;
  readonly ssh: SshSettings;
  readonly driver: () => AddressDriver;
  /** Progress lines (stderr). */
  readonly log: (line: string) => void;
  /** Asked once everything is checked and before anything changes; false = abort (exit 1). */
  readonly confirm?: (summary: string) => Promise<boolean>;
  /** When the fault happened (drills, tests): the RTO is counted from it. */
  readonly faultAt?: number;
  /** When the command started (the process start, for the CLI): the RTO without a fault counts from it. */
  readonly commandAt?: number;
  /** Deadline for the drain-and-verify of a planned switchover. @default 30 s */
  readonly drainTimeoutMs?: number;
  /** How long to wait for the service on the service address. @default 30 s */
  readonly serviceTimeoutMs?: number;
}

export interface FailoverResult {
  readonly ok: boolean;
  readonly record: JournalRecord;
  readonly journalFile: string;
  readonly live: LiveLayout | null;
  readonly liveHint: string | null;
  readonly inventory: Inventory;
}

const STEP_MS = 30_000;

export interface Seen {
  probe: HostProbe | null;
  error: string | null;
}

function viewOf(site: string, s: Seen): HostView {
  const p = s.probe;
  const rv = p?.receiver;
  const position = rv ? (rv.through ?? rv.lastAppliedChangeTime ?? null) : null;
  const epoch = Math.max(p?.config?.epoch ?? 0, rv?.highestEpoch ?? 0, p?.status?.epoch ?? 0);
  const fresh = !!p?.status && p.hostNow - Date.parse(p.status.updatedAt) < 5_000;
  return { site, reachable: !!p, position, epoch, agentRunning: fresh && !!p?.status?.running };
}

/** A mirror whose receiver is in sync with its feeder now (status.json fresh, receiver in sync). */
function fresh(p: HostProbe): boolean {
  const st = p.status;
  return !!st && p.hostNow - Date.parse(st.updatedAt) < 5_000 && !!p.receiver && (st as { inSync?: boolean }).inSync === true;
}

/** How long the master's watcher may hold a change before its sender knows of it (a heartbeat's `through` does not count those). */
const WATCH_ALLOWANCE_MS = 2_000;

/**
 * The data at risk of an unplanned failover, as an upper bound (an over-estimate is honest, an
 * under-estimate is not): from the newest point the target surely holds to when the master
 * surely wrote nothing more (found down by this failover's probe, or its service stopped by it).
 * The target's `through` alone is not that point: a heartbeat says "through now" when the sender
 * has nothing queued, while the newest writes may still sit in its watcher; and the fault time is
 * not the end: a master keeps writing until the crash completes. The newest applied change, or
 * `through` less the watcher's allowance when the master had been idle, is.
 */
export function dataAtRisk(p: HostProbe, site: string, master: string, stoppedAt: number, masterReachable: boolean, foundDownAt: number): NonNullable<JournalRecord['dataAtRisk']> {
  const rv = p.receiver;
  const through = rv?.through ?? null;
  const applied = rv?.lastAppliedChangeTime ?? null;
  const end = masterReachable ? stoppedAt : foundDownAt;
  const held = through === null ? applied : Math.min(through, Math.max(applied ?? 0, through - WATCH_ALLOWANCE_MS));
  if (held === null) return { seconds: null, bytes: null, basis: `${site} has no applied position: everything since its seed may be missing` };
  const iso = (t: number) => new Date(t).toISOString();
  return {
    seconds: Math.max(0, Math.round(end - held) / 1000),
    bytes: null,
    basis:
      `at most the writes between ${iso(held)} (${site} holds every change before it: newest applied change ${applied ? iso(applied) : '-'}, in sync through ${through ? iso(through) : '-'}) ` +
      `and ${iso(end)} (${master} ${masterReachable ? 'service stopped' : 'found down'} by this failover)`,
  };
}

/**
 * The sites whose probe a failover must wait for before it decides: the master, the target if
 * named, and every mirror that is not cold (the choice of target and of catch-up source compare
 * them; each is re-rooted at once). Cold mirrors not named are the others: one is usually powered
 * off, and an address that does not answer costs the connect timeout (2.5 s in the lab, up to the
 * SSH timeout in a cloud), which the service must not wait for.
 */
export function essentialSites(inv: Inventory, to?: string): Set<string> {
  const need = new Set([masterHost(inv).site]);
  if (to) need.add(to);
  for (const h of inv.hosts) if (h.role === 'mirror' && h.failover !== 'cold') need.add(h.site);
  return need;
}

export interface Probed {
  /** Every host: its probe, or why there is none. A pending host's entry is replaced when it answers. */
  readonly seen: Map<string, Seen>;
  /** Hosts not waited for, still being probed: each promise settles when its entry in `seen` is final. */
  readonly pending: ReadonlyMap<string, Promise<void>>;
}

const PENDING = 'not waited for (probe still running)';

/**
 * Probes every host at once and returns once the essential ones have answered (or failed); the
 * others go on in the background (Probed.pending). `needAll` (asked once the essential ones are
 * in) says to wait for every host after all: no mirror that could be chosen answered.
 */
export async function probeAll(inv: Inventory, sessions: Sessions, timeoutMs: number, essential: ReadonlySet<string>, needAll: (m: ReadonlyMap<string, Seen>) => boolean): Promise<Probed> {
  const seen = new Map<string, Seen>(inv.hosts.map((h) => [h.site, { probe: null, error: PENDING }]));
  const runs = new Map(
    inv.hosts.map((h) => [
      h.site,
      (async () => {
        try {
          seen.set(h.site, { probe: await probeHost(await sessions.get(h.site), h, timeoutMs), error: null });
        } catch (e) {
          sessions.drop(h.site);
          seen.set(h.site, { probe: null, error: (e as Error).message.split('\n')[0] });
        }
      })(),
    ]),
  );
  await Promise.all([...runs].filter(([s]) => essential.has(s)).map(([, p]) => p));
  if (needAll(seen)) await Promise.all(runs.values());
  const pending = new Map([...runs].filter(([s]) => seen.get(s)!.error === PENDING));
  return { seen, pending };
}

async function waitSsh(inv: Inventory, sessions: Sessions, h: InventoryHost, deadline: number): Promise<HostProbe> {
  let last = '';
  while (Date.now() < deadline) {
    try {
      return await probeHost(await sessions.get(h.site), h, STEP_MS);
    } catch (e) {
      sessions.drop(h.site);
      last = (e as Error).message.split('\n')[0];
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`${h.site} did not answer over SSH (pinned host key) within the deadline after power-on: ${last}`);
}

/** Runs one failover. Throws FailoverInputError (nothing changed) for bad input. */
export async function runFailover(req: FailoverRequest): Promise<FailoverResult> {
  const inv = req.inventory;
  checkTo(inv, req.to);
  const master = masterHost(inv);
  const sessions = new Sessions(inv, req.connect, { ...req.ssh, retries: 0 });
  const kind: JournalRecord['kind'] = req.kind ?? (req.planned ? 'planned' : 'unplanned');
  const journal = new Journal(inv.customer, kind, master.site, req.to ?? '?', req.faultAt ?? null, req.log, req.commandAt);
  let live: LiveLayout | null = null;
  let liveHint: string | null = null;
  let next = inv;
  let error: string | null = null;
  let ok = false;
  let changed = false;
  try {
    // ---- look (nothing changes until the confirmation) ----
    const { seen, pending } = await journal.step(
      'probe every host',
      () =>
        probeAll(
          inv,
          sessions,
          Math.min(req.ssh.timeoutMs, 10_000),
          essentialSites(inv, req.to),
          (m) =>
            // An unplanned failover with no --to and no warm or hot mirror answering: a cold one is all there is.
            !req.planned && !req.to && !inv.hosts.some((h) => h.role === 'mirror' && h.failover !== 'cold' && m.get(h.site)?.probe),
        ),
      (r) => [...r.seen].map(([s, v]) => `${s} ${v.probe ? `epoch ${viewOf(s, v).epoch}` : r.pending.has(s) ? 'not waited for (cold)' : 'unreachable'}`).join(', '),
    );
    // The master was found down (or its agent dead) by now: what it wrote up to here may be lost.
    const foundDownAt = Date.now();
    const views = new Map([...seen].map(([s, v]) => [s, viewOf(s, v)] as const));
    const mv = views.get(master.site)!;
    if (req.planned && !mv.reachable) {
      throw new FailoverInputError(
        `the master ${master.site} is unreachable (${seen.get(master.site)!.error}); a planned switchover needs it. For an unplanned failover run this again without --planned`,
      );
    }
    if (!req.planned && mv.reachable && mv.agentRunning) {
      throw new FailoverInputError(
        `the master ${master.site} is reachable and its agent is running; for a maintenance switchover add --planned (it stops the service and verifies the data first). ` +
          `An unplanned failover is for a master that is down.`,
      );
    }
    const choice = chooseTarget(inv, views, req.to);
    const target = choice.target;
    journal.to = target.site;
    const tView = views.get(target.site)!;
    if (!tView.reachable && target.failover !== 'cold') {
      throw new FailoverInputError(
        `--to ${target.site}: ${target.site} is unreachable (${seen.get(target.site)!.error}) and is not a cold mirror tandem could power on; bring it back or choose another mirror`,
      );
    }
    const epoch = nextEpoch(views.values(), req.live);
    journal.epoch = epoch;
    const unreachable = inv.hosts.filter((h) => !views.get(h.site)!.reachable && h.site !== target.site && !pending.has(h.site));
    const summary =
      `${kind} failover of "${inv.customer}": ${master.site} -> ${target.site} (${choice.why}), epoch ${epoch}` +
      `${choice.catchUpFrom ? `; ${target.site} first catches up from ${choice.catchUpFrom}` : ''}` +
      `${unreachable.length ? `; unreachable: ${unreachable.map((h) => h.site).join(', ')}` : ''}` +
      `${pending.size ? `; not waited for: ${[...pending.keys()].join(', ')} (cold, still being probed; re-rooted if it answers)` : ''}`;
    req.log(summary);
    if (req.confirm && !(await req.confirm(summary))) throw new Error('aborted at the prompt; nothing was changed');

    // ---- act ----
    changed = true;
    const driver = req.driver();
    let tProbe = seen.get(target.site)!.probe;
    if (!tProbe) {
      await journal.step(
        `power on ${target.site} (cold)`,
        () => driver.powerOn(target),
        (s) => s.map((x) => x.detail).join('; '),
      );
      tProbe = await journal.step(
        `wait for SSH on ${target.site}`,
        () => waitSsh(inv, sessions, target, Date.now() + 60_000),
        () => 'pinned host key verified',
      );
      seen.set(target.site, { probe: tProbe, error: null });
    }
    const tr = await sessions.get(target.site);
    if (hasColdRefresh(target)) {
      // A cold mirror with a refresh schedule powers itself off once caught up (agent.js
      // refresh-off), maybe in the middle of this failover if a scheduled start had it on
      // already: held on for an hour (its promotion ends the refresh for good).
      await journal.step(
        `hold ${target.site} on`,
        async () => {
          const hold = JSON.stringify({ until: Date.now() + 3_600_000, by: `${kind} failover to ${target.site}` });
          await step(tr, 'holding the host on', asRoot(target.user, `printf '%s\n' ${sq(hold)} > ${STATE_DIR}/${HOLD_FILE}`), { timeoutMs: STEP_MS });
        },
        () => `${STATE_DIR}/${HOLD_FILE}`,
      );
    }

    if (req.planned) {
      const mr = await sessions.get(master.site);
      // One round trip on the master: stop the service (its fence first), then list and hash
      // dataDir (a shell pipeline: no node start). Then drain and verify: the target's digest,
      // and the master's again, until equal, which they are once every change the master made
      // is applied on the target. A difference the shell listing may see and the agent's own
      // digest does not (the agent's is the reference) is settled by the agent's after 1 s.
      const ex = inv.exclude;
      let first: Digest | null = await journal
        .step(
          `stop the service on ${master.site} and hash its dataDir`,
          () => shellDigestOf(mr, master, ex, STEP_MS, `${stopFenceScript()}\n${inv.service.stop}`),
          (a) => (a ? `stopped; ${a.files} files, ${a.bytes} bytes` : 'stopped; the listing could not be read: the agent digest decides'),
        )
        .catch(async (e) => {
          // Stopped or not: make sure it serves again before giving up.
          await runService(mr, master, inv, 'start', STEP_MS, fenceHookScript(`switchover to ${target.site} abandoned; master again`, inv.service)).catch(() => undefined);
          throw e;
        });
      const shellOrAgent = async (r: Remote, h: InventoryHost) => (await shellDigestOf(r, h, ex, STEP_MS)) ?? digestOf(r, h, STEP_MS);
      const drainMs = req.drainTimeoutMs ?? 30_000;
      const deadline = Date.now() + drainMs;
      const t0 = Date.now();
      const d = await journal
        .step(
          `drain and verify ${target.site} = ${master.site} (dataDir digest)`,
          async () => {
            for (;;) {
              const agentToo = Date.now() - t0 > 1000;
              const [a, b] = agentToo
                ? await Promise.all([digestOf(mr, master, STEP_MS), digestOf(tr, target, STEP_MS)])
                : await Promise.all([first ?? shellOrAgent(mr, master), shellOrAgent(tr, target)]);
              first = null;
              if (a.digest === b.digest) return { ...a, how: agentToo ? 'agent digest' : 'shell digest' };
              const last = `${master.site} ${a.files} files ${a.bytes} bytes ${a.digest.slice(0, 12)}; ${target.site} ${b.files} files ${b.bytes} bytes ${b.digest.slice(0, 12)}`;
              if (Date.now() > deadline) throw new Error(`${target.site} does not hold the master's data after ${drainMs / 1000} s (${last})`);
              await new Promise((r) => setTimeout(r, 20));
            }
          },
          (a) => `equal (${a.how}): ${a.files} files, ${a.bytes} bytes, sha256 ${a.digest.slice(0, 16)}`,
        )
        .catch(async (e) => {
          // Not verified: nothing was promoted; the service goes back on the master.
          await journal
            .step(
              `restart the service on ${master.site} (switchover abandoned)`,
              () => runService(mr, master, inv, 'start', STEP_MS, fenceHookScript(`switchover to ${target.site} abandoned; master again`, inv.service)),
              (o) => o,
            )
            .catch(() => undefined);
          throw e;
        });
      journal.dataAtRisk = { seconds: 0, bytes: 0, basis: `verified equal before promotion (${d.files} files)` };
    } else {
      if (choice.catchUpFrom) {
        const src = inv.hosts.find((h) => h.site === choice.catchUpFrom)!;
        const sr = await sessions.get(src.site);
        await journal.step(
          `catch up ${target.site} from ${src.site} (fresher survivor)`,
          () => copyDifferences({ r: sr, h: src }, { r: tr, h: target }, STEP_MS),
          (c) => `${c.files} files, ${c.bytes} bytes copied`,
        );
      }
      if (mv.reachable) {
        // Its agent is dead but the host answers: make sure it does not serve.
        const mr = await sessions.get(master.site);
        await journal
          .step(
            `stop the service on ${master.site}`,
            () => runService(mr, master, inv, 'stop', STEP_MS, stopFenceScript()),
            (o) => o,
          )
          .catch((e) => journal.missed.push({ site: master.site, why: `service stop: ${(e as Error).message.split('\n')[0]}` }));
      }
      journal.dataAtRisk = dataAtRisk(tProbe, target.site, master.site, Math.max(Date.now(), req.faultAt ?? 0), mv.reachable, foundDownAt);
    }

    // ---- the new layout ----
    const reason =
      req.kind === 'failback' ? `failback ${master.site} -> ${target.site}` : req.planned ? `planned switchover ${master.site} -> ${target.site}` : `unplanned failover: ${master.site} down`;
    const oldMasterDone = { v: false };
    /** Sites this failover wrote the new layout on: a fenced one has rejoined as a mirror (or is the master). */
    const rejoined = new Set<string>();
    // A site fenced earlier that demoted itself since (its fence found the higher epoch) and is in sync.
    for (const f of req.live?.fenced ?? []) {
      const p = seen.get(f)?.probe;
      if (p?.config?.role === 'mirror' && p.config.epoch >= (req.live?.epoch ?? 0) && p.receiver?.highestEpoch !== undefined && fresh(p)) rejoined.add(f);
    }
    const draft = nextLive({ epoch, master: target.site, reason, fenced: [] });
    next = applyLiveToInventory(inv, req.topology, draft);
    // applyLive works from the stack file's topology: check the layout it gives has target as master.
    if (applyLive(req.topology, draft).sites.find((s) => s.role === 'master')?.name !== target.site) throw new Error('internal: the live layout does not make the target master');
    // Sync keys: each host's own, and those found authorized on others (a dead master's key is
    // still in its children's authorized_keys): every site may then ask every host its epoch.
    const keys = new Map<string, string>();
    for (const [, v] of seen) for (const [k, pub] of v.probe?.knownKeys ?? []) keys.set(k, pub);
    for (const [s, v] of seen) if (v.probe?.publicKey) keys.set(s, v.probe.publicKey);
    const reconf = async (h: InventoryHost, then?: string) => {
      const p = seen.get(h.site)!.probe!;
      const r = await sessions.get(h.site);
      const demoted = h.site === master.site;
      // The target: the fence hook (its boot gate) before the service starts, the fence process
      // (a node start) after it, off the critical path.
      const extra = h.site === target.site ? fenceHookScript(`promoted by ${kind} failover at epoch ${epoch}`, next.service, !then) : undefined;
      const after = h.site === target.site && then ? `${then}\n${fenceWatchScript()}` : then;
      const w = await reconfigureHost(r, next, h.site, { epoch, publicKeys: keys, probe: p, demoted, extra, then: after }, STEP_MS);
      if (demoted) oldMasterDone.v = true;
      rejoined.add(h.site);
      return w;
    };
    const toHost = next.hosts.find((h) => h.site === target.site)!;
    const fromHost = inv.vip ? (inv.hosts.find((h) => h.site === inv.vip!.holder) ?? null) : master;
    const others = next.hosts.filter((h) => h.site !== target.site && !(req.planned && h.site === master.site));
    const addr = inv.vip?.address ?? toHost.address;
    const port = inv.service.healthPort;
    // All at once: the address, every other mirror, the old master's demotion (planned) and the
    // target's promotion, which starts the service in the same script: its config (master, no
    // feeder, no feeder's key) is written and its receiver ended (and waited for) before the
    // service starts, so nothing the old master still sends can land on the new master's writes.
    // Other mirrors are not waited for: one that hangs must not hold the service back.
    const vipP = journal.step(
      `move the service address to ${target.site}`,
      () => driver.moveServiceAddress(fromHost, toHost),
      (s) => s.map((x) => `${x.action}: ${x.detail}`).join('; '),
    );
    const othersP = journal.step(
      'raise the epoch and re-root every other reachable host',
      async () => {
        const res = await mapParallel(others, others.length || 1, async (h) => {
          // A cold mirror not waited for: re-rooted once its probe answers (after the service is back).
          const late = pending.get(h.site);
          if (late) await late;
          const v = seen.get(h.site)!;
          if (!v.probe) throw new Error(v.error ?? 'unreachable');
          const e = viewOf(h.site, v).epoch;
          if (late && e >= epoch) throw new Error(`answered late with epoch ${e}, not below this failover's ${epoch}; left as it is`);
          return reconf(h);
        });
        const done: string[] = [];
        res.forEach((r, i) => {
          if (r.ok) done.push(others[i].site);
          else journal.missed.push({ site: others[i].site, why: r.error.message.split('\n')[0] });
        });
        return done;
      },
      (d) => `${d.length ? d.join(', ') : 'none'} reconfigured${journal.missed.length ? `; missed: ${journal.missed.map((m) => m.site).join(', ')}` : ''}`,
    );
    const demoteP = req.planned
      ? journal
          .step(
            `demote ${master.site} (mirror of ${target.site}, epoch ${epoch})`,
            () => reconf(master),
            (w) => w.join(', '),
          )
          .catch((e) => {
            journal.missed.push({ site: master.site, why: `demotion: ${(e as Error).message.split('\n')[0]}` });
          })
      : Promise.resolve();
    // Handled at once (a rejection left for later would end the process), checked below.
    const vipDone = vipP.then(
      () => null,
      (e: Error) => e,
    );
    const othersDone = othersP.catch(() => undefined);
    const toStart = next.service.start;
    await Promise.all([
      journal.step(
        `promote ${target.site} (master, epoch ${epoch}) and start the service`,
        () => reconf(target, toStart),
        (w) => w.join(', '),
      ),
      demoteP,
    ]);
    const vipError = await vipDone;
    if (vipError) throw new Error(`the service address could not be moved to ${target.site}: ${vipError.message}`);
    const answered = await journal.step(
      `service answers on ${addr}:${port}`,
      async () => {
        const t = await waitAnswers(addr, port, Date.now() + (req.serviceTimeoutMs ?? 30_000));
        if (t === null) throw new Error(`nothing answers on ${addr}:${port} after ${(req.serviceTimeoutMs ?? 30_000) / 1000} s; check the service's start command on ${target.site}`);
        return t;
      },
      () => 'answering',
    );
    await othersDone;
    journal.serviceAnsweredAt = answered;

    // Still fenced: the old master if it was not reached, and earlier fenced sites that have not rejoined.
    const fenced = [...(req.live?.fenced ?? []), ...(oldMasterDone.v ? [] : [master.site])].filter((f) => f !== target.site && !rejoined.has(f));
    live = nextLive({ epoch, master: target.site, reason, fenced });
    next = applyLiveToInventory(inv, req.topology, live);
    liveHint = await journal.step(
      'record the live layout in the stack file',
      async () => writeLive(req.stackFile, live),
      () => req.stackFile,
    );
    ok = true;
  } catch (e) {
    error = (e as Error).message;
    if (e instanceof FailoverInputError || !changed) {
      await sessions.closeAll();
      throw e;
    }
  }
  // Sessions are closed below, after the journal went to the hosts.
  const record = journal.record(ok, error);
  const journalFile = saveRecord(journalDir(inv.customer, inv.source), record);
  // The journal on every host reached (best effort, after the clock stopped).
  const text = Buffer.from(JSON.stringify(record, null, 2) + '\n');
  await mapParallel(inv.hosts, inv.hosts.length, async (h) => {
    const r: Remote = await Promise.race([sessions.get(h.site), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 3000))]);
    await r.exec(asRoot(h.user, `mkdir -p /var/lib/tandem/journal && cat > ${sq(`/var/lib/tandem/journal/${record.id}.json`)}`), { stdin: text, timeoutMs: 5000 });
  });
  await sessions.closeAll();
  return { ok, record, journalFile, live, liveHint, inventory: next };
}

/** Whether the service answers on the master's address and on the VIP. */
export async function serviceAnswers(inv: Inventory, master: InventoryHost): Promise<{ master: boolean; vip: boolean | null }> {
  const port = inv.service.healthPort;
  const [m, v] = await Promise.all([answers(master.address, port), inv.vip ? answers(inv.vip.address, port) : Promise.resolve(null)]);
  return { master: m, vip: v };
}
