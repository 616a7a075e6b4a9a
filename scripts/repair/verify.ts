/**
 * Owns `tandem mirror verify`: is a mirror equal to its source (its feeder: the master or its
 * relay)? Nothing is changed anywhere. The source runs rsync's dry run with --checksum to the
 * mirror (./rsync.ts): each host hashes its own files, streamed, and only the list of what differs
 * comes back to the operator.
 *
 * The master keeps writing while this runs, so a first pass also lists changes still on their way
 * to the mirror. What is reported is what stays different: after the first pass, the mirror is
 * given until its agent has applied everything the source had when that pass started (its
 * receiver's `through`), then a second pass runs; a path is a difference only when both passes
 * list it AND the source's copy of it did not change between them. A path the source changed in
 * between is "changing" (listed apart, not a difference): its content is the agent's online
 * verify's to check, at the same point of the stream on both sides.
 */
import type { Inventory, InventoryHost } from '../../model/inventory';
import { asRoot } from '../hosts/hostfiles';
import { hostOf } from '../hosts/inventory-check';
import { tail, type Remote } from '../hosts/remote';
import { probeHost, Sessions } from '../failover/hosts';
import { sq } from '../ssh/quote';
import type { MirrorDifference, MirrorVerify, RepairContext } from './api';
import { differencesOf, parseItemizeLine, statsOf, type ItemizeLine } from './itemize';
import { parseRsyncOutput, rsyncScript } from './rsync';

/** Differences listed in full; the rest are counted in moreDifferences. */
export const MAX_LISTED = 1000;
const APPLY_WAIT_MS = 15_000;

export class RepairInputError extends Error {}

/** The mirror and its source, checked: a mirror of this inventory with a feeder. */
export function mirrorAndSource(inv: Inventory, site: string): { mirror: InventoryHost; source: InventoryHost } {
  const h = inv.hosts.find((x) => x.site === site);
  const mirrors = inv.hosts.filter((x) => x.role === 'mirror').map((x) => x.site);
  if (!h) throw new RepairInputError(`--site ${site}: no such site in stack "${inv.customer}"; mirrors: ${mirrors.join(', ') || 'none'}`);
  if (h.role !== 'mirror' || !h.feedFrom) {
    throw new RepairInputError(`--site ${site}: ${site} is the master now, and a master has no source to compare with; name a mirror (${mirrors.join(', ') || 'none'})`);
  }
  return { mirror: h, source: hostOf(inv, h.feedFrom) };
}

export interface Pass {
  readonly lines: ItemizeLine[];
  /** Itemize lines past the listing cap (counted, not read). */
  readonly unread: number;
  readonly files: number;
  readonly bytes: number;
  /** Bytes rsync sent (data and file list). */
  readonly sent: number;
  readonly startedAt: number;
}

/** One rsync pass, run on the source; throws naming the host when rsync itself failed. */
export async function rsyncPass(src: Remote, source: InventoryHost, mirror: InventoryHost, exclude: readonly string[], dryRun: boolean, timeoutMs: number): Promise<Pass> {
  const startedAt = Date.now();
  const script = rsyncScript({ dryRun, exclude, dataDir: source.dataDir, mirror });
  const res = await src.exec(asRoot(source.user, script), { timeoutMs });
  const out = parseRsyncOutput(res.stdout);
  // 24: files vanished on the source while rsync ran (the master keeps writing): not a failure.
  if (res.code !== 0 || (out.rc !== 0 && out.rc !== 24)) {
    throw new Error(
      `${source.site}: rsync ${dryRun ? '--dry-run ' : ''}to ${mirror.site} failed (exit ${out.rc >= 0 ? out.rc : res.code})${res.stderr.trim() ? `:\n    ${tail(res.stderr, 6).split('\n').join('\n    ')}` : ''}` +
        (/Host key verification failed|REMOTE HOST IDENTIFICATION/.test(res.stderr) ? `\n    ${mirror.site}'s host key is not the one the inventory pins` : '') +
        (/Permission denied|refused/.test(res.stderr) ? `\n    ${source.site}'s sync key is not authorized on ${mirror.site}: run tandem agent install` : ''),
    );
  }
  const lines = out.items.map(parseItemizeLine).filter((x): x is ItemizeLine => x !== null);
  const st = statsOf(out.stats);
  return { lines, unread: Math.max(0, out.lines - out.items.length), files: st.files, bytes: st.bytes, sent: st.sent, startedAt };
}

/** lstat of paths under a host's dataDir (by node, which every agent host has): a signature each, null when absent. */
export async function lstatMany(r: Remote, h: InventoryHost, paths: readonly string[], timeoutMs: number): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  if (!paths.length) return out;
  const js =
    'const fs=require("fs"),p=require("path");let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const [root,list]=JSON.parse(s);const o={};' +
    'for(const x of list){try{const t=fs.lstatSync(p.join(root,x));o[x]=[t.mode,t.size,t.mtimeMs,t.ctimeMs,t.ino].join(":")}catch{o[x]=null}}process.stdout.write(JSON.stringify(o))})';
  const res = await r.exec(asRoot(h.user, `node -e ${sq(js)}`), { stdin: JSON.stringify([h.dataDir, paths]), timeoutMs });
  if (res.code !== 0) throw new Error(`${h.site}: reading entries under ${h.dataDir} failed (exit ${res.code}): ${tail(res.stderr, 3)}`);
  const o = JSON.parse(res.stdout) as Record<string, string | null>;
  for (const p of paths) out.set(p, o[p] ?? null);
  return out;
}

