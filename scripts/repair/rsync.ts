/**
 * Owns the rsync run that `mirror verify` (dry run) and `mirror rebuild` start ON a mirror's
 * source, over the source's own sync key to the mirror's restricted account (the forced command
 * allows an rsync server confined to dataDir, write-only; agent/src/receive-cmd.ts). Each side
 * reads and hashes its own files: nothing of the tree passes through the operator's machine, and
 * memory stays rsync's file list. The flags are the seed's (agent/src/transport.ts rsyncPlan):
 * one policy for what is mirrored (safe links only, holes kept, the staging dir and the stack's
 * exclusions left out), plus --checksum, so content is compared, not size and time. Like a seed,
 * it runs at the lowest CPU and IO priority (nice 10, ionice idle: the agent's own, daemon.ts)
 * and within the site's bandwidthMbit.
 */
import type { InventoryHost } from '../../model/inventory';
import { HOST } from '../../agent/src/contract';
import { STAGING_DIR } from '../../agent/src/env';
import { sq } from '../ssh/quote';

export interface RsyncRun {
  /** List only (verify) or copy (rebuild). */
  readonly dryRun: boolean;
  readonly exclude: readonly string[];
  /** The source's dataDir. */
  readonly dataDir: string;
  /** The mirror, as the inventory pins it. */
  readonly mirror: Pick<InventoryHost, 'address' | 'sshPort' | 'hostKey' | 'bandwidthMbit'>;
  /** Itemize lines printed at most (the rest are counted). @default 20000 */
  readonly maxLines?: number;
}

export const SEED_NICE = 10;

/** rsync's arguments (without -e and the paths), as the seed's plus what a check needs. */
export function rsyncArgs(o: Pick<RsyncRun, 'dryRun' | 'exclude' | 'mirror'>): string[] {
  const args = [
    '-a',
    '--delete',
    '--numeric-ids',
    '--safe-links',
    '--sparse',
    '--checksum',
    `--partial-dir=/${STAGING_DIR}/rsync-partial`,
    `--temp-dir=/${STAGING_DIR}/rsync-tmp`,
    `--exclude=/${STAGING_DIR}/`,
    ...o.exclude.map((e) => `--exclude=${e}`),
    '--itemize-changes',
    '--stats',
  ];
  if (o.dryRun) args.unshift('--dry-run');
  else if (o.mirror.bandwidthMbit) args.push(`--bwlimit=${Math.max(1, Math.floor((o.mirror.bandwidthMbit * 1_000_000) / 8 / 1024))}`);
  return args;
}

/** ssh under rsync -e: the source's sync key, the mirror's pinned key only, nothing interactive. */
export function sshArgs(port: number, knownHosts: string): string {
  return [
    'ssh -T',
    `-i ${HOST.key}`,
    '-o BatchMode=yes',
    '-o IdentitiesOnly=yes',
    '-o StrictHostKeyChecking=yes',
    `-o UserKnownHostsFile=${knownHosts}`,
    '-o GlobalKnownHostsFile=/dev/null',
    '-o UpdateHostKeys=no',
    '-o ConnectTimeout=10',
    '-o ServerAliveInterval=5',
    '-o ServerAliveCountMax=3',
    '-o Compression=no',
    '-o LogLevel=ERROR',
    `-p ${port}`,
  ].join(' ');
}

/**
 * The shell run as root on the source. Prints `rc=<rsync exit>`, `lines=<itemize lines>`, then
 * the first maxLines itemize lines, then `--stats--` and rsync's stats; rsync's stderr tail goes
 * to stderr. The known_hosts file is written from the inventory for this run, so the mirror is
 * reached with the key the operator pins (a replaced host's new key included) and no other.
 */
export function rsyncScript(o: RsyncRun): string {
  const m = o.mirror;
  if (!m.hostKey) throw new Error(`the inventory pins no host key for the mirror at ${m.address}; tandem reaches a host only with its pinned key: add hostKey to the inventory`);
  const host = m.sshPort === 22 ? m.address : `[${m.address}]:${m.sshPort}`;
  const args = rsyncArgs(o).map(sq).join(' ');
  const max = o.maxLines ?? 20000;
  return `set -u
W=$(mktemp -d /tmp/tandem-repair.XXXXXX); trap 'rm -rf "$W"' EXIT
printf '%s\\n' ${sq(`${host} ${m.hostKey.trim()}`)} > "$W/known_hosts"
P="nice -n ${SEED_NICE}"; command -v ionice >/dev/null 2>&1 && ionice -c3 true 2>/dev/null && P="$P ionice -c3"
$P rsync ${args} -e "${sshArgs(m.sshPort, '$W/known_hosts')}" ${sq(`${o.dataDir.replace(/\/+$/, '')}/`)} ${sq(`tandem@${m.address}:/`)} > "$W/out" 2> "$W/err" < /dev/null
rc=$?
echo "rc=$rc"
sed -n '/^Number of files:/,$p' "$W/out" > "$W/stats"
sed '/^Number of files:/,$d' "$W/out" | grep -E '^(\\*deleting|[<>ch.][fdLDS][^ ]{9} )' > "$W/items" || true
echo "lines=$(wc -l < "$W/items")"
head -n ${max} "$W/items"
echo "--stats--"
cat "$W/stats"
tail -n 20 "$W/err" >&2
exit 0`;
}

export interface RsyncOutput {
  readonly rc: number;
  readonly lines: number;
  readonly items: string[];
  readonly stats: string;
}

export function parseRsyncOutput(stdout: string): RsyncOutput {
  const rc = /^rc=(\d+)$/m.exec(stdout);
  const lines = /^lines=\s*(\d+)$/m.exec(stdout);
  const [head, stats = ''] = stdout.split(/^--stats--$/m);
  const items = head.split('\n').filter((l) => l && !/^(rc|lines)=/.test(l));
  return { rc: rc ? Number(rc[1]) : -1, lines: lines ? Number(lines[1]) : items.length, items, stats };
}
