/**
 * Rules for each entry of `sites:` on its own: name, role, provider, region or address, host key,
 * sizes, failover mode, sync schedule, relay, lab caps. Relations between sites are cross-site.ts's.
 */
import { type Checker, isObj, show, type Obj } from './checker';
import { checkHostKey } from './hostkey';
import { LAB_KEYS, MASTER_ONLY, MIRROR_ONLY, SITE_KEYS, TARGET_KEYS } from './keys';
import { REGIONS } from './regions';
// Value rules shared with the inventory check (scripts/hosts/inventory-check.ts).
import { checkAddress, SITE_NAME_RE, USER_RE } from './rules';
import { closest } from './suggest';
import { COLD_REFRESH_MAX_H, DEFAULT_SIZES, DEFAULT_USERS, FAILOVER_MODES, PROVIDERS, ROLES, TICK_MS_MAX, TICK_MS_MIN, type FailoverMode, type LabSiteSpec, type Provider, type Site } from './types';

/** Every site that parsed, the raw entries, and whether all of them parsed. */
export function readSites(check: Checker, v: unknown, yp: (string | number)[]): { sites: Site[]; raw: Obj[]; complete: boolean } | undefined {
  if (!Array.isArray(v) || v.length === 0) {
    check.error('sites', `sites ${show(v)} is not allowed; list one master and at least one mirror`);
    return undefined;
  }
  const out: Site[] = [];
  v.forEach((raw, i) => {
    const s = readSite(check, raw, i, [...yp, 'sites', i]);
    if (s) out.push(s);
  });
  return { sites: out, raw: v.filter(isObj), complete: out.length === v.length };
}

