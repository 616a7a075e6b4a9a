/** Generated customers files: N inline topologies of mixed shapes, for the fleet tests and bench/fleet-plan.ts. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';

export const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH ops@laptop';
const HOSTKEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXzmpEDzbSOvRwmOP/N9WW0mlfWbLQuztrXZ+JpBpbu home-box';
const AWS = ['us-east-1', 'us-east-2', 'us-west-2', 'eu-west-1', 'eu-west-2', 'eu-central-1', 'ap-northeast-1', 'ap-southeast-1'];
const AZURE = ['westeurope', 'northeurope', 'uksouth', 'westus2', 'japaneast'];

/** Customer i's topology: the shape cycles through five, the regions through the lists. */
export function generatedTopology(i: number): Record<string, unknown> {
  const a = (k: number) => AWS[(i + k) % AWS.length];
  const z = (k: number) => AZURE[(i + k) % AZURE.length];
  const base = {
    dataDir: '/srv/trading',
    service: { start: 'systemctl start trader', stop: 'systemctl stop trader', healthPort: 8443 },
    adminCidrs: ['203.0.113.0/24'],
    adminKeys: [KEY],
  };
  switch (i % 5) {
    case 0:
      return {
        ...base,
        sites: [
          { name: 'm', role: 'master', provider: 'aws', region: a(0) },
          { name: 'r1', role: 'mirror', provider: 'aws', region: a(1), failover: 'hot' },
        ],
      };
    case 1:
      return {
        ...base,
        sites: [
          { name: 'm', role: 'master', provider: 'aws', region: a(0) },
          { name: 'r1', role: 'mirror', provider: 'aws', region: a(3) },
          { name: 'r2', role: 'mirror', provider: 'azure', region: z(0), failover: 'cold', relayVia: 'r1', bandwidthMbit: 50 },
        ],
      };
    case 2:
      return {
        ...base,
        sites: [
          { name: 'm', role: 'master', provider: 'azure', region: z(1) },
          { name: 'r1', role: 'mirror', provider: 'aws', region: a(2), failover: 'hot' },
        ],
      };
    case 3:
      return {
        ...base,
        dns: { zone: 'example.com', name: `trade-${i}.example.com` },
        sites: [
          { name: 'm', role: 'master', provider: 'aws', region: a(0) },
          { name: 'r1', role: 'mirror', provider: 'aws', region: a(4), failover: 'hot' },
          { name: 'r2', role: 'mirror', provider: 'aws', region: a(6), failover: 'cold' },
        ],
      };
    default:
      return {
        ...base,
        sites: [
          { name: 'm', role: 'master', provider: 'aws', region: a(0) },
          { name: 'r1', role: 'mirror', provider: 'aws', region: a(5) },
          { name: 'home', role: 'mirror', provider: 'offcloud', address: `198.51.100.${(i % 200) + 2}`, hostKey: HOSTKEY, user: 'trader', syncIntervalS: 300 },
        ],
      };
  }
}

export const customerId = (i: number) => `c${String(i + 1).padStart(3, '0')}`;

/** A customers file of `n` generated customers (ids c001, c002, ...); `extra` is merged into customer i. */
export function customersYaml(n: number, extra: (i: number) => Record<string, unknown> = () => ({})): string {
  return stringify({ customers: Array.from({ length: n }, (_, i) => ({ id: customerId(i), topology: generatedTopology(i), ...extra(i) })) });
}

export function writeCustomersFile(dir: string, n: number, extra?: (i: number) => Record<string, unknown>): string {
  const file = path.join(dir, 'customers.yaml');
  fs.writeFileSync(file, customersYaml(n, extra));
  return file;
}
