/**
 * Validates an inventory that came from outside (a `pulumi stack output inventory --json` file,
 * or the lab's state file). Operations trust nothing they did not check: every problem is
 * reported with its field path, the value given, what is allowed, and how to fix it.
 */
import { checkHostKey } from '../../model/topology/hostkey';
import { REGIONS } from '../../model/topology/regions';
import { checkAddress, checkDataDir, checkExclude, CUSTOMER_RE, CUSTOMER_RULE, SITE_NAME_RE, SITE_NAME_RULE, USER_RE, USER_RULE } from '../../model/topology/rules';
import { COLD_REFRESH_MAX_H, FAILOVER_MODES, PROVIDERS, ROLES, TICK_MS_MAX, TICK_MS_MIN } from '../../model/topology/types';
import { INVENTORY_VERSION, type Inventory, type InventoryHost } from '../../model/inventory';

export interface InventoryIssue {
  readonly path: string;
  readonly message: string;
}

export type InventoryCheck = { ok: true; inventory: Inventory } | { ok: false; issues: InventoryIssue[] };

const FIX = 'regenerate it with `pulumi stack output inventory --json > inventory.json`';
/** For a value the topology would have refused: it was edited, or made by something else. */
const FIX_VALUE = 'correct it in the stack file (tandem validate checks it) and ' + FIX;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Checks the shape of an inventory and the relations operations rely on (one master, feedFrom
 * names a host, no feed cycles, pinned host keys parse). Unknown extra fields are allowed: a
 * newer provisioning side may add some.
 */