function readSite(check: Checker, raw: unknown, i: number, yp: (string | number)[]): Site | undefined {
  const p = `sites[${i}]`;
  if (!isObj(raw)) {
    check.error(p, `${p} ${show(raw)} is not a mapping; each site has at least name, role and provider`);
    return undefined;
  }
  const errorsBefore = check.errorCount();
  check.unknownKeys(raw, SITE_KEYS, p, yp);

  const name = raw.name;
  if (typeof name !== 'string' || !SITE_NAME_RE.test(name)) {
    check.error(`${p}.name`, `${p}.name ${show(name)} is not allowed; use lowercase letters, digits and '-', starting with a letter, at most 20 characters`);
  }
  const role = raw.role;
  if (!ROLES.includes(role as never)) {
    check.error(`${p}.role`, `${p}.role ${show(role)} is not allowed; use one of: ${ROLES.join(', ')}`);
  }
  const provider = raw.provider;
  if (!PROVIDERS.includes(provider as never)) {
    const guess = typeof provider === 'string' ? closest(provider, PROVIDERS) : undefined;
    check.error(`${p}.provider`, `${p}.provider ${show(provider)} is not allowed; use one of: ${PROVIDERS.join(', ')}${guess ? ` (did you mean "${guess}"?)` : ''}`);
  }
  const prov = provider as Provider;

  let region: string | null = null;
  if (prov === 'aws' || prov === 'azure') {
    const r = raw.region;
    const table = REGIONS[prov];
    const word = prov === 'aws' ? 'AWS region' : 'Azure location';
    if (r === undefined || r === null) {
      check.error(`${p}.region`, `${p}.region is missing; an ${prov} site needs an ${word}, e.g. ${prov === 'aws' ? 'us-east-1' : 'westeurope'}`);
    } else if (typeof r !== 'string' || !(r in table)) {
      const guess = typeof r === 'string' ? closest(r, Object.keys(table)) : undefined;
      const other = prov === 'aws' ? AZURE_NOTE(r) : AWS_NOTE(r);
      check.error(`${p}.region`, `${p}.region ${show(r)} is not an ${word}${other}; ${guess ? `did you mean "${guess}"?` : `see the ${word}s list in docs/topology.md`}`);
    } else region = r;
    for (const k of ['address', 'hostKey']) {
      if (raw[k] !== undefined) {
        check.error(`${p}.${k}`, `${p}.${k} is only for offcloud sites; ${prov} gives the host its ${k === 'address' ? 'address' : 'host key'} — remove it`);
      }
    }
  } else if (prov === 'offcloud') {
    if (raw.region !== undefined) {
      check.error(`${p}.region`, `${p}.region is not for offcloud sites; remove it (an off-cloud box is reached by its address)`);
    }
    if (raw.address === undefined || raw.address === null) {
      check.error(`${p}.address`, `${p}.address is missing; an offcloud site needs the address tandem reaches it at, e.g. 198.51.100.7 or home.example.net`);
    } else if (typeof raw.address !== 'string' || !checkAddress(raw.address).ok) {
      check.error(`${p}.address`, `${p}.address ${show(raw.address)} is not an IP address or host name; write it like 198.51.100.7 or home.example.net`);
    }
    if (raw.hostKey === undefined || raw.hostKey === null) {
      check.error(
        `${p}.hostKey`,
        `${p}.hostKey is missing; pin the box's SSH host key: run "ssh-keyscan -t ed25519 <address>" on a trusted network, or "cat /etc/ssh/ssh_host_ed25519_key.pub" on the box, and paste the "ssh-ed25519 AAAA..." part`,
      );
    } else {
      const hk = typeof raw.hostKey === 'string' ? checkHostKey(raw.hostKey) : { ok: false as const, why: 'is not a string' };
      if (!hk.ok) {
        check.error(`${p}.hostKey`, `${p}.hostKey ${hk.why}; paste the key line "ssh-ed25519 AAAA..." from /etc/ssh/ssh_host_ed25519_key.pub on the box`);
      }
    }
    if (raw.user === undefined || raw.user === null) {
      check.error(`${p}.user`, `${p}.user is missing; an offcloud site needs the SSH user with sudo rights on the box, e.g. trader`);
    }
    for (const k of ['size', 'diskGb']) {
      if (raw[k] !== undefined) check.error(`${p}.${k}`, `${p}.${k} is not for offcloud sites; tandem does not size an off-cloud box — remove it`);
    }
  }
  if (raw.user !== undefined && raw.user !== null && (typeof raw.user !== 'string' || !USER_RE.test(raw.user))) {
    check.error(`${p}.user`, `${p}.user ${show(raw.user)} is not a Unix user name; use lowercase letters, digits, '_' and '-', e.g. trader`);
  }
  if (raw.size !== undefined && prov !== 'offcloud' && (typeof raw.size !== 'string' || !/^[A-Za-z0-9._-]+$/.test(raw.size))) {
    check.error(`${p}.size`, `${p}.size ${show(raw.size)} is not an instance size; write it like c6i.xlarge (AWS) or Standard_D4s_v5 (Azure)`);
  }
  const diskGb = check.num(raw, 'diskGb', p, { min: 8, max: 65536, integer: true, what: 'the data volume size in GiB' });
  const sshPort = check.num(raw, 'sshPort', p, { min: 1, max: 65535, integer: true, what: 'the SSH port' });

  if (role === 'master') {
    for (const k of MIRROR_ONLY) {
      if (raw[k] !== undefined) check.error(`${p}.${k}`, `${p}.${k} is only for mirrors; the master feeds the others — remove it from ${typeof name === 'string' ? `"${name}"` : p}`);
    }
    for (const k of TARGET_KEYS) {
      if (raw[k] !== undefined) {
        check.error(
          `${p}.${k}`,
          `${p}.${k} is only for mirrors (a failover's target is judged by it, and the master is not one); set it on the mirrors, or once for all of them at tandem:topology.${k}`,
        );
      }
    }
  }
  if (role === 'mirror') {
    for (const k of MASTER_ONLY) {
      if (raw[k] !== undefined) {
        check.error(
          `${p}.${k}`,
          `${p}.${k} is only for the master; its feeding daemon's tick sends changes to every continuous mirror — remove it from ${typeof name === 'string' ? `"${name}"` : p} and set it on the master site`,
        );
      }
    }
  }
  const tickMs =
    role === 'mirror' ? undefined : check.num(raw, 'tickMs', p, { min: TICK_MS_MIN, max: TICK_MS_MAX, integer: true, what: "tickMs (the master's sync tick in milliseconds; default 100)" });
  const siteTargets = role === 'master' ? {} : check.targets(raw, p);
  let failover: FailoverMode = 'warm';
  if (raw.failover !== undefined && raw.failover !== null) {
    if (!FAILOVER_MODES.includes(raw.failover as never)) {
      check.error(`${p}.failover`, `${p}.failover ${show(raw.failover)} is not allowed; use one of: ${FAILOVER_MODES.join(', ')} (default warm)`);
    } else failover = raw.failover as FailoverMode;
  }
  const syncIntervalS = check.num(raw, 'syncIntervalS', p, { min: 0, max: 86400, integer: true, what: 'syncIntervalS (0 = continuous, else seconds)' }) ?? 0;
  const bandwidthMbit = check.num(raw, 'bandwidthMbit', p, { min: 0.1, max: 100000, integer: false, what: 'bandwidthMbit (Mbit/s)' }) ?? null;
  const coldRefreshH = check.num(raw, 'coldRefreshH', p, { min: 1, max: COLD_REFRESH_MAX_H, integer: true, what: 'coldRefreshH (hours between refreshes of a cold mirror)' });
  if (coldRefreshH !== undefined && role === 'mirror' && failover !== 'cold') {
    check.error(
      `${p}.coldRefreshH`,
      `${p}.coldRefreshH is only for cold mirrors; ${typeof name === 'string' ? `"${name}"` : p} is ${failover} (running, kept current by the agent) — remove coldRefreshH, or set failover: cold`,
    );
  } else if (coldRefreshH !== undefined && prov === 'offcloud') {
    check.warn(
      `${p}.coldRefreshH`,
      `${p}.coldRefreshH: tandem cannot power an off-cloud box on, so pulumi up creates no schedule for ${typeof name === 'string' ? `"${name}"` : p}; run "tandem mirror refresh ${typeof name === 'string' ? name : '<site>'}" from cron on the operator's machine instead`,
    );
  }
  let relayVia: string | null = null;
  if (raw.relayVia !== undefined && raw.relayVia !== null) {
    if (typeof raw.relayVia !== 'string') check.error(`${p}.relayVia`, `${p}.relayVia ${show(raw.relayVia)} is not a site name; name the mirror this one receives from`);
    else relayVia = raw.relayVia;
  }
  let lab: LabSiteSpec = {};
  if (raw.lab !== undefined && raw.lab !== null) {
    if (!isObj(raw.lab)) check.error(`${p}.lab`, `${p}.lab ${show(raw.lab)} is not a mapping; write it as { linkMbit: 50 }`);
    else {
      check.unknownKeys(raw.lab, LAB_KEYS, `${p}.lab`, [...yp, 'lab']);
      const linkMbit = check.num(raw.lab, 'linkMbit', `${p}.lab`, { min: 0.1, max: 10000, integer: false, what: 'the lab link cap in Mbit/s' });
      const diskMb = check.num(raw.lab, 'diskMb', `${p}.lab`, { min: 16, max: 65536, integer: true, what: 'the lab data directory size in MiB' });
      lab = { ...(linkMbit !== undefined ? { linkMbit } : {}), ...(diskMb !== undefined ? { diskMb } : {}) };
    }
  }

  const errorsAfter = check.errorCount();
  if (errorsAfter > errorsBefore) return undefined;

  const base = {
    name: name as string,
    provider: prov,
    index: i,
    size: prov === 'offcloud' ? DEFAULT_SIZES.offcloud : ((raw.size as string | undefined) ?? DEFAULT_SIZES[prov]),
    diskGb: diskGb ?? 100,
    region,
    address: prov === 'offcloud' ? (raw.address as string) : null,
    hostKey: prov === 'offcloud' ? (raw.hostKey as string).trim().split(/\s+/).slice(0, 2).join(' ') : null,
    user: (raw.user as string | undefined) ?? (prov === 'offcloud' ? '' : DEFAULT_USERS[prov]),
    sshPort: sshPort ?? 22,
    lab,
  };
  if (role === 'master') return { ...base, role: 'master', ...(tickMs !== undefined ? { tickMs } : {}) };
  return { ...base, role: 'mirror', failover, syncIntervalS, relayVia, bandwidthMbit, ...(coldRefreshH !== undefined ? { coldRefreshH } : {}), ...siteTargets };
}

function AZURE_NOTE(r: unknown): string {
  return typeof r === 'string' && r in REGIONS.azure ? ` (it is an Azure location; set provider: azure for it)` : '';
}
function AWS_NOTE(r: unknown): string {
  return typeof r === 'string' && r in REGIONS.aws ? ` (it is an AWS region; set provider: aws for it)` : '';
}
