/**
 * Owns the cold refresh cycle of a cold mirror (`tandem mirror refresh --site <s>`), so a cold
 * mirror never goes stale for weeks: power it on through the driver, wait for SSH with its pinned
 * key, let its agent catch up from its feeder until it reports in sync, power it off again. Each
 * step goes to the journal (kind "refresh"). The subcommand module is exported for
 * scripts/commands/mirror.ts to register.
 */
import type { Argv, CommandModule } from 'yargs';
import type { Inventory } from '../../model/inventory';
import { CommandError, EXIT } from '../errors';
import type { Connector, SshSettings } from '../hosts/remote';
import { outJson, withJson, withOneSite, withSshOptions, withTargetOptions, type JsonOption, type OneSite, type SshOptions, type TargetOptions } from '../options';
import type { AddressDriver } from './drivers/types';
import { probeHost, Sessions } from './hosts';
import { Journal, journalDir, renderTimeline, saveRecord, type JournalRecord } from './journal';
import { FailoverInputError } from './plan';

export async function coldRefresh(
  inv: Inventory,
  site: string,
  o: { connect: Connector; ssh: SshSettings; driver: () => AddressDriver; log: (l: string) => void; syncTimeoutMs?: number },
): Promise<{ record: JournalRecord; journalFile: string }> {
  const h = inv.hosts.find((x) => x.site === site);
  if (!h) throw new FailoverInputError(`--site ${site}: no such site in stack "${inv.customer}"; sites: ${inv.hosts.map((x) => x.site).join(', ')}`);
  if (h.role !== 'mirror') throw new FailoverInputError(`--site ${site}: ${site} is the master now; only a mirror is refreshed`);
  const driver = o.driver();
  const journal = new Journal(inv.customer, 'refresh', h.feedFrom ?? '?', site, null, o.log);
  const sessions = new Sessions(inv, o.connect, { ...o.ssh, retries: 0 });
  let ok = false;
  let error: string | null = null;
  try {
    await journal.step(
      `power on ${site}`,
      () => driver.powerOn(h),
      (s) => s.map((x) => x.detail).join('; '),
    );
    await journal.step(
      `wait for SSH on ${site}`,
      async () => {
        const until = Date.now() + 60_000;
        for (;;) {
          try {
            return await probeHost(await sessions.get(site), h, 10_000);
          } catch (e) {
            sessions.drop(site);
            if (Date.now() > until) throw e;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      },
      () => 'pinned host key verified',
    );
    await journal.step(
      `catch up ${site} from ${h.feedFrom}`,
      async () => {
        const until = Date.now() + (o.syncTimeoutMs ?? 300_000);
        const bootAt = Date.now();
        for (;;) {
          const p = await probeHost(await sessions.get(site), h, 10_000);
          const s = p.status;
          // In sync, by a status written after this power-on (not the one from before it went off).
          if (s && s.inSync && Date.parse(s.updatedAt) >= bootAt - 1000 && p.hostNow - Date.parse(s.updatedAt) < 5000) return s;
          if (Date.now() > until) throw new Error(`${site} did not report in sync within ${(o.syncTimeoutMs ?? 300_000) / 1000} s (last: ${s ? `inSync ${s.inSync}, lag ${s.lagS}` : 'no status'})`);
          await new Promise((r) => setTimeout(r, 500));
        }
      },
      (s) => `in sync, lag ${s.lagS ?? '-'} s`,
    );
    await sessions.closeAll();
    await journal.step(
      `power off ${site}`,
      () => driver.powerOff(h),
      (s) => s.map((x) => x.detail).join('; '),
    );
    ok = true;
  } catch (e) {
    error = (e as Error).message;
  } finally {
    await sessions.closeAll();
  }
  const record = journal.record(ok, error);
  return { record, journalFile: saveRecord(journalDir(inv.customer, inv.source), record) };
}

type Args = TargetOptions & SshOptions & OneSite & JsonOption;

/** `tandem mirror refresh --site <cold mirror>`: registered by scripts/commands/mirror.ts. */
export const refreshCommand: CommandModule<object, Args> = {
  command: 'refresh [file]',
  describe: 'Cold refresh of a mirror: power it on, let it catch up until in sync, power it off again',
  builder: (y: Argv) => withJson(withOneSite(withSshOptions(withTargetOptions(y)), 'the cold mirror to refresh')) as unknown as Argv<Args>,
  handler: async (a) => {
    const { fleetFrom } = await import('../hosts/run');
    const { driverFor } = await import('./drivers/index');
    const { target, fleet } = await fleetFrom(a, { progress: () => undefined });
    let r;
    try {
      r = await coldRefresh(target.inventory, a.site, { connect: fleet.connect, ssh: fleet.ssh, driver: () => driverFor(target.inventory), log: (l) => process.stderr.write(`${l}\n`) });
    } catch (e) {
      if (e instanceof FailoverInputError) throw new CommandError(`mirror refresh: ${e.message}; nothing was changed`, EXIT.usage);
      throw new CommandError(`mirror refresh: ${(e as Error).message}`, EXIT.failed);
    }
    if (a.json) outJson(r.record);
    else process.stdout.write(`${renderTimeline([r.record])}\n`);
    if (!r.record.ok) throw new CommandError(`mirror refresh FAILED: ${r.record.error}`, EXIT.failed);
  },
};
