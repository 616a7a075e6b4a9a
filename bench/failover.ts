/**
 * Benchmark: failover times on the lab with the record writer running at 2,000 records/s
 * (test/failover/writer.js), as its own customer ("fobench", its stack file a temporary copy):
 *   planned switchover   command -> service answering on the VIP, records lost (must be 0)
 *   unplanned (warm/hot) crash (SIGKILL of every process of the master) -> VIP, records lost vs
 *                        the lag status showed just before the crash
 *   cold                 crash -> VIP with the target powered off (power on, SSH, catch-up)
 * Library calls (runFailover), so the figures leave out the tandem command's own start (measured
 * apart: `node bin/tandem failover --help`, and added to the planned median). Each planned run also
 * counts SSH connections, execs and agent node start-ups. Run as root:
 *   node bin/run-ts bench/failover.ts [runs] [planned]   (planned: the switchovers only)
 */
import { hostVisibleWriter } from '../test/failover/helpers';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseTopology } from '../model/topology/load';
import { agentBundle } from '../scripts/hosts/bundle';
import { installFleet } from '../scripts/hosts/install';
import { mirrorFleet } from '../scripts/hosts/mirror';
import { silentProgress } from '../scripts/hosts/parallel';
import { connectorFor } from '../scripts/hosts/ssh';
import { resolveTarget } from '../scripts/hosts/target';
import { driverFor } from '../scripts/failover/drivers/index';
import { runFailover } from '../scripts/failover/run';
import { serviceAction } from '../scripts/service/index';
import { hostExec, labDown, labFault, labUp } from '../scripts/lab';
import { observe } from '../scripts/status/collect';
import type { Connector, Remote } from '../scripts/hosts/remote';
import { AGENT_JS } from '../scripts/hosts/keys';