export function checkInventory(raw: unknown): InventoryCheck {
  const issues: InventoryIssue[] = [];
  const bad = (path: string, message: string) => issues.push({ path, message: `${path}: ${message}` });

  // `pulumi stack output --json` without a name prints every output; accept that shape too.
  if (isObj(raw) && !('hosts' in raw) && isObj(raw.inventory)) raw = raw.inventory;
  if (!isObj(raw)) {
    return { ok: false, issues: [{ path: '', message: `the inventory must be a JSON object, got ${show(raw)}; ${FIX}` }] };
  }
  const str = (o: Record<string, unknown>, key: string, path: string, opts: { nullable?: boolean; nonEmpty?: boolean } = {}) => {
    const v = o[key];
    if (v === null && opts.nullable) return;
    if (typeof v !== 'string' || (opts.nonEmpty !== false && v === '')) {
      bad(`${path}.${key}`.replace(/^\./, ''), `expected ${opts.nullable ? 'a string or null' : 'a non-empty string'}, got ${show(v)}`);
    }
  };
  const int = (o: Record<string, unknown>, key: string, path: string, min: number, max: number, nullable = false) => {
    const v = o[key];
    if (v === null && nullable) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      bad(`${path}.${key}`.replace(/^\./, ''), `expected an integer ${min}..${max}${nullable ? ' or null' : ''}, got ${show(v)}`);
    }
  };
  const oneOf = (o: Record<string, unknown>, key: string, path: string, allowed: readonly unknown[]) => {
    if (!allowed.includes(o[key])) {
      bad(`${path}.${key}`.replace(/^\./, ''), `is ${show(o[key])}; allowed: ${allowed.map((x) => show(x)).join(', ')}`);
    }
  };

  /**
   * The topology's own value rules (model/topology/rules.ts), applied to every value that ends
   * up in a remote script, an ssh argument or an authorized_keys option. Run before any host is
   * contacted: a bad value found on the fourth host used to leave three re-pointed.
   */
  const rule = (o: Record<string, unknown>, key: string, path: string, check: (v: unknown) => { ok: boolean; why?: string }) => {
    const v = o[key];
    if (typeof v !== 'string' || v === '') return; // str() reported it
    const r = check(v);
    if (!r.ok) bad(`${path}.${key}`.replace(/^\./, ''), `${show(v)} ${r.why}; ${FIX_VALUE}`);
  };
  const re = (pattern: RegExp, why: string) => (v: unknown) => (typeof v === 'string' && pattern.test(v) ? { ok: true } : { ok: false, why });

  if (raw.version !== INVENTORY_VERSION) {
    bad('version', `is ${show(raw.version)}; this tandem reads inventory version ${INVENTORY_VERSION}; upgrade tandem or ${FIX} with a matching one`);
  }
  str(raw, 'customer', '');
  rule(raw, 'customer', '', re(CUSTOMER_RE, `is not a customer name; ${CUSTOMER_RULE}`));
  oneOf(raw, 'source', '', ['pulumi', 'lab']);
  str(raw, 'dataDir', '');
  rule(raw, 'dataDir', '', checkDataDir);
  if (!Array.isArray(raw.exclude) || raw.exclude.some((x) => typeof x !== 'string')) bad('exclude', `expected a list of strings, got ${show(raw.exclude)}`);
  else {
    raw.exclude.forEach((x, i) => {
      const r = checkExclude(x);
      if (!r.ok) bad(`exclude[${i}]`, `${show(x)} ${r.why}; ${FIX_VALUE}`);
    });
  }
  if (!isObj(raw.service)) bad('service', `expected an object { start, stop, healthPort }, got ${show(raw.service)}`);
  else {
    str(raw.service, 'start', 'service');
    str(raw.service, 'stop', 'service');
    int(raw.service, 'healthPort', 'service', 1, 65535);
  }
  if (raw.vip !== null && raw.vip !== undefined) {
    if (!isObj(raw.vip)) bad('vip', `expected an object or null, got ${show(raw.vip)}`);
    else {
      oneOf(raw.vip, 'kind', 'vip', ['eip', 'public-ip', 'dns', 'lab']);
      str(raw.vip, 'address', 'vip');
      rule(raw.vip, 'address', 'vip', checkAddress);
      str(raw.vip, 'holder', 'vip');
      rule(raw.vip, 'holder', 'vip', re(SITE_NAME_RE, `is not a site name; ${SITE_NAME_RULE}`));
    }
  }
  if (raw.identityFile !== undefined && typeof raw.identityFile !== 'string') bad('identityFile', `expected a file path, got ${show(raw.identityFile)}`);

  if (!Array.isArray(raw.hosts) || raw.hosts.length === 0) {
    bad('hosts', `expected a non-empty list of hosts, got ${show(raw.hosts)}; ${FIX}`);
    return { ok: false, issues };
  }
  const hosts = raw.hosts as unknown[];
  const names = new Map<string, number>();
  hosts.forEach((h, i) => {
    const p = `hosts[${i}]`;
    if (!isObj(h)) {
      bad(p, `expected an object, got ${show(h)}`);
      return;
    }
    str(h, 'site', p);
    rule(h, 'site', p, re(SITE_NAME_RE, `is not a site name; ${SITE_NAME_RULE}`));
    if (typeof h.site === 'string') {
      if (names.has(h.site)) bad(`${p}.site`, `"${h.site}" is also hosts[${names.get(h.site)}].site; every site appears once`);
      else names.set(h.site, i);
    }
    oneOf(h, 'role', p, ROLES);
    oneOf(h, 'provider', p, PROVIDERS);
    str(h, 'region', p, { nullable: true });
    if (h.provider === 'offcloud' && h.region !== null) bad(`${p}.region`, `is ${show(h.region)}; an offcloud host has no region (null); ${FIX_VALUE}`);
    if ((h.provider === 'aws' || h.provider === 'azure') && typeof h.region === 'string' && !(h.region in REGIONS[h.provider])) {
      bad(`${p}.region`, `${show(h.region)} is not an ${h.provider === 'aws' ? 'AWS region' : 'Azure location'}; see the list in docs/topology.md; ${FIX_VALUE}`);
    }
    str(h, 'address', p);
    rule(h, 'address', p, checkAddress);
    int(h, 'sshPort', p, 1, 65535);
    str(h, 'user', p);
    rule(h, 'user', p, re(USER_RE, `is not a Unix user name; ${USER_RULE}`));
    oneOf(h, 'hostKeySource', p, ['pinned', 'generated', 'lab']);
    if (h.hostKey === null) {
      bad(`${p}.hostKey`, `is null: host "${String(h.site)}" has no pinned host key yet (it has not booted); wait for it to boot, then ${FIX}`);
    } else if (typeof h.hostKey !== 'string') {
      bad(`${p}.hostKey`, `expected "ssh-ed25519 AAAA...", got ${show(h.hostKey)}`);
    } else {
      const k = checkHostKey(h.hostKey);
      if (!k.ok) bad(`${p}.hostKey`, `${k.why}; ${FIX}`);
    }
    str(h, 'dataDir', p);
    rule(h, 'dataDir', p, checkDataDir);
    if (h.role === 'master') {
      if (h.feedFrom !== null) bad(`${p}.feedFrom`, `is ${show(h.feedFrom)}; the master receives from nobody (null)`);
      if (h.failover !== null) bad(`${p}.failover`, `is ${show(h.failover)}; the master has no failover mode (null)`);
    } else if (h.role === 'mirror') {
      oneOf(h, 'failover', p, FAILOVER_MODES);
      str(h, 'feedFrom', p);
      rule(h, 'feedFrom', p, re(SITE_NAME_RE, `is not a site name; ${SITE_NAME_RULE}`));
      int(h, 'syncIntervalS', p, 0, 7 * 86400);
    }
    int(h, 'bandwidthMbit', p, 1, 1_000_000, true);
    if (h.coldRefreshH !== undefined) {
      int(h, 'coldRefreshH', p, 1, COLD_REFRESH_MAX_H);
      if (h.role !== 'mirror' || h.failover !== 'cold')
        bad(
          `${p}.coldRefreshH`,
          `is set, but "${String(h.site)}" is ${h.role === 'mirror' ? `a ${String(h.failover)} mirror` : 'the master'}; only a cold mirror is refreshed on a schedule; ${FIX_VALUE}`,
        );
    }
    if (h.tickMs !== undefined) {
      int(h, 'tickMs', p, TICK_MS_MIN, TICK_MS_MAX);
      if (h.role !== 'master') bad(`${p}.tickMs`, `is set, but "${String(h.site)}" is a mirror; only the master's feeding daemon takes a tick; ${FIX_VALUE}`);
    }
    if (h.cloud !== undefined) checkHostCloud(h.cloud, h.provider, `${p}.cloud`, bad);
  });
  if (raw.vipCloud !== undefined) checkVipCloud(raw.vipCloud, isObj(raw.vip) ? raw.vip.kind : null, bad);
  if (issues.length) return { ok: false, issues };

  const inv = raw as unknown as Inventory;
  const masters = inv.hosts.filter((h) => h.role === 'master');
  if (masters.length !== 1) {
    bad('hosts', `has ${masters.length} masters (${masters.map((m) => m.site).join(', ') || 'none'}); exactly one host has role "master"`);
  }
  const bySite = new Map(inv.hosts.map((h) => [h.site, h] as const));
  if (inv.vip && !bySite.has(inv.vip.holder)) {
    bad('vip.holder', `is "${inv.vip.holder}", which is not a host here; hosts: ${[...bySite.keys()].join(', ')}; ${FIX}`);
  }
  inv.hosts.forEach((h, i) => {
    if (h.role !== 'mirror' || h.feedFrom === null) return;
    if (!bySite.has(h.feedFrom)) {
      bad(`hosts[${i}].feedFrom`, `is "${h.feedFrom}", which is not a host here; hosts: ${[...bySite.keys()].join(', ')}`);
      return;
    }
    // Walk towards the master; a loop means a relay chain that nothing feeds.
    const seen = new Set<string>([h.site]);
    let cur: InventoryHost | undefined = bySite.get(h.feedFrom);
    while (cur && cur.role === 'mirror') {
      if (seen.has(cur.site)) {
        bad(`hosts[${i}].feedFrom`, `"${h.site}" is fed through a loop (${[...seen, cur.site].join(' <- ')}); a relay chain must end at the master`);
        return;
      }
      seen.add(cur.site);
      cur = cur.feedFrom ? bySite.get(cur.feedFrom) : undefined;
    }
  });
  return issues.length ? { ok: false, issues } : { ok: true, inventory: inv };
}

