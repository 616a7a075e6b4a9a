import type { Argv, CommandModule } from 'yargs';
import { CommandError, EXIT } from '../errors';
import { withJson, withSshOptions, withTargetOptions, type JsonOption, type SshOptions, type TargetOptions } from '../options';

interface WatchArgs {
  watch: boolean;
  interval?: number;
  count?: number;
}
type Args = TargetOptions & SshOptions & JsonOption & WatchArgs;

export const command = 'status [file]';
export const describe = 'Per-host mirroring status and the redundancy verdict (exit 0 OK, 3 DEGRADED); --watch to follow it live';
export const builder = (y: Argv) =>
  withJson(withSshOptions(withTargetOptions(y), { timeout: 5 }), 'print JSON instead of a table (with --watch: one JSON line per change)')
    .option('watch', { type: 'boolean', default: false, describe: 'show the status again every --interval seconds until Ctrl-C; when stdout is not a terminal, one block per change' })
    .option('interval', { type: 'number', requiresArg: true, describe: 'with --watch: seconds between rounds [default: 5]' })
    .option('count', { type: 'number', requiresArg: true, describe: 'with --watch: stop after this many rounds' })
    .check((a) => {
      const x = a as unknown as WatchArgs;
      if (x.interval !== undefined && (!Number.isFinite(x.interval) || x.interval < 0.5 || x.interval > 3600))
        throw new Error(`--interval ${String(x.interval)}: give the seconds between rounds, from 0.5 to 3600, e.g. --interval 5`);
      if (x.count !== undefined && (!Number.isInteger(x.count) || x.count < 1)) throw new Error(`--count ${String(x.count)}: give a whole number of rounds, 1 or more, e.g. --count 10`);
      if (!x.watch && (x.count !== undefined || x.interval !== undefined))
        throw new Error(`--${x.count !== undefined ? 'count' : 'interval'} is only for --watch; add --watch, or leave it out for one status`);
      return true;
    }) as unknown as Argv<Args>;

export async function handler(a: Args): Promise<void> {
  const t0 = Date.now();
  // Loaded here, not at the top: every tandem command loads every command file.
  const { fleetFrom } = await import('../hosts/run');
  const { observe } = await import('../status/collect');
  const { renderJson, renderTable } = await import('../status/render');
  const { assess } = await import('../status/verdict');
  const { target, fleet } = await fleetFrom(a, { progress: () => undefined });
  // One attempt per host: a monitor wants the answer within the timeout, not after retries.
  const once = () => observe(target.inventory, fleet.connect, { ...fleet.ssh, retries: 0 }, fleet.parallel);
  if (a.watch) return watch(a, target.inventory.customer, once);
  const v = assess(await once());
  process.stdout.write(`${a.json ? renderJson(target.inventory.customer, v, Date.now() - t0) : renderTable(v)}\n`);
  await recordRejoined(target, v.rows);
  if (!v.ok) throw new CommandError('', EXIT.degraded);
}

/**
 * A site fenced at a failover that is now an in-sync mirror at the live epoch has rejoined: its
 * `fenced:` entry leaves tandem:live in the stack file (told on stderr, like every live-layout write).
 */
async function recordRejoined(target: import('../hosts/target').Target, rows: readonly import('../status/verdict').HostRow[]): Promise<void> {
  if (!target.stackFile || !target.live?.fenced.length) return;
  const { clearRejoined, writeLive } = await import('../failover/live-store');
  const next = clearRejoined(
    target.live,
    rows.map((r) => ({ site: r.site, role: r.role, epoch: r.epoch, inSync: r.state === 'in-sync' })),
  );
  if (next) process.stderr.write(`rejoined as in-sync mirrors: ${target.live.fenced.filter((f) => !next.fenced.includes(f)).join(', ')}; ${writeLive(target.stackFile, next)}\n`);
}

/** Until --count rounds, Ctrl-C or SIGTERM; exits as the last round's verdict (0 OK, 3 DEGRADED). */
async function watch(a: Args, customer: string, once: () => Promise<import('../status/verdict').HostObservation[]>): Promise<void> {
  const { assess } = await import('../status/verdict');
  const { feederView, watchStatus } = await import('../status/watch');
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\ntandem status --watch: stopped (${sig})\n`);
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const r = await watchStatus({
      customer,
      intervalMs: (a.interval ?? 5) * 1000,
      count: a.count ?? null,
      tty: !!process.stdout.isTTY,
      json: a.json,
      write: (s) => process.stdout.write(s),
      signal: stop.signal,
      round: async () => {
        const obs = await once();
        return { verdict: assess(obs), ...feederView(obs), at: new Date() };
      },
    });
    if (r.last && !r.last.ok) throw new CommandError('', EXIT.degraded);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

export default { command, describe, builder, handler } satisfies CommandModule<object, Args>;
