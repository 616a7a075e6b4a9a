/**
 * Rules for the topology-wide fields of a stack: tandem:customer, dataDir, exclude, service,
 * adminCidrs, adminKeys and dns. Each reads one value, reports what is wrong with it, and returns
 * it checked (undefined when it is not usable).
 */
import { checkCidr } from './cidr';
import { type Checker, isObj, show } from './checker';
import { checkHostKey } from './hostkey';
import { DNS_KEYS, SERVICE_KEYS } from './keys';
// Value rules shared with the inventory check (scripts/hosts/inventory-check.ts).
import { checkDataDir, checkExclude, CUSTOMER_RE } from './rules';
import type { DnsSpec, ServiceSpec } from './types';

export function readCustomer(check: Checker, v: unknown, stackName: string | undefined): string | undefined {
  if (typeof v !== 'string' || !CUSTOMER_RE.test(v)) {
    check.error('tandem:customer', `tandem:customer ${show(v)} is not allowed; use lowercase letters, digits and '-', starting with a letter or digit, at most 40 characters`);
    return undefined;
  }
  if (stackName !== undefined && stackName !== v) {
    check.error('tandem:customer', `tandem:customer "${v}" differs from the stack file's name Pulumi.${stackName}.yaml; rename the file to Pulumi.${v}.yaml or set tandem:customer to "${stackName}"`);
    return undefined;
  }
  return v;
}

export function readDataDir(check: Checker, v: unknown): string | undefined {
  if (v === undefined || v === null) {
    check.error('dataDir', `dataDir is missing; set it to the absolute path of the data to mirror, e.g. /srv/trading`);
    return undefined;
  }
  const r = checkDataDir(v);
  if (!r.ok) {
    check.error('dataDir', `dataDir ${show(v)} ${r.why}`);
    return undefined;
  }
  return r.value;
}

export function readExclude(check: Checker, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    check.error('exclude', `exclude ${show(v)} is not a list; write it as a list of patterns, e.g. ["*.tmp", "logs/**"]`);
    return [];
  }
  const out: string[] = [];
  v.forEach((p, i) => {
    const r = checkExclude(p);
    if (!r.ok) check.error(`exclude[${i}]`, `exclude[${i}] ${show(p)} ${r.why}`);
    else out.push(r.value);
  });
  return out;
}

export function readService(check: Checker, v: unknown): ServiceSpec | undefined {
  if (!isObj(v)) {
    check.error('service', `service is missing or not a mapping; give start, stop and healthPort, e.g. { start: "systemctl start trader", stop: "systemctl stop trader", healthPort: 8443 }`);
    return undefined;
  }
  check.unknownKeys(v, SERVICE_KEYS, 'service', ['config', 'tandem:topology', 'service']);
  const start = check.str(v, 'start', 'service', { required: true, hint: 'give the shell command that starts the trading platform, e.g. "systemctl start trader"' });
  const stop = check.str(v, 'stop', 'service', { required: true, hint: 'give the shell command that stops the trading platform, e.g. "systemctl stop trader"' });
  const healthPort = check.num(v, 'healthPort', 'service', { min: 1, max: 65535, integer: true, what: 'a TCP port' });
  if (v.healthPort === undefined || v.healthPort === null) {
    check.error('service.healthPort', `service.healthPort is missing; give the TCP port that answers when the platform is up, e.g. 8443`);
  }
  if (start === undefined || stop === undefined || healthPort === undefined) return undefined;
  return { start, stop, healthPort };
}

export function readAdminCidrs(check: Checker, v: unknown, allowOpenSsh: boolean): string[] | undefined {
  if (!Array.isArray(v) || v.length === 0) {
    check.error('adminCidrs', `adminCidrs ${show(v)} is not allowed; list the networks that may SSH in, e.g. [203.0.113.0/24]`);
    return undefined;
  }
  const out: string[] = [];
  let bad = false;
  v.forEach((c, i) => {
    const p = `adminCidrs[${i}]`;
    const r = typeof c === 'string' ? checkCidr(c) : { ok: false as const, why: 'is not a string' };
    if (!r.ok) {
      bad = true;
      check.error(p, `${p} ${show(c)} ${r.why}; write a CIDR such as 203.0.113.0/24 or 2001:db8::/32`);
      return;
    }
    if (r.prefix === 0 && !allowOpenSsh) {
      bad = true;
      check.error(p, `${p} "${c}" opens SSH to the whole internet; list your office or VPN networks instead, or set allowOpenSsh: true if you really mean it`);
      return;
    }
    out.push(c);
  });
  return bad ? undefined : out;
}

export function readAdminKeys(check: Checker, v: unknown): string[] | undefined {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    check.error('adminKeys', `adminKeys ${show(v)} is not a list; write it as a list of public key lines, e.g. ["ssh-ed25519 AAAA... you@laptop"]`);
    return undefined;
  }
  const out: string[] = [];
  let bad = false;
  v.forEach((k, i) => {
    const r = typeof k === 'string' ? checkHostKey(k) : { ok: false as const, why: `${show(k)} is not a key line` };
    if (!r.ok) {
      bad = true;
      check.error(`adminKeys[${i}]`, `adminKeys[${i}] ${r.why}; paste a whole public key line, e.g. the contents of ~/.ssh/id_ed25519.pub`);
    } else out.push((k as string).trim());
  });
  return bad ? undefined : out;
}

export function readDns(check: Checker, v: unknown): DnsSpec | null | undefined {
  if (v === undefined || v === null) return null;
  if (!isObj(v)) {
    check.error('dns', `dns ${show(v)} is not a mapping; write it as { zone: example.com, name: trade.acme.example.com }`);
    return undefined;
  }
  check.unknownKeys(v, DNS_KEYS, 'dns', ['config', 'tandem:topology', 'dns']);
  const HOST_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
  const zone = check.str(v, 'zone', 'dns', { required: true, hint: 'give the hosted zone, e.g. example.com' });
  const name = check.str(v, 'name', 'dns', { required: true, hint: 'give the record users connect to, e.g. trade.acme.example.com' });
  const ttl = check.num(v, 'ttl', 'dns', { min: 5, max: 86400, integer: true, what: 'the TTL in seconds' }) ?? 30;
  let ok = zone !== undefined && name !== undefined;
  if (zone !== undefined && !HOST_RE.test(zone.replace(/\.$/, ''))) {
    check.error('dns.zone', `dns.zone "${zone}" is not a domain name; write it like example.com`);
    ok = false;
  }
  if (name !== undefined && !HOST_RE.test(name.replace(/\.$/, ''))) {
    check.error('dns.name', `dns.name "${name}" is not a domain name; write it like trade.acme.example.com`);
    ok = false;
  } else if (zone !== undefined && name !== undefined && !name.replace(/\.$/, '').endsWith(`.${zone.replace(/\.$/, '')}`)) {
    check.error('dns.name', `dns.name "${name}" is not inside dns.zone "${zone}"; use a name ending in .${zone}`);
    ok = false;
  }
  return ok ? { zone: zone!.replace(/\.$/, ''), name: name!.replace(/\.$/, ''), ttl } : undefined;
}