/**
 * ARM resource id of one type: `/subscriptions/<id>/resourceGroups/<group>/providers/<type>/<name>`.
 * ARM compares ids case-insensitively; the type is matched with or without its plural `s`.
 */
function armId(type: string): (v: unknown) => boolean {
  const re = new RegExp(`^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/${type.replace('.', '\\.').replace(/s$/, 's?')}/[^/]+$`, 'i');
  return (v) => typeof v === 'string' && re.test(v);
}

type Bad = (path: string, message: string) => void;

/** Checks the string fields of `o` against their patterns, reporting each with the form expected. */
function fields(o: Record<string, unknown>, path: string, bad: Bad, want: Record<string, [(v: unknown) => boolean, string]>): void {
  for (const [k, [ok, form]] of Object.entries(want)) {
    if (!ok(o[k])) bad(`${path}.${k}`, `expected ${form}, got ${show(o[k])}; ${FIX}`);
  }
}
const matches = (re: RegExp) => (v: unknown) => typeof v === 'string' && re.test(v);

/**
 * `hosts[].cloud`: the provider ids the failover drivers act on. Checked before any driver runs:
 * a wrong id would move an address or power a machine that is not this host.
 */
function checkHostCloud(c: unknown, provider: unknown, path: string, bad: Bad): void {
  if (!isObj(c)) return bad(path, `expected an object { kind, ... } with the host's provider ids, got ${show(c)}; ${FIX}`);
  if (c.kind !== provider) return bad(`${path}.kind`, `is ${show(c.kind)}, but the host is on ${show(provider)}; ${FIX}`);
  if (c.kind === 'aws') {
    fields(c, path, bad, {
      instanceId: [matches(/^i-[0-9a-f]{8,17}$/), 'an EC2 instance id "i-0..."'],
      allocationId: [matches(/^eipalloc-[0-9a-f]{8,17}$/), 'an Elastic IP allocation id "eipalloc-0..."'],
    });
  } else if (c.kind === 'azure') {
    fields(c, path, bad, {
      vmId: [armId('Microsoft.Compute/virtualMachines'), 'a virtual machine resource id'],
      nicId: [armId('Microsoft.Network/networkInterfaces'), 'a network interface resource id'],
      ipConfigurationName: [matches(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/), "the name of the NIC's IP configuration"],
      publicIpId: [armId('Microsoft.Network/publicIPAddresses'), 'a public IP address resource id'],
    });
  } else bad(`${path}.kind`, `is ${show(c.kind)}; only aws and azure hosts carry provider ids; ${FIX}`);
}

