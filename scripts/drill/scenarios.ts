/**
 * The nine drill scenarios (SCENARIOS in ./types.ts), each written against the engine (./engine.ts):
 * what layout it needs (else "not applicable"), the site its targets are taken from, and what it
 * does and checks. Putting the original layout back is common to all of them (./run.ts restore).
 */
import type { Inventory, InventoryHost } from '../../model/inventory';
import { answers } from '../failover/hosts';
import { sq } from '../ssh/quote';
import { sleep } from '../util/wait';
import { NotApplicable, type Drill, type StackState } from './engine';
import type { ScenarioName } from './types';

export interface Scenario {
  readonly name: ScenarioName;
  readonly what: string;
  /** Null when the layout can run it; else why not (then it is "not applicable", not a pass). */
  readonly applicable: (s: StackState, faultsWhy: string | null) => string | null;
  readonly run: (d: Drill) => Promise<void>;
}

/** How long the load runs before the fault, and on the new master before the count. */
const WARM_MS = 3000;
const AFTER_MS = 2000;

const mirrors = (inv: Inventory) => inv.hosts.filter((h) => h.role === 'mirror');
const running = (inv: Inventory, d: Drill) => mirrors(inv).filter((h) => !d.o.faults.poweredOff(h.site));
const rank = (h: InventoryHost) => ({ hot: 0, warm: 1, cold: 2 })[h.failover ?? 'cold'];

/** Starts the load on the master and lets it run. */
async function loadOnMaster(d: Drill, ms = WARM_MS): Promise<InventoryHost> {
  const { inventory: inv } = await d.o.current();
  const m = d.master(inv);
  await d.step(
    `start the load generator on ${m.site} (${d.o.rate} records/s)`,
    () => d.load.start(inv, m),
    (s) => `continuing after seq ${s.firstSeq}`,
  );
  await sleep(ms);
  return m;
}

/** After a failover: load on the new master for a moment, stopped, and every record counted there. */
async function loadAndCount(d: Drill, site: string): Promise<void> {
  const s = await d.o.current();
  const h = s.inventory.hosts.find((x) => x.site === site)!;
  await d.step(
    `restart the load generator on ${site} (continues from the last record there)`,
    () => d.load.start(s.inventory, h),
    (g) => `continuing after seq ${g.firstSeq}`,
  );
  await sleep(AFTER_MS);
  await d.step(
    `stop the load generator on ${site}`,
    () => d.load.stop(),
    (g) => `confirmed through seq ${g?.confirmedSeq}`,
  );
  await countOn(d, site);
}

async function countOn(d: Drill, site: string): Promise<void> {
  d.count = await d.step(
    `count every record on ${site}`,
    () => d.countOn(site),
    (c) => `${c.distinct} records (${c.distinctSeqs} sequence numbers), ${c.holes} holes, ${c.torn} torn lines, ${c.lost} confirmed records lost`,
  );
  d.check('no torn record', d.count.torn === 0, `${d.count.torn} lines on ${site} are not whole records`);
  d.check('no hole in the sequence', d.count.holes === 0, `${d.count.holes} sequence numbers missing in 1..${d.count.maxSeq} on ${site}`);
  d.check('no record twice', d.count.duplicates === 0, `${d.count.duplicates} duplicate records on ${site}`);
}

/**
 * An unplanned failover after `fault`: the fault time is taken just before it is injected (RTO
 * counts from there), the failover chooses the best survivor unless `to` is given.
 */
