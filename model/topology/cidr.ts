import * as ipaddr from 'ipaddr.js';
import type { Topology } from './types';

export type CidrCheck = { ok: true; prefix: number; family: 4 | 6 } | { ok: false; why: string };

/** A CIDR is valid when it parses and has no host bits set (203.0.113.5/24 is a typo for .0/24). */
export function checkCidr(text: string): CidrCheck {
  if (!text.includes('/')) return { ok: false, why: 'has no prefix length (the "/24" part)' };
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let prefix: number;
  try {
    [addr, prefix] = ipaddr.parseCIDR(text);
  } catch {
    return { ok: false, why: 'is not a valid CIDR' };
  }
  const family = addr.kind() === 'ipv4' ? 4 : 6;
  const net = family === 4 ? ipaddr.IPv4.networkAddressFromCIDR(text).toString() : ipaddr.IPv6.networkAddressFromCIDR(text).toString();
  if (net !== addr.toString()) {
    return { ok: false, why: `has host bits set (did you mean ${net}/${prefix}?)` };
  }
  return { ok: true, prefix, family };
}

/** `1.2.3.4` -> `1.2.3.4/32`, `2001:db8::1` -> `2001:db8::1/128`; null for a host name. */
export function hostCidr(address: string): { cidr: string; family: 4 | 6 } | null {
  if (!ipaddr.isValid(address)) return null;
  const a = ipaddr.parse(address);
  return a.kind() === 'ipv4' ? { cidr: `${a.toString()}/32`, family: 4 } : { cidr: `${a.toString()}/128`, family: 6 };
}

/** Off-cloud sites addressed by host name: no firewall rule can admit them. */
export function offcloudPeersByName(t: Topology): string[] {
  return t.sites.filter((s) => s.provider === 'offcloud' && !hostCidr(s.address!)).map((s) => s.name);
}