/** `vipCloud`: where the service address lives; its kind must agree with `vip.kind`. */
function checkVipCloud(c: unknown, vipKind: unknown, bad: Bad): void {
  if (!isObj(c)) return bad('vipCloud', `expected an object { kind, ... } with the service address's provider ids, got ${show(c)}; ${FIX}`);
  const forVip: Record<string, string> = { eip: 'eip', 'public-ip': 'public-ip', route53: 'dns' };
  if (!(typeof c.kind === 'string' && c.kind in forVip)) return bad('vipCloud.kind', `is ${show(c.kind)}; allowed: "eip", "public-ip", "route53"; ${FIX}`);
  if (forVip[c.kind] !== vipKind) return bad('vipCloud.kind', `is ${show(c.kind)}, which does not go with vip.kind ${show(vipKind)}; ${FIX}`);
  if (c.kind === 'eip') {
    fields(c, 'vipCloud', bad, {
      allocationId: [matches(/^eipalloc-[0-9a-f]{8,17}$/), 'an Elastic IP allocation id "eipalloc-0..."'],
      region: [(v) => typeof v === 'string' && v in REGIONS.aws, 'an AWS region'],
    });
  } else if (c.kind === 'public-ip') {
    fields(c, 'vipCloud', bad, {
      publicIpId: [armId('Microsoft.Network/publicIPAddresses'), 'a public IP address resource id'],
      location: [(v) => typeof v === 'string' && v in REGIONS.azure, 'an Azure location'],
    });
  } else {
    fields(c, 'vipCloud', bad, {
      hostedZoneId: [matches(/^Z[A-Z0-9]{1,31}$/), 'a Route 53 hosted zone id "Z..."'],
      recordName: [(v) => typeof v === 'string' && checkAddress(v).ok, "the record's DNS name"],
      primarySetIdentifier: [matches(/^[A-Za-z0-9_.-]{1,128}$/), "the PRIMARY record's set identifier"],
      healthCheckId: [matches(/^[0-9a-zA-Z-]{1,64}$/), 'a Route 53 health check id'],
      ttl: [(v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2147483647, 'a TTL in seconds'],
    });
    if (c.secondary !== null) {
      if (!isObj(c.secondary)) bad('vipCloud.secondary', `expected null or { setIdentifier, address }, got ${show(c.secondary)}; ${FIX}`);
      else {
        fields(c.secondary, 'vipCloud.secondary', bad, {
          setIdentifier: [matches(/^[A-Za-z0-9_.-]{1,128}$/), "the SECONDARY record's set identifier"],
          address: [(v) => typeof v === 'string' && checkAddress(v).ok, "the SECONDARY record's address"],
        });
      }
    }
  }
}

export function describeInventoryIssues(source: string, issues: readonly InventoryIssue[]): string {
  return [`${source}: ${issues.length} problem${issues.length === 1 ? '' : 's'} in the inventory`, ...issues.map((i) => `  ${i.message}`)].join('\n');
}

/** Sites that `site` sends to, straight (not through a relay). */
export function childrenIn(inv: Inventory, site: string): InventoryHost[] {
  return inv.hosts.filter((h) => h.feedFrom === site);
}

export function hostOf(inv: Inventory, site: string): InventoryHost {
  const h = inv.hosts.find((x) => x.site === site);
  if (!h) throw new Error(`no host "${site}" in the inventory of "${inv.customer}"; hosts: ${inv.hosts.map((x) => x.site).join(', ')}`);
  return h;
}

/** Hosts in feed order: the master, then each relay level (so a parent is set up before its children). */
export function feedOrderOf(inv: Inventory): InventoryHost[] {
  const out = inv.hosts.filter((h) => h.role === 'master');
  for (let i = 0; i < out.length; i++) out.push(...childrenIn(inv, out[i].site));
  return out;
}