async function faultAndFailover(d: Drill, fault: () => Promise<string>, label: string, to?: string, lostChannel = false): Promise<string> {
  const faultAt = Date.now();
  d.event('fault', label, faultAt);
  await d.step(label, fault, (x) => x);
  // The generator's channel dies with its host; a host cut off keeps a channel that never answers.
  if (lostChannel) d.load.abandon();
  else await d.load.stop(1000);
  const res = await d.step(
    `unplanned failover${to ? ` to ${to}` : ''} (tandem failover --fault-at)`,
    () => d.failover({ planned: false, to, faultAt }),
    (r) => `${r.record.from} -> ${r.record.to}, epoch ${r.record.epoch}, RTO ${((r.record.rtoMs ?? 0) / 1000).toFixed(2)} s (journal)`,
  );
  const probe = res.record.steps.find((s) => s.name === 'probe every host');
  if (probe) d.event('detected', `failover saw ${res.record.from} down: ${probe.detail}`, Date.parse(probe.at) + probe.ms);
  d.rtoSeconds = res.record.rtoMs === null ? null : res.record.rtoMs / 1000;
  d.to = res.record.to;
  await loadAndCount(d, res.record.to);
  return res.record.to;
}

/** Waits for the master's agent to report a child down (what its alerts are made from). */
async function waitDetected(d: Drill, master: string, child: string, timeoutMs = 20_000): Promise<number | null> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      const st = JSON.parse(await d.exec(master, 'cat /var/lib/tandem/state/status.json', 3000)) as { children: { site: string; state: string }[] };
      const c = st.children.find((x) => x.site === child);
      if (c && (c.state === 'down' || c.state === 'error')) return Date.now();
    } catch {
      /* try again */
    }
    await sleep(200);
  }
  return null;
}

/** Polls the service address while `fn` runs; resolves with fn's value and the longest gap in answers (ms). */
async function serviceWatched<T>(d: Drill, inv: Inventory, fn: () => Promise<T>): Promise<{ v: T; probes: number; failed: number }> {
  let on = true;
  let probes = 0;
  let failed = 0;
  const addr = inv.vip?.address ?? d.master(inv).address;
  const watcher = (async () => {
    while (on) {
      probes++;
      if (!(await answers(addr, inv.service.healthPort, 1000))) failed++;
      await sleep(100);
    }
  })();
  try {
    const v = await fn();
    return { v, probes, failed };
  } finally {
    on = false;
    await watcher;
  }
}

interface RepairModule {
  verifyMirror: (ctx: unknown, site: string) => Promise<{ equal: boolean; differences: readonly { path: string; kind: string }[]; moreDifferences: number; source: string }>;
  rebuildMirror: (ctx: unknown, site: string) => Promise<{ source: string; bytesSent: number; ms: number; verify: { equal: boolean } }>;
  replaceSite: (ctx: unknown, site: string) => Promise<{ oldHostKey: string | null; newHostKey: string; seededFrom: string; ms: number; verify: { equal: boolean } }>;
}