const C = 'fobench';
const REPO = path.resolve(__dirname, '..');
const WRITER = hostVisibleWriter(path.join(REPO, 'test', 'failover', 'writer.js'));
const YAML = `config:
  tandem:customer: ${C}
  tandem:topology:
    dataDir: /srv/trading
    service: { start: "node ${WRITER} start /srv/trading 8443", stop: "node ${WRITER} stop", healthPort: 8443 }
    adminCidrs: [198.18.0.0/15]
    sites:
      - { name: ny, role: master, provider: aws, region: us-east-1 }
      - { name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }
      - { name: ams, role: mirror, provider: azure, region: westeurope, failover: warm }
      - { name: ldn, role: mirror, provider: aws, region: eu-west-2, failover: cold }
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (l: string) => process.stderr.write(`${l}\n`);

async function seqs(site: string): Promise<{ seq: number[]; ms: number[] }> {
  const r = await hostExec(C, site, ['sh', '-c', 'cat /srv/trading/records.log 2>/dev/null || true'], { timeoutMs: 60_000 });
  const seq: number[] = [];
  const ms: number[] = [];
  for (const l of r.stdout.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(l);
    if (m) {
      seq.push(Number(m[1]));
      ms.push(Number(m[2]));
    }
  }
  return { seq, ms };
}

const gaps = (seq: number[]) => seq.reduce((n, s, i) => n + (s !== i + 1 ? 1 : 0), 0);

/** SSH connections, execs and agent node start-ups on the hosts, per failover (load does not change these). */
interface Counts {
  connects: number;
  execs: number;
  agentNodeStarts: number;
}

/** A connector that counts what goes over SSH. */
function counting(inner: Connector, c: Counts): Connector {
  return async (h, s) => {
    c.connects++;
    const r = await inner(h, s);
    return {
      ...r,
      exec: (cmd: string, opts?: Parameters<Remote['exec']>[1]) => {
        c.execs++;
        c.agentNodeStarts += cmd.split(`node ${AGENT_JS}`).length - 1;
        return r.exec(cmd, opts);
      },
      close: () => r.close(),
    } as Remote;
  };
}

async function failover(file: string, o: { to?: string; planned: boolean; faultAt?: number }) {
  const t = await resolveTarget({ file });
  const t0 = Date.now();
  const counts: Counts = { connects: 0, execs: 0, agentNodeStarts: 0 };
  const r = await runFailover({
    inventory: t.inventory,
    topology: t.topology!,
    stackFile: file,
    live: t.live ?? null,
    to: o.to,
    planned: o.planned,
    connect: counting(connectorFor(t.inventory), counts),
    ssh: { timeoutMs: 3000 },
    driver: () => driverFor(t.inventory),
    log: () => undefined,
    faultAt: o.faultAt,
    commandAt: t0,
  });
  if (!r.ok) throw new Error(`failover failed: ${r.record.error}`);
  return { ...r.record, counts };
}

async function waitDemoted(site: string): Promise<void> {
  for (let i = 0; i < 240; i++) {
    const r = await hostExec(C, site, ['sh', '-c', 'cat /var/lib/tandem/config.json'], {});
    try {
      if (JSON.parse(r.stdout).role === 'mirror') return;
    } catch {
      /* booting */
    }
    await sleep(250);
  }
  throw new Error(`${site} did not demote itself`);
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 3);
  // "planned": the planned switchovers only (the profile of the 2 s target), no crash runs.
  const plannedOnly = process.argv[3] === 'planned';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fobench-'));
  const file = path.join(dir, `Pulumi.${C}.yaml`);
  fs.writeFileSync(file, YAML);
  const t = parseTopology(YAML, C).topology!;
  const cliStart: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    // The failover command's own path (bin/tandem loads only the command named).
    execFileSync(process.execPath, [path.join(REPO, 'bin', 'tandem'), 'failover', '--help'], { stdio: 'ignore' });
    cliStart.push(Date.now() - t0);
  }
  await labDown(C);
  const out: string[] = [];
  try {
    const inv = await labUp(t);
    const fleet = { inventory: inv, connect: connectorFor(inv), ssh: { timeoutMs: 10_000 }, parallel: 8, progress: silentProgress };
    await installFleet(fleet, 'install', agentBundle());
    await mirrorFleet(fleet, 'start', []);
    await sleep(5000);
    await labFault(C, 'ldn', 'poweroff');
    const cur = async () => (await resolveTarget({ file })).inventory;
    await serviceAction(await cur(), 'start', { connect: connectorFor(inv), ssh: { timeoutMs: 10_000 } });
    await sleep(3000);

    // Planned switchovers, back and forth.
    const planned: number[] = [];
    for (let i = 0; i < runs * 2; i++) {
      const to = i % 2 === 0 ? 'chi' : 'ny';
      const rec = await failover(file, { to, planned: true });
      await sleep(1500);
      const s = await seqs(to);
      planned.push(rec.rtoMs!);
      log(`planned -> ${to}: ${rec.rtoMs} ms; ${s.seq.length} records on ${to}, ${gaps(s.seq)} gaps`);
      // The profile: each step of the journal, where the time goes.
      const c = rec.counts;
      out.push(
        `planned switchover -> ${to}: command -> VIP ${rec.rtoMs} ms, records lost ${gaps(s.seq)}; ${c.connects} SSH connections, ${c.execs} execs, ${c.agentNodeStarts} agent node starts (${rec.steps.map((x) => `${x.name} ${x.ms} ms`).join('; ')})`,
      );
      await sleep(2000);
    }

    // Unplanned: crash the master, fail over at once.
    const unplanned: number[] = [];
    for (let i = 0; i < (plannedOnly ? 0 : runs); i++) {
      const now = await cur();
      const master = now.hosts.find((h) => h.role === 'master')!.site;
      const obs = await observe(now, connectorFor(now), { timeoutMs: 5000, retries: 0 }, 8);
      const lags = new Map(obs.filter((o) => o.site !== master && o.status).map((o) => [o.site, o.status!.lagS ?? 0] as const));
      const faultAt = Date.now();
      await labFault(C, master, 'crash');
      const rec = await failover(file, { planned: false, faultAt });
      const lag = lags.get(rec.to) ?? NaN;
      const old = await seqs(master);
      await sleep(1500);
      const nw = await seqs(rec.to);
      // Where the new master's writer took over: the LAST jump in write times (earlier ones are
      // the earlier switchovers, while the service was stopped).
      let k = -1;
      for (let j = nw.ms.length - 1; j > 0; j--)
        if (nw.ms[j] - nw.ms[j - 1] > 400) {
          k = j;
          break;
        }
      const split = k > 0 ? nw.seq[k - 1] : nw.seq.length;
      const lost = old.seq[old.seq.length - 1] - split;
      unplanned.push(rec.rtoMs!);
      log(`unplanned ${master} -> ${rec.to}: crash -> VIP ${rec.rtoMs} ms; lost ${lost} records; lag before ${lag} s`);
      out.push(
        `unplanned failover ${master} -> ${rec.to}: crash -> VIP ${rec.rtoMs} ms, records lost ${lost} (${(lost / 2000).toFixed(3)} s of writes), status lag of ${rec.to} just before the crash ${lag} s; data at risk recorded ${rec.dataAtRisk?.seconds ?? '?'} s`,
      );
      // The old master comes back, demotes itself (boot fence) and resyncs.
      await labFault(C, master, 'poweron');
      await waitDemoted(master);
      await sleep(3000);
    }

    // Cold: crash the master; the cold mirror is the target.
    if (!plannedOnly) {
      const now = await cur();
      const master = now.hosts.find((h) => h.role === 'master')!.site;
      const faultAt = Date.now();
      await labFault(C, master, 'crash');
      const rec = await failover(file, { planned: false, to: 'ldn', faultAt });
      log(`cold ${master} -> ldn: crash -> VIP ${rec.rtoMs} ms`);
      out.push(`cold failover ${master} -> ldn: crash -> VIP ${rec.rtoMs} ms (${rec.steps.map((s) => `${s.name} ${s.ms} ms`).join('; ')})`);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const cli = med(cliStart);
    out.push(
      `median planned ${med(planned)} ms (n=${planned.length}, ${Math.min(...planned)}-${Math.max(...planned)}); with the command's start (median ${cli} ms) ${med(planned) + cli} ms; ` +
        `median unplanned ${unplanned.length ? med(unplanned) : '-'} ms (n=${unplanned.length})`,
    );
    out.push(
      `tandem command start (node bin/tandem failover --help): ${cliStart.join(', ')} ms; load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} on ${os.cpus().length} cores`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await labDown(C);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
