/**
 * Sessions to inventory hosts for the operator commands: the lab engineer's ssh2 wrapper
 * (scripts/ssh), every host key verified against the inventory. A mismatch is never retried and
 * names the host and both fingerprints.
 */
import type { Inventory } from '../../model/inventory';
import { HostKeyMismatchError, openSession } from '../ssh';
import type { Connector, Remote } from './remote';

export class HostKeyRefused extends Error {
  constructor(
    readonly site: string,
    readonly expected: string,
    readonly presented: string,
  ) {
    super(
      `${site}: REFUSED: the host key does not match the inventory: inventory pins ${expected}, ` +
        `the host presented ${presented}. Nothing was changed on ${site}. If the host was rebuilt, ` +
        'update its hostKey in the inventory (pulumi stack output inventory --json); otherwise someone may be intercepting the connection.',
    );
    this.name = 'HostKeyRefused';
  }
}

export function connectorFor(inv: Inventory): Connector {
  return async (host, ssh): Promise<Remote> => {
    try {
      const s = await openSession(inv, host.site, {
        identityFile: ssh.identity,
        readyTimeoutMs: ssh.timeoutMs,
        retries: ssh.retries ?? 1,
      });
      return { site: host.site, exec: (c, o) => s.exec(c, o), close: () => s.close() };
    } catch (e) {
      if (e instanceof HostKeyMismatchError) throw new HostKeyRefused(host.site, e.expected, e.presented);
      throw e;
    }
  };
}
