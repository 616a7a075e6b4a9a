/**
 * The restricted sync keys. A parent (master or relay) feeds a child over SSH as the child's
 * `tandem` account with the parent's own key; on the child that key is authorized with
 *   restrict                     no pty, no port/agent/X11 forwarding, no ~/.ssh/rc
 *   command="<agent> receive"    whatever the client asks for, only the receiver runs; it reads
 *                                SSH_ORIGINAL_COMMAND and allows the frame receiver or an rsync
 *                                server confined to dataDir, nothing else (like rrsync)
 *   from="<parent address>"      the key is useless from anywhere but the parent
 * so a stolen sync key can at most feed that child's dataDir, from the parent's address.
 */
import { AGENT_HOME, HOST } from '../../agent/src/contract';
import { checkHostKey } from '../../model/topology/hostkey';
import type { Inventory, InventoryHost } from '../../model/inventory';

export const AGENT_JS = HOST.agentJs;
/** koffi.node beside agent.js: optional, only on hosts of the operator's platform (install.ts). */
export const FFI_NODE = HOST.ffiNode;
export const SYNC_KEY = HOST.key;
export const AUTHORIZED_KEYS = `${AGENT_HOME}/.ssh/authorized_keys`;

/** Addresses sshd's from= accepts without quoting trouble: IPv4/IPv6 (optionally CIDR) or a DNS name. */
const FROM_RE = /^([0-9A-Za-z.:-]+)(\/[0-9]{1,3})?$/;

export class KeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyError';
  }
}

/** Parses the `.pub` a host printed; throws naming the site when it is not one ed25519 key. */
export function parseSyncPublicKey(site: string, text: string): { type: string; body: string } {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length !== 1) throw new KeyError(`${site}: ${SYNC_KEY}.pub holds ${lines.length} lines, expected one public key; remove it and the private key, then install again`);
  const k = checkHostKey(lines[0]);
  if (!k.ok) throw new KeyError(`${site}: ${SYNC_KEY}.pub ${k.why}; remove it and the private key, then install again`);
  if (k.type !== 'ssh-ed25519') throw new KeyError(`${site}: the sync key is ${k.type}, expected ssh-ed25519; remove ${SYNC_KEY}* and install again`);
  return { type: k.type, body: lines[0].split(/\s+/)[1] };
}

/** A value inside an authorized_keys option's double quotes: sshd unescapes only \" there. */
function optQuote(v: string): string {
  if (/[\n\r\0]/.test(v)) throw new KeyError(`an authorized_keys option cannot hold a line break: ${JSON.stringify(v)}`);
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface AuthorizedKeyInput {
  /** The parent site whose key this is (comment only, for a person reading the file). */
  readonly parentSite: string;
  /** Address the parent connects from (the inventory's address of the parent). */
  readonly parentAddress: string;
  /** The parent's sync public key line as its host printed it. */
  readonly publicKey: string;
  /** Absolute path of node on the child. */
  readonly node: string;
}

export function authorizedKeyLine(i: AuthorizedKeyInput): string {
  if (!FROM_RE.test(i.parentAddress)) {
    throw new KeyError(`parent "${i.parentSite}" has address ${JSON.stringify(i.parentAddress)}, which cannot go in a from= restriction; use an IP address or host name`);
  }
  if (!i.node.startsWith('/')) throw new KeyError(`node path ${JSON.stringify(i.node)} must be absolute`);
  const k = parseSyncPublicKey(i.parentSite, i.publicKey);
  const opts = ['restrict', `command=${optQuote(`${i.node} ${AGENT_JS} receive`)}`, `from=${optQuote(i.parentAddress)}`];
  return `${opts.join(',')} ${k.type} ${k.body} tandem@${i.parentSite.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

/** An authorized_keys line that lets `x` ask this host for its epoch and nothing else. */
export function epochQueryLine(x: Pick<InventoryHost, 'site' | 'address'>, publicKey: string, node: string): string {
  const [type, body] = publicKey.trim().split(/\s+/);
  if (type !== 'ssh-ed25519' || !body || !/^[A-Za-z0-9.:-]+$/.test(x.address)) throw new Error(`${x.site}: cannot authorize its epoch query (key ${type}, address ${x.address})`);
  return `restrict,command="${node} ${AGENT_JS} epoch",from="${x.address}" ${type} ${body} tandem-epoch@${x.site}`;
}

/**
 * The hosts that may ask `site` for its epoch: every other host whose sync key is known, except
 * its feeder (whose key is already there with `receive`, which answers that too; sshd takes the
 * first line of a key). One rule for install and failover.
 */
export function epochAskers(inv: Pick<Inventory, 'hosts'>, site: string, keys: ReadonlyMap<string, string>): InventoryHost[] {
  const feeder = inv.hosts.find((h) => h.site === site)?.feedFrom ?? null;
  return inv.hosts.filter((x) => x.site !== site && x.site !== feeder && keys.has(x.site));
}

/**
 * The whole authorized_keys file of a host's tandem account: only install writes it (root's
 * file in a root-owned .ssh, so the account cannot replace it; see hostfiles.ts), and only sync
 * key of the host's parent goes in with the receive command, and every other host's sync key may
 * only ask for the epoch (a master that comes back checks with the others before it feeds
 * anyone: agent/src/fence.ts). Rewritten in full on every
 * install, so a key of a former parent does not linger after the topology changes.
 */
export function authorizedKeysFile(lines: readonly string[]): string {
  const head = '# Managed by `tandem agent install`: rewritten on every install; edits here are lost.\n';
  return head + lines.map((l) => `${l}\n`).join('');
}