/** Waits (bounded) until the mirror's agent has applied every change the master made before `t`. */
export async function waitApplied(r: Remote, h: InventoryHost, t: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const p = await probeHost(r, h, 10_000);
      if (p.receiver?.through !== null && p.receiver?.through !== undefined && p.receiver.through >= t) return true;
    } catch {
      /* no agent state: fall through to the deadline */
    }
    if (Date.now() > until) return false;
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** The differences one pass shows, with `type` told from `missing` by looking on the mirror. */
async function passDifferences(pass: Pass, mr: Remote, mirror: InventoryHost, timeoutMs: number): Promise<MirrorDifference[]> {
  const created = pass.lines.filter((l) => l.kind === 'new').map((l) => l.path);
  const here = await lstatMany(mr, mirror, created, timeoutMs);
  const exists = new Set([...here].filter(([, v]) => v !== null).map(([k]) => k));
  return differencesOf(pass.lines, exists);
}

export async function verifyWith(ctx: RepairContext, site: string, sessions: Sessions): Promise<MirrorVerify> {
  const t0 = Date.now();
  const { mirror, source } = mirrorAndSource(ctx.inventory, site);
  const timeoutMs = Math.max(ctx.ssh.timeoutMs, 1_800_000);
  const [sr, mr] = await Promise.all([sessions.get(source.site), sessions.get(mirror.site)]);
  ctx.log(`verify ${site}: comparing with its source ${source.site} (checksums on each host)`);
  const p1 = await rsyncPass(sr, source, mirror, ctx.inventory.exclude, true, timeoutMs);
  const d1 = await passDifferences(p1, mr, mirror, 60_000);
  ctx.log(`verify ${site}: pass 1: ${p1.files} entries, ${p1.bytes} bytes on ${source.site}; ${d1.length} differ${d1.length ? '' : ' (none)'}`);
  const result = (diffs: MirrorDifference[], pass: Pass, changing: string[], passes: number): MirrorVerify => ({
    site,
    source: source.site,
    equal: diffs.length === 0 && pass.unread === 0,
    filesCompared: pass.files,
    bytesCompared: pass.bytes,
    differences: diffs.slice(0, MAX_LISTED),
    moreDifferences: Math.max(0, diffs.length - MAX_LISTED) + pass.unread,
    changing: changing.slice(0, MAX_LISTED),
    passes,
    ms: Date.now() - t0,
  });
  if (!d1.length) return result([], p1, [], 1);
  const before = await lstatMany(
    sr,
    source,
    d1.map((d) => d.path),
    60_000,
  );
  // A paused feed brings nothing meanwhile: the mirror is compared with the source as it is.
  const feed = (await probeHost(sr, source, 10_000).catch(() => null))?.config;
  const paused = !!feed && (feed.paused || feed.pausedChildren.includes(site));
  const applied = paused || (await waitApplied(mr, mirror, p1.startedAt, APPLY_WAIT_MS));
  if (paused) ctx.log(`verify ${site}: ${source.site} does not feed ${site} now (paused): nothing is in flight`);
  if (!applied) ctx.log(`verify ${site}: its agent has not reported applying the source's changes up to pass 1 within ${APPLY_WAIT_MS / 1000} s; checking again anyway`);
  const p2 = await rsyncPass(sr, source, mirror, ctx.inventory.exclude, true, timeoutMs);
  const d2 = await passDifferences(p2, mr, mirror, 60_000);
  const after = await lstatMany(
    sr,
    source,
    d2.map((d) => d.path),
    60_000,
  );
  const first = new Map(d1.map((d) => [d.path, d] as const));
  const stays: MirrorDifference[] = [];
  const changing = new Set<string>();
  for (const d of d2) {
    if (first.has(d.path) && before.get(d.path) === after.get(d.path)) stays.push(d);
    else changing.add(d.path);
  }
  for (const d of d1) if (!stays.some((x) => x.path === d.path) && d2.some((x) => x.path === d.path)) changing.add(d.path);
  ctx.log(`verify ${site}: pass 2: ${stays.length} still differ${changing.size ? `, ${changing.size} changed on ${source.site} meanwhile (in flight)` : ''}`);
  return result(stays, p2, [...changing].sort(), 2);
}

export async function verifyMirror(ctx: RepairContext, site: string): Promise<MirrorVerify> {
  mirrorAndSource(ctx.inventory, site);
  const sessions = new Sessions(ctx.inventory, ctx.connect, ctx.ssh);
  try {
    return await verifyWith(ctx, site, sessions);
  } finally {
    await sessions.closeAll();
  }
}

/** The verdict as text lines (stdout of the command). */
export function renderVerify(v: MirrorVerify): string {
  const lines = [`${v.site} vs ${v.source}: ${v.equal ? 'EQUAL' : 'DIFFERENT'} (${v.filesCompared} entries, ${v.bytesCompared} bytes compared, ${(v.ms / 1000).toFixed(1)} s)`];
  for (const d of v.differences) lines.push(`  ${d.kind.padEnd(8)} ${d.path}`);
  if (v.moreDifferences) lines.push(`  ... and ${v.moreDifferences} more`);
  if (v.changing?.length)
    lines.push(
      `  (${v.changing.length} path${v.changing.length === 1 ? '' : 's'} changed on ${v.source} while verifying, not counted: ${v.changing.slice(0, 5).join(', ')}${v.changing.length > 5 ? ', ...' : ''})`,
    );
  return lines.join('\n');
}
