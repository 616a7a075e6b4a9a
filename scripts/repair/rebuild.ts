/**
 * Owns `tandem mirror rebuild`: a broken or corrupted mirror made equal to its source again while
 * the master keeps serving. Nothing on the master stops: its service is not touched, and its agent
 * keeps streaming to every mirror, this one included. The copy is rsync from the source (the
 * master, or the relay that feeds this mirror when that relay is itself in sync) with the seed's
 * flags and caps (./rsync.ts: nice 10, ionice idle, the site's bandwidthMbit) plus --checksum, so
 * a same-size, same-time corruption is found too. Then the mirror's agent must report in sync and
 * a verify (./verify.ts) must find it equal.
 */
import { asRoot, startScript } from '../hosts/hostfiles';
import { step } from '../hosts/remote';
import { probeHost, Sessions, type ReceiverView } from '../failover/hosts';
import { sq } from '../ssh/quote';
import type { RebuildResult, RepairContext } from './api';
import { mirrorAndSource, RepairInputError, rsyncPass, verifyWith } from './verify';

export interface RebuildOptions {
  /** How long the mirror may take to report in sync after the copy. @default 120000 */
  readonly syncTimeoutMs?: number;
}

/**
 * In sync by a status written recently (a stale status.json of a dead daemon does not count).
 * `receiving`: only what the site receives from its feeder (a relay's own children aside).
 */
export async function waitInSync(sessions: Sessions, ctx: RepairContext, site: string, sinceMs: number, timeoutMs: number, receiving = false): Promise<void> {
  const h = ctx.inventory.hosts.find((x) => x.site === site)!;
  const until = Date.now() + timeoutMs;
  let last = 'no status';
  for (;;) {
    try {
      const p = await probeHost(await sessions.get(site), h, 10_000);
      const s = p.status;
      if (s) last = `inSync ${s.inSync}, lag ${s.lagS ?? '-'} s${s.lastError ? `, last error: ${s.lastError}` : ''}`;
      const fresh = !!s && Date.parse(s.updatedAt) >= sinceMs - 1000 && p.hostNow - Date.parse(s.updatedAt) < 5000;
      const rs = p.receiver as (ReceiverView & { inSync?: boolean }) | null;
      const recvOk = !!rs && rs.inSync === true && p.hostNow - rs.updatedAt < 10_000;
      if (fresh && (s!.inSync || (receiving && recvOk))) return;
    } catch (e) {
      last = (e as Error).message;
      sessions.drop(site);
    }
    if (Date.now() > until) throw new Error(`${site} did not report in sync within ${timeoutMs / 1000} s after the copy (last: ${last}); see tandem status`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function rebuildMirror(ctx: RepairContext, site: string, o: RebuildOptions = {}): Promise<RebuildResult> {
  const t0 = Date.now();
  const { mirror, source } = mirrorAndSource(ctx.inventory, site);
  const sessions = new Sessions(ctx.inventory, ctx.connect, ctx.ssh);
  try {
    const [sr, mr] = await Promise.all([sessions.get(source.site), sessions.get(mirror.site)]);
    if (source.role === 'mirror') {
      // A relay that is behind or broken itself would copy its own damage: it must be in sync.
      const p = await probeHost(sr, source, 10_000);
      const s = p.status;
      if (!s || !s.inSync || p.hostNow - Date.parse(s.updatedAt) > 10_000) {
        throw new RepairInputError(
          `${site} is fed by the relay ${source.site}, which is not in sync (${s ? `inSync ${s.inSync}, lag ${s.lagS ?? '-'} s` : 'no agent status'}); rebuild it first: tandem mirror rebuild --site ${source.site}`,
        );
      }
    }
    // What the stream's receiver cannot write it cannot repair either: whatever landed in the
    // data dir under another owner (a restore, a person as root) goes back to the tandem account.
    await step(mr, 're-owning the data dir', asRoot(mirror.user, `D=${sq(mirror.dataDir)}; mkdir -p "$D" && chown -R tandem:tandem "$D"`), { timeoutMs: 600_000 });
    const cap = [`nice 10`, `ionice idle`, mirror.bandwidthMbit ? `${mirror.bandwidthMbit} Mbit/s` : 'link not capped (no bandwidthMbit on the site)'];
    ctx.log(`rebuild ${site}: copying what differs from ${source.site} (checksums on both hosts; ${cap.join(', ')}); the master keeps serving`);
    const started = Date.now();
    const beat = setInterval(() => ctx.log(`rebuild ${site}: copying from ${source.site}, ${Math.round((Date.now() - started) / 1000)} s`), 5000);
    let pass;
    try {
      pass = await rsyncPass(sr, source, mirror, ctx.inventory.exclude, false, 24 * 3600_000);
    } finally {
      clearInterval(beat);
    }
    ctx.log(`rebuild ${site}: copied in ${((Date.now() - started) / 1000).toFixed(1)} s: ${pass.lines.length} entries changed, ${pass.sent} bytes sent`);
    // A mirror whose agent was down (the broken host) gets it started again.
    const p = await probeHost(mr, mirror, 10_000);
    if (!p.status || p.hostNow - Date.parse(p.status.updatedAt) > 10_000) {
      ctx.log(`rebuild ${site}: its agent is not running; starting it`);
      await step(mr, 'starting the agent', asRoot(mirror.user, startScript(p.supervision, { restart: false, unitChanged: false })), { timeoutMs: 30_000 });
    }
    // In sync as a receiver: what this site takes from its feeder (a relay's own children are
    // checked next, by verify, rather than by their link state).
    await waitInSync(sessions, ctx, site, started, o.syncTimeoutMs ?? 120_000, true);
    // A relay passes on what its feeder streams, not what rsync wrote, and while it was broken its
    // own online verify may have "repaired" its children with its damage: each child is checked
    // against it now, and rebuilt from it when it differs.
    for (const child of ctx.inventory.hosts.filter((x) => x.feedFrom === site)) {
      const v = await verifyWith(ctx, child.site, sessions);
      if (v.equal) ctx.log(`rebuild ${site}: its child ${child.site} is equal to it`);
      else {
        ctx.log(`rebuild ${site}: its child ${child.site} differs (${v.differences.length + v.moreDifferences} entries): rebuilding it from ${site}`);
        await rebuildMirror(ctx, child.site, o);
      }
    }
    ctx.log(`rebuild ${site}: its agent reports in sync with ${source.site}; verifying`);
    const verify = await verifyWith(ctx, site, sessions);
    ctx.log(`rebuild ${site}: ${verify.equal ? 'verified equal' : `STILL DIFFERENT: ${verify.differences.length + verify.moreDifferences} entries`}`);
    return { site, source: source.site, bytesSent: pass.sent, ms: Date.now() - t0, verify };
  } finally {
    await sessions.closeAll();
  }
}