async function repairModule(): Promise<RepairModule> {
  const p = '../repair/index';
  try {
    return (await import(p)) as RepairModule;
  } catch (e) {
    throw new Error(`scripts/repair/index.ts (verifyMirror, rebuildMirror, replaceSite) could not be loaded: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
}

async function repairContext(d: Drill): Promise<unknown> {
  const s = await d.o.current();
  return { inventory: s.inventory, topology: s.topology, stackFile: s.stackFile, live: s.live, connect: d.o.connect(s.inventory), ssh: d.o.ssh, log: (l: string) => d.log(`  ${l}`) };
}

/** A running mirror fed by the master directly (not a relay, not the one a failover would choose first when others exist). */
function victimMirror(inv: Inventory, d: Drill): InventoryHost | null {
  const kids = running(inv, d).filter((h) => !inv.hosts.some((x) => x.feedFrom === h.site));
  return kids.sort((a, b) => rank(b) - rank(a))[0] ?? null;
}

export const SCENARIO_LIST: readonly Scenario[] = [
  {
    name: 'planned-switchover',
    what: 'a planned switchover to the best running mirror under load, then a failback; zero records lost',
    applicable: (s) => (mirrors(s.inventory).some((h) => h.failover !== 'cold') ? null : 'needs a hot or warm mirror to switch over to'),
    run: async (d) => {
      await loadOnMaster(d);
      const { inventory: inv } = await d.o.current();
      const to = running(inv, d).sort((a, b) => rank(a) - rank(b))[0];
      // The load generator is part of the service: it stops with it, as the switchover stops the service.
      const commandAt = Date.now();
      d.event('fault', `planned switchover command: ${d.master(inv).site} -> ${to.site}`, commandAt);
      await d.step(
        'stop the load generator (the service stops for the switchover)',
        () => d.load.stop(),
        (g) => `confirmed through seq ${g?.confirmedSeq}`,
      );
      const res = await d.step(
        `planned switchover to ${to.site} (tandem failover --planned)`,
        () => d.failover({ planned: true, to: to.site, commandAt }),
        (r) => `RTO ${((r.record.rtoMs ?? 0) / 1000).toFixed(2)} s (journal); ${r.record.dataAtRisk?.basis ?? ''}`,
      );
      d.rtoSeconds = res.record.rtoMs === null ? null : res.record.rtoMs / 1000;
      d.to = to.site;
      await loadAndCount(d, to.site);
    },
  },
  {
    name: 'master-crash',
    what: 'the master is killed (every process, SIGKILL); the best mirror is promoted',
    applicable: (s, f) => f ?? (mirrors(s.inventory).length ? null : 'needs a mirror'),
    run: async (d) => {
      const m = await loadOnMaster(d);
      await faultAndFailover(d, () => d.o.faults.crash(m.site), `crash ${m.site} (kill every process)`);
    },
  },
  {
    name: 'region-outage',
    what: "every host in the master's region is cut off (lab: isolate); a mirror in another region is promoted",
    applicable: (s, f) => {
      if (f) return f;
      const m = s.inventory.hosts.find((h) => h.role === 'master')!;
      const region = s.topology.sites.find((x) => x.name === m.site)?.region;
      const others = s.topology.sites.filter((x) => x.region !== region && x.role === 'mirror');
      return others.length ? null : `needs a mirror outside the master's region ${region}`;
    },
    run: async (d) => {
      const s = await d.o.current();
      const m = await loadOnMaster(d);
      const region = s.topology.sites.find((x) => x.name === m.site)!.region;
      const cut = s.topology.sites.filter((x) => x.region === region).map((x) => x.name);
      await faultAndFailover(d, async () => (await Promise.all(cut.map((site) => d.o.faults.isolate(site)))).join('; '), `region ${region} cut off: ${cut.join(', ')}`, undefined, true);
    },
  },
  {
    name: 'cold-standby',
    what: 'the master is killed and the powered-off cold mirror is promoted (powered on, caught up, then promoted)',
    applicable: (s, f) => f ?? (mirrors(s.inventory).some((h) => h.failover === 'cold') ? null : 'the layout has no cold mirror (failover: cold) to promote'),
    run: async (d) => {
      const { inventory: inv } = await d.o.current();
      const cold = mirrors(inv).find((h) => h.failover === 'cold')!;
      if (!d.o.faults.poweredOff(cold.site))
        await d.step(
          `power off ${cold.site} (a cold standby is off)`,
          () => d.o.faults.powerOff(cold.site),
          (x) => x,
        );
      d.o.faults.applied.delete(cold.site);
      const m = await loadOnMaster(d);
      await faultAndFailover(d, () => d.o.faults.crash(m.site), `crash ${m.site} (kill every process)`, cold.site);
    },
  },
  {
    name: 'mirror-crash-during-sync',
    what: 'a mirror is killed while records stream to it; after it boots nothing is torn and it catches up',
    applicable: (s, f) => f ?? (mirrors(s.inventory).length ? null : 'needs a mirror'),
    run: async (d) => {
      const m = await loadOnMaster(d);
      const { inventory: inv } = await d.o.current();
      const v = victimMirror(inv, d);
      if (!v) throw new NotApplicable('no running mirror fed by the master');
      const faultAt = Date.now();
      d.event('fault', `crash mirror ${v.site} mid-stream`, faultAt);
      await d.step(
        `crash ${v.site} while records stream to it`,
        () => d.o.faults.crash(v.site),
        (x) => x,
      );
      const seen = await waitDetected(d, m.site, v.site);
      if (seen) d.event('detected', `${m.site} reports ${v.site} down`, seen);
      await sleep(AFTER_MS);
      await d.step(
        `power ${v.site} on`,
        () => d.o.faults.powerOn(v.site),
        (x) => x,
      );
      await d.step(
        `wait for ${v.site} to catch up under load`,
        () => d.waitInSync(`${v.site} caught up`, 90_000),
        () => 'status OK, every running mirror in sync',
      );
      d.event('restored', `${v.site} in sync again`);
      await d.step(
        'stop the load generator',
        () => d.load.stop(),
        (g) => `confirmed through seq ${g?.confirmedSeq}`,
      );
      await countOn(d, m.site);
      const same = await d
        .step(
          `${v.site} holds exactly the master's records`,
          async () => {
            const until = Date.now() + 30_000;
            for (;;) {
              const [a, b] = await Promise.all([d.exec(m.site, `sha256sum < ${sq(d.recordsFile)}`), d.exec(v.site, `sha256sum < ${sq(d.recordsFile)} 2>/dev/null || echo none`)]);
              if (a === b) return a.slice(0, 16);
              if (Date.now() > until) throw new Error(`${v.site}'s records file differs from ${m.site}'s (sha256 ${b.slice(0, 16)} vs ${a.slice(0, 16)})`);
              await sleep(250);
            }
          },
          (h) => `sha256 ${h}`,
        )
        .then(
          () => true,
          () => false,
        );
      const mc = await d.countOn(v.site);
      d.check(`nothing torn on ${v.site}`, mc.torn === 0 && mc.holes === 0, `${mc.torn} torn lines, ${mc.holes} holes in ${mc.distinct} records on ${v.site}`);
      d.check(`${v.site} caught up`, same, same ? `its records file equals ${m.site}'s` : `its records file still differs from ${m.site}'s`);
    },
  },
  {
    name: 'double-fault',
    what: 'a mirror is already down (the kit must alert), then the master dies; the failover goes to what is left',
    applicable: (s, f) => f ?? (mirrors(s.inventory).length >= 2 ? null : 'needs two mirrors (one fails first, the other takes over)'),
    run: async (d) => {
      const s = await d.o.current();
      const m = await loadOnMaster(d);
      const v = victimMirror(s.inventory, d);
      if (!v) throw new NotApplicable('no running mirror fed by the master');
      // A fault of an earlier scenario still announced (its restore not yet confirmed by the
      // alerter) would swallow this one: a fault already announced raises no new alert. Wait
      // (bounded) for the master's alerter to have announced recovery first.
      await d.step(
        `wait for ${m.site}'s alerter to announce no fault`,
        async () => {
          const until = Date.now() + 60_000;
          for (;;) {
            let a: { announced: string; faults: string[] };
            try {
              a = JSON.parse(await d.exec(m.site, 'cat /var/lib/tandem/state/alerts.json', 3000)) as typeof a;
            } catch {
              return 'nothing announced yet';
            }
            if (a.announced !== 'degraded') return `announced ${a.announced}`;
            if (Date.now() > until) throw new Error(`${m.site}'s alerter still announces DEGRADED after 60 s (${a.faults.join('; ')}): a new fault would raise no alert`);
            await sleep(500);
          }
        },
        (x) => x,
      );
      const firstAt = Date.now();
      d.event('note', `first fault: crash mirror ${v.site}`, firstAt);
      await d.step(
        `first fault: crash mirror ${v.site}`,
        () => d.o.faults.crash(v.site),
        (x) => x,
      );
      const seen = await waitDetected(d, m.site, v.site);
      if (seen) d.event('detected', `${m.site} reports ${v.site} down (DEGRADED)`, seen);
      // The master's agent sends the alert (agent/src/alerts.ts) and records what it announced.
      const alert = await d.step(
        `wait for ${m.site}'s DEGRADED alert naming ${v.site}`,
        async () => {
          if (!s.topology.notify || (!s.topology.notify.webhooks.length && !s.topology.notify.email)) return null;
          const until = Date.now() + 30_000;
          while (Date.now() < until) {
            try {
              const a = JSON.parse(await d.exec(m.site, 'cat /var/lib/tandem/state/alerts.json', 3000)) as { announced: string; faults: string[]; lastSentAt: string | null };
              if (a.announced === 'degraded' && a.lastSentAt && Date.parse(a.lastSentAt) >= firstAt - 1000 && a.faults.some((x) => x.includes(v.site))) return a;
            } catch {
              /* not yet */
            }
            await sleep(250);
          }
          return undefined;
        },
        (a) => (a ? `sent at ${a.lastSentAt}: ${a.faults.join('; ')}` : a === null ? 'the stack has no notify channels' : 'no alert within 30 s'),
      );
      if (alert) d.event('alert', `DEGRADED alert: ${alert.faults.join('; ')}`, Date.parse(alert.lastSentAt!));
      d.check(
        'an alert went out for the first fault',
        !!alert,
        alert
          ? `${m.site} announced DEGRADED at ${alert.lastSentAt} (${((Date.parse(alert.lastSentAt!) - firstAt) / 1000).toFixed(1)} s after the fault)`
          : alert === null
            ? 'the stack has no notify channels: nobody was told'
            : 'no alert recorded by the master within 30 s',
      );
      await faultAndFailover(d, () => d.o.faults.crash(m.site), `second fault: crash the master ${m.site}`);
      d.check('failed over to what was left', d.to !== v.site && d.to !== m.site, `${d.to} took over (${v.site} and ${m.site} down)`);
    },
  },
  {
    name: 'stale-master-returns',
    what: 'the old master boots again after a failover: it never serves or pushes, and ends as a mirror of the new one',
    applicable: (s, f) => f ?? (mirrors(s.inventory).length ? null : 'needs a mirror'),
    run: async (d) => {
      const m = await loadOnMaster(d);
      const to = await faultAndFailover(d, () => d.o.faults.crash(m.site), `crash ${m.site} (kill every process)`);
      const s = await d.o.current();
      const old = s.inventory.hosts.find((h) => h.site === m.site)!;
      await d.step(
        `restart the load generator on ${to}`,
        () =>
          d.load.start(
            s.inventory,
            s.inventory.hosts.find((h) => h.site === to)!,
          ),
        () => '',
      );
      const back = Date.now();
      d.event('note', `${m.site} powers on again`, back);
      await d.step(
        `power ${m.site} on (it comes back believing it is master)`,
        () => d.o.faults.powerOn(m.site),
        (x) => x,
      );
      let served = 0;
      let vipLost = 0;
      let pushed = 0;
      let samples = 0;
      const demoted = await d
        .step(
          `${m.site} never serves or pushes, and demotes itself`,
          async () => {
            const until = Date.now() + 60_000;
            while (Date.now() < until) {
              samples++;
              if (await answers(old.address, s.inventory.service.healthPort, 300)) served++;
              if (!(await d.serviceAnswers(s.inventory))) vipLost++;
              // No mirror is fed by it: every receiver's sender is someone else.
              for (const h of s.inventory.hosts.filter((x) => x.site !== m.site && x.site !== to && !d.o.faults.poweredOff(x.site))) {
                const rv = await d.exec(h.site, 'cat /var/lib/tandem/state/receiver.json 2>/dev/null || echo {}', 3000).catch(() => '{}');
                try {
                  const j = JSON.parse(rv) as { sender?: string | null; updatedAt?: number };
                  if (j.sender === m.site && (j.updatedAt ?? 0) > back) pushed++;
                } catch {
                  /* unreadable */
                }
              }
              const c = await d.roleOf(m.site);
              if (c?.role === 'mirror' && c.feedFrom) return c;
              await sleep(200);
            }
            throw new Error(`${m.site} did not demote itself within 60 s`);
          },
          (c) => `mirror fed by ${c.feedFrom} at epoch ${c.epoch}`,
        )
        .catch(() => null);
      if (demoted) d.event('note', `${m.site} demoted itself: mirror of ${demoted.feedFrom}`);
      d.check(`${m.site} never served`, served === 0, `its health port answered in ${served} of ${samples} probes while it came back`);
      d.check('the service address stayed with the new master', vipLost === 0, `the service address did not answer in ${vipLost} of ${samples} probes`);
      d.check(`${m.site} never pushed`, pushed === 0, `${pushed} receiver states named ${m.site} as their sender after it came back`);
      d.check(`${m.site} ends as a mirror`, !!demoted, demoted ? `mirror fed by ${demoted.feedFrom}, epoch ${demoted.epoch}` : 'it did not demote itself within 60 s');
      await sleep(1000);
      await d.step(
        `stop the load generator on ${to}`,
        () => d.load.stop(),
        (g) => `confirmed through seq ${g?.confirmedSeq}`,
      );
      await countOn(d, to);
    },
  },
  {
    name: 'rebuild-mirror',
    what: "a mirror's data is corrupted and rebuilt online (tandem mirror rebuild) while the master keeps serving; verified equal",
    applicable: (s, f) => f ?? (mirrors(s.inventory).length ? null : 'needs a mirror'),
    run: async (d) => {
      const rep = await repairModule();
      const s0 = await d.o.current();
      const m0 = d.master(s0.inventory);
      const v = victimMirror(s0.inventory, d);
      if (!v) throw new NotApplicable('no running mirror fed by the master');
      // A file that does not change during the drill (the records file grows all the time, and a
      // verify rightly calls a file that changes under it "in flight"): 4 MiB of the master's data.
      const book = d.recordsFile.replace(/\.log$/, '.book');
      const sum = (site: string) => d.exec(site, `sha256sum < ${sq(book)} 2>/dev/null | cut -c1-64 || true`).then((x) => x.trim());
      await d.step(
        `write a 4 MiB file on ${m0.site} and wait for it on ${v.site}`,
        async () => {
          const want = (await d.exec(m0.site, `head -c 4194304 /dev/urandom > ${sq(book)}.tmp && mv ${sq(book)}.tmp ${sq(book)} && sha256sum < ${sq(book)} | cut -c1-64`)).trim();
          const until = Date.now() + 60_000;
          while ((await sum(v.site)) !== want) {
            if (Date.now() > until) throw new Error(`${book} did not arrive on ${v.site} within 60 s`);
            await sleep(200);
          }
          return want;
        },
        (h) => `sha256 ${h.slice(0, 16)}`,
      );
      const m = await loadOnMaster(d);
      const faultAt = Date.now();
      d.event('fault', `corrupt ${v.site}'s copy of ${book}`, faultAt);
      await d.step(
        `corrupt ${v.site}'s data (bytes overwritten in the middle of a file)`,
        () => d.exec(v.site, `printf 'CORRUPTED-BY-DRILL' | dd of=${sq(book)} bs=1 seek=2097152 conv=notrunc status=none; echo overwritten at 2097152`),
        (x) => x.trim(),
      );
      const good = await sum(m.site);
      const ver = await d.step(
        `verify ${v.site} (tandem mirror verify)`,
        async () => rep.verifyMirror(await repairContext(d), v.site),
        (r) => (r.equal ? 'equal' : `${r.differences.length + r.moreDifferences} differences`),
      );
      if (!ver.equal) d.event('detected', `verify found ${v.site} different from ${ver.source}`);
      // Equal can only be true if the agent's own online verify repaired it first: then the copy must hold the master's bytes again.
      const repairedAlready = ver.equal && (await sum(v.site)) === good;
      d.check(
        'the corruption is found',
        !ver.equal || repairedAlready,
        !ver.equal
          ? ver.differences.map((x) => `${x.path} (${x.kind})`).join(', ')
          : repairedAlready
            ? "already repaired by the agent's online verify"
            : `${v.site} was reported equal while its copy differs`,
      );
      const w = await d.step(
        `rebuild ${v.site} online while the service keeps answering (tandem mirror rebuild)`,
        async () => serviceWatched(d, s0.inventory, async () => rep.rebuildMirror(await repairContext(d), v.site)),
        (r) => `from ${r.v.source}, ${r.v.bytesSent} bytes in ${r.v.ms} ms; service probed ${r.probes} times`,
      );
      d.event('restored', `${v.site} rebuilt and verified equal`);
      const after = await sum(v.site);
      d.check(
        'rebuilt mirror verified equal',
        w.v.verify.equal && after === good,
        `verify after the rebuild: ${w.v.verify.equal ? 'equal' : 'differences'}; sha256 of the file on ${v.site} ${after === good ? 'equals' : 'differs from'} ${m.site}'s`,
      );
      d.check('service never interrupted', w.failed === 0, `${w.failed} of ${w.probes} probes of the service address failed during the rebuild`);
      await d.step(
        'stop the load generator',
        () => d.load.stop(),
        (g) => `confirmed through seq ${g?.confirmedSeq}`,
      );
      await countOn(d, m.site);
    },
  },
  {
    name: 'replace-host',
    what: "a mirror's host is lost for good and replaced by a new one (tandem site replace): new host key, seeded, rejoins",
    applicable: (s, f) => f ?? (mirrors(s.inventory).length ? null : 'needs a mirror'),
    run: async (d) => {
      const rep = await repairModule();
      // replaceSite installs across the fleet and stops at a host it cannot reach: cold mirrors
      // are powered on for it (and off again at the end, as every drill leaves them).
      for (const site of d.o.faults.offAtStart)
        if (d.o.faults.poweredOff(site))
          await d.step(
            `power ${site} on (cold; site replace reaches every host)`,
            () => d.o.faults.powerOn(site),
            (x) => x,
          );
      const m = await loadOnMaster(d);
      const s = await d.o.current();
      const v = victimMirror(s.inventory, d);
      if (!v) throw new NotApplicable('no running mirror fed by the master');
      const faultAt = Date.now();
      d.event('fault', `${v.site}'s host is lost for good`, faultAt);
      await d.step(
        `lose ${v.site}'s host (power off)`,
        () => d.o.faults.powerOff(v.site),
        (x) => x,
      );
      /* kept: restore brings it back if the replacement fails */
      const seen = await waitDetected(d, m.site, v.site);
      if (seen) d.event('detected', `${m.site} reports ${v.site} down`, seen);
      const w = await d.step(
        `replace ${v.site} with a new host while the service keeps answering (tandem site replace)`,
        async () => serviceWatched(d, s.inventory, async () => rep.replaceSite(await repairContext(d), v.site)),
        (r) => `new host key ${r.v.newHostKey.slice(0, 40)}..., seeded from ${r.v.seededFrom} in ${r.v.ms} ms`,
      );
      // The new host is up: nothing of the lost one is left to bring back.
      d.o.faults.applied.delete(v.site);
      d.event('restored', `${v.site} replaced and verified equal`);
      d.check('new host key pinned', w.v.newHostKey !== w.v.oldHostKey, `old ${w.v.oldHostKey?.slice(0, 30) ?? '-'}..., new ${w.v.newHostKey.slice(0, 30)}...`);
      d.check('replacement verified equal', w.v.verify.equal, w.v.verify.equal ? 'verify after the seed: equal' : 'verify after the seed finds differences');
      d.check('service never interrupted', w.failed === 0, `${w.failed} of ${w.probes} probes of the service address failed during the replacement`);
      await d.step(
        'stop the load generator',
        () => d.load.stop(),
        (g) => `confirmed through seq ${g?.confirmedSeq}`,
      );
      await countOn(d, m.site);
    },
  },
];

export function scenario(name: ScenarioName): Scenario {
  return SCENARIO_LIST.find((s) => s.name === name)!;
}
