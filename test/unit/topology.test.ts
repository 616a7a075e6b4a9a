import * as path from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { feedEdges, feedOrder, loadTopology, parseTopology, parseTopologyFile, topologyFromConfig, TopologyError, type Issue } from '../../model/topology';
import { AWS_REGIONS, AZURE_LOCATIONS } from '../../model/topology/regions';
import { summarize } from '../../model/topology/summary';
import { TICK_MS_MAX, TICK_MS_MIN } from '../../model/topology/types';
import { applyLive } from '../../model/live';
import * as contract from '../../agent/src/contract';

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICXzmpEDzbSOvRwmOP/N9WW0mlfWbLQuztrXZ+JpBpbu';

// Stack configs as parsed YAML, reshaped freely to break them on purpose.

type Obj = Record<string, any>;

/** A valid stack: AWS master, AWS mirror, Azure cold mirror relayed via the AWS mirror, a home box. */
function base(): Obj {
  return {
    config: {
      'tandem:customer': 'acme',
      'tandem:topology': {
        dataDir: '/srv/trading',
        exclude: ['*.tmp', 'logs/**'],
        service: { start: 'systemctl start trader', stop: 'systemctl stop trader', healthPort: 8443 },
        adminCidrs: ['203.0.113.0/24'],
        adminKeys: [`${HOST_KEY} ops@laptop`],
        dns: { zone: 'example.com', name: 'trade.acme.example.com' },
        sites: [
          { name: 'ny', role: 'master', provider: 'aws', region: 'us-east-1', size: 'c6i.xlarge', diskGb: 200 },
          { name: 'chi', role: 'mirror', provider: 'aws', region: 'us-east-2', failover: 'warm', syncIntervalS: 0 },
          { name: 'ams', role: 'mirror', provider: 'azure', region: 'westeurope', failover: 'warm', relayVia: 'chi', bandwidthMbit: 50 },
          { name: 'home', role: 'mirror', provider: 'offcloud', address: '198.51.100.7', hostKey: HOST_KEY, user: 'trader' },
        ],
      },
    },
  };
}

function topo(o: Obj): Obj {
  return o.config['tandem:topology'];
}

function run(mutate: (o: Obj) => void): { errors: string[]; warnings: string[]; issues: readonly Issue[] } {
  const o = base();
  mutate(o);
  const r = parseTopology(stringify(o), 'acme');
  return {
    errors: r.issues.filter((i) => i.severity === 'error').map((i) => i.message),
    warnings: r.issues.filter((i) => i.severity === 'warning').map((i) => i.message),
    issues: r.issues,
  };
}

describe('a valid stack', () => {
  it('parses with defaults filled in', () => {
    const r = parseTopology(stringify(base()), 'acme');
    expect(r.issues).toEqual([]);
    const t = r.topology!;
    expect(t.customer).toBe('acme');
    expect(t.allowOpenSsh).toBe(false);
    expect(t.dns).toEqual({ zone: 'example.com', name: 'trade.acme.example.com', ttl: 30 });
    const chi = t.sites.find((s) => s.name === 'chi')!;
    expect(chi).toMatchObject({ role: 'mirror', failover: 'warm', syncIntervalS: 0, relayVia: null, bandwidthMbit: null, size: 'c6i.large', diskGb: 100, user: 'ubuntu', sshPort: 22 });
    const home = t.sites.find((s) => s.name === 'home')!;
    expect(home).toMatchObject({ provider: 'offcloud', region: null, address: '198.51.100.7', hostKey: HOST_KEY, user: 'trader' });
    expect(t.sites.find((s) => s.name === 'ams')).toMatchObject({ user: 'tandem-admin', size: 'Standard_D2s_v5' });
  });

  it('knows who feeds whom', () => {
    const t = parseTopology(stringify(base()), 'acme').topology!;
    expect(feedEdges(t)).toEqual([
      { from: 'ny', to: 'chi' },
      { from: 'chi', to: 'ams' },
      { from: 'ny', to: 'home' },
    ]);
    expect(feedOrder(t).map((s) => s.name)).toEqual(['ny', 'chi', 'home', 'ams']);
  });

  it('treats relayVia: <the master> as receiving straight from the master', () => {
    const o = base();
    topo(o).sites[1].relayVia = 'ny';
    const t = parseTopology(stringify(o), 'acme').topology!;
    expect(t.sites[1]).toMatchObject({ relayVia: null });
  });

  it.each(['acme', 'globex', 'lab'])('example stack %s validates', (customer) => {
    const file = path.join(__dirname, '..', '..', 'stacks', `Pulumi.${customer}.yaml`);
    const { topology, issues } = loadTopology(file);
    expect(issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(topology.customer).toBe(customer);
  });
});

// Every rule: the mutation, and the exact error messages it must produce (and nothing else).
const errorCases: [string, (o: Obj) => void, string[]][] = [
  [
    'customer with capitals',
    (o) => {
      o.config['tandem:customer'] = 'Acme';
    },
    [`tandem:customer "Acme" is not allowed; use lowercase letters, digits and '-', starting with a letter or digit, at most 40 characters`],
  ],
  [
    'unknown tandem: key',
    (o) => {
      o.config['tandem:topolgy'] = {};
    },
    [`config.tandem:topolgy: unknown key (line 48); did you mean "tandem:topology"?`],
  ],
  [
    'unknown top-level key',
    (o) => {
      o.confg = {};
    },
    [`confg: unknown key (line 48); did you mean "config"?`],
  ],
  [
    'no master',
    (o) => {
      topo(o).sites[0].role = 'mirror';
    },
    [`sites has no master; mark exactly one site with role: master`],
  ],
  [
    'two masters',
    (o) => {
      const s = topo(o).sites[1];
      s.role = 'master';
      delete s.failover;
      delete s.syncIntervalS;
    },
    [`sites has 2 masters ("ny", "chi"); exactly one site may have role: master — make the others role: mirror`],
  ],
  [
    'no mirror',
    (o) => {
      topo(o).sites = [topo(o).sites[0]];
    },
    [`sites has no mirror; add at least one site with role: mirror in another region`],
  ],
  [
    'duplicate names',
    (o) => {
      topo(o).sites[2].name = 'chi';
      topo(o).sites[2].relayVia = undefined;
    },
    [`sites[2].name "chi" is already used by sites[1]; give every site its own name`],
  ],
  [
    'bad name',
    (o) => {
      topo(o).sites[1].name = 'Chicago_1';
      delete topo(o).sites[2].relayVia;
    },
    [`sites[1].name "Chicago_1" is not allowed; use lowercase letters, digits and '-', starting with a letter, at most 20 characters`],
  ],
  [
    'every mirror in the master region',
    (o) => {
      const t = topo(o);
      t.sites = [t.sites[0], { name: 'ny2', role: 'mirror', provider: 'aws', region: 'us-east-1' }];
    },
    [`sites[1].region "us-east-1" is the master's region; a mirror must be in another region (one in the master's region is allowed only beside one that is not)`],
  ],
  [
    'the only mirror in the master metro on another cloud',
    (o) => {
      const t = topo(o);
      t.sites = [t.sites[0], { name: 'va', role: 'mirror', provider: 'azure', region: 'eastus' }];
    },
    [
      `sites[1].region "eastus" is in Northern Virginia, the same metro as the master's aws us-east-1; a mirror must be in another region (one in the master's region is allowed only beside one that is not)`,
    ],
  ],
  [
    'unknown AWS region, near a real one',
    (o) => {
      topo(o).sites[1].region = 'us-east-3';
    },
    [`sites[1].region "us-east-3" is not an AWS region; did you mean "us-east-1"?`],
  ],
  [
    'Azure location on an aws site',
    (o) => {
      topo(o).sites[1].region = 'westeurope';
    },
    [`sites[1].region "westeurope" is not an AWS region (it is an Azure location; set provider: azure for it); see the AWS regions list in docs/topology.md`],
  ],
  [
    'unknown Azure location',
    (o) => {
      topo(o).sites[2].region = 'mars';
    },
    [`sites[2].region "mars" is not an Azure location; see the Azure locations list in docs/topology.md`],
  ],
  [
    'cloud site without region',
    (o) => {
      delete topo(o).sites[1].region;
    },
    [`sites[1].region is missing; an aws site needs an AWS region, e.g. us-east-1`],
  ],
  [
    'unknown provider',
    (o) => {
      topo(o).sites[1].provider = 'asw';
    },
    [`sites[1].provider "asw" is not allowed; use one of: aws, azure, offcloud (did you mean "aws"?)`],
  ],
  [
    'unknown role',
    (o) => {
      topo(o).sites[1].role = 'backup';
    },
    [`sites[1].role "backup" is not allowed; use one of: master, mirror`],
  ],
  [
    'relay to an unknown site',
    (o) => {
      topo(o).sites[2].relayVia = 'chj';
    },
    [`sites[2].relayVia "chj" is not a site in this stack; did you mean "chi"?`],
  ],
  [
    'relay to itself',
    (o) => {
      topo(o).sites[2].relayVia = 'ams';
    },
    [`sites[2].relayVia "ams" is the site itself; name another mirror to receive from, or remove relayVia to receive from the master`],
  ],
  [
    'relay cycle',
    (o) => {
      topo(o).sites[1].relayVia = 'ams';
    },
    [
      `sites[1].relayVia forms a cycle (chi -> ams -> chi) that never reaches the master; make one of them receive from the master (remove its relayVia)`,
      `sites[2].relayVia forms a cycle (ams -> chi -> ams) that never reaches the master; make one of them receive from the master (remove its relayVia)`,
    ],
  ],
  [
    'relay through a cold mirror',
    (o) => {
      topo(o).sites[1].failover = 'cold';
    },
    [`sites[2].relayVia "chi" is a cold mirror, powered off between syncs, so it cannot relay; relay through a hot or warm mirror, or remove relayVia`],
  ],
  [
    'offcloud without address, hostKey, user',
    (o) => {
      const s = topo(o).sites[3];
      delete s.address;
      delete s.hostKey;
      delete s.user;
    },
    [
      `sites[3].address is missing; an offcloud site needs the address tandem reaches it at, e.g. 198.51.100.7 or home.example.net`,
      `sites[3].hostKey is missing; pin the box's SSH host key: run "ssh-keyscan -t ed25519 <address>" on a trusted network, or "cat /etc/ssh/ssh_host_ed25519_key.pub" on the box, and paste the "ssh-ed25519 AAAA..." part`,
      `sites[3].user is missing; an offcloud site needs the SSH user with sudo rights on the box, e.g. trader`,
    ],
  ],
  [
    'offcloud host key cut short',
    (o) => {
      topo(o).sites[3].hostKey = HOST_KEY.slice(0, 60);
    },
    [`sites[3].hostKey has an ssh-ed25519 body of the wrong length (it looks cut short); paste the key line "ssh-ed25519 AAAA..." from /etc/ssh/ssh_host_ed25519_key.pub on the box`],
  ],
  [
    'offcloud host key of another type under the ed25519 label',
    (o) => {
      topo(o).sites[3].hostKey = 'ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7';
    },
    [`sites[3].hostKey is labelled "ssh-ed25519" but its body is a "ssh-rsa" key; paste the key line "ssh-ed25519 AAAA..." from /etc/ssh/ssh_host_ed25519_key.pub on the box`],
  ],
  [
    'offcloud host key truncated mid-base64',
    (o) => {
      topo(o).sites[3].hostKey = HOST_KEY.slice(0, 61);
    },
    [`sites[3].hostKey has a key body that is not base64 (it looks cut short or mangled); paste the key line "ssh-ed25519 AAAA..." from /etc/ssh/ssh_host_ed25519_key.pub on the box`],
  ],
  [
    'offcloud host key with an unknown type',
    (o) => {
      topo(o).sites[3].hostKey = 'ssh-dss AAAAB3NzaC1kc3M=';
    },
    [
      `sites[3].hostKey has key type "ssh-dss", which is not an SSH host key type (ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa); paste the key line "ssh-ed25519 AAAA..." from /etc/ssh/ssh_host_ed25519_key.pub on the box`,
    ],
  ],
  [
    'offcloud with a region',
    (o) => {
      topo(o).sites[3].region = 'us-east-1';
    },
    [`sites[3].region is not for offcloud sites; remove it (an off-cloud box is reached by its address)`],
  ],
  [
    'address on a cloud site',
    (o) => {
      topo(o).sites[1].address = '192.0.2.1';
    },
    [`sites[1].address is only for offcloud sites; aws gives the host its address — remove it`],
  ],
  [
    'two sites at one address',
    (o) => {
      topo(o).sites.push({ name: 'home2', role: 'mirror', provider: 'offcloud', address: '198.51.100.7', hostKey: HOST_KEY, user: 'trader' });
    },
    [`sites[4].address "198.51.100.7" is also the address of "home"; two sites on one box are no redundancy — give each its own box`],
  ],
  [
    // Dotted quads are parsed as IPv4 (ipaddr.js), not matched by pattern: an octet above 255 is refused.
    'offcloud address with an octet out of range',
    (o) => {
      topo(o).sites[3].address = '999.1.1.1';
    },
    [`sites[3].address "999.1.1.1" is not an IP address or host name; write it like 198.51.100.7 or home.example.net`],
  ],
  [
    'invalid CIDR',
    (o) => {
      topo(o).adminCidrs = ['203.0.113.0/33'];
    },
    [`adminCidrs[0] "203.0.113.0/33" is not a valid CIDR; write a CIDR such as 203.0.113.0/24 or 2001:db8::/32`],
  ],
  [
    'CIDR with host bits',
    (o) => {
      topo(o).adminCidrs = ['203.0.113.7/24'];
    },
    [`adminCidrs[0] "203.0.113.7/24" has host bits set (did you mean 203.0.113.0/24?); write a CIDR such as 203.0.113.0/24 or 2001:db8::/32`],
  ],
  [
    'SSH open to the world',
    (o) => {
      topo(o).adminCidrs = ['0.0.0.0/0'];
    },
    [`adminCidrs[0] "0.0.0.0/0" opens SSH to the whole internet; list your office or VPN networks instead, or set allowOpenSsh: true if you really mean it`],
  ],
  [
    'IPv6 open to the world',
    (o) => {
      topo(o).adminCidrs = ['::/0'];
    },
    [`adminCidrs[0] "::/0" opens SSH to the whole internet; list your office or VPN networks instead, or set allowOpenSsh: true if you really mean it`],
  ],
  [
    'no adminCidrs',
    (o) => {
      topo(o).adminCidrs = [];
    },
    [`adminCidrs [] is not allowed; list the networks that may SSH in, e.g. [203.0.113.0/24]`],
  ],
  [
    'negative disk',
    (o) => {
      topo(o).sites[0].diskGb = -5;
    },
    [`sites[0].diskGb -5 is not allowed; the data volume size in GiB must be a whole number from 8 to 65536`],
  ],
  [
    'fractional disk',
    (o) => {
      topo(o).sites[0].diskGb = 100.5;
    },
    [`sites[0].diskGb 100.5 is not allowed; the data volume size in GiB must be a whole number from 8 to 65536`],
  ],
  [
    'negative interval',
    (o) => {
      topo(o).sites[1].syncIntervalS = -1;
    },
    [`sites[1].syncIntervalS -1 is not allowed; syncIntervalS (0 = continuous, else seconds) must be a whole number from 0 to 86400`],
  ],
  [
    'fractional interval',
    (o) => {
      topo(o).sites[1].syncIntervalS = 2.5;
    },
    [`sites[1].syncIntervalS 2.5 is not allowed; syncIntervalS (0 = continuous, else seconds) must be a whole number from 0 to 86400`],
  ],
  [
    'interval as a string',
    (o) => {
      topo(o).sites[1].syncIntervalS = '300';
    },
    [`sites[1].syncIntervalS "300" is not allowed; syncIntervalS (0 = continuous, else seconds) must be a whole number from 0 to 86400`],
  ],
  [
    'zero bandwidth',
    (o) => {
      topo(o).sites[2].bandwidthMbit = 0;
    },
    [`sites[2].bandwidthMbit 0 is not allowed; bandwidthMbit (Mbit/s) must be a number from 0.1 to 100000`],
  ],
  [
    'health port out of range',
    (o) => {
      topo(o).service.healthPort = 70000;
    },
    [`service.healthPort 70000 is not allowed; a TCP port must be a whole number from 1 to 65535`],
  ],
  [
    'service without stop',
    (o) => {
      delete topo(o).service.stop;
    },
    [`service.stop is missing; give the shell command that stops the trading platform, e.g. "systemctl stop trader"`],
  ],
  [
    'mirror-only field on the master',
    (o) => {
      topo(o).sites[0].failover = 'hot';
    },
    [`sites[0].failover is only for mirrors; the master feeds the others — remove it from "ny"`],
  ],
  [
    'bad failover mode',
    (o) => {
      topo(o).sites[1].failover = 'lukewarm';
    },
    [`sites[1].failover "lukewarm" is not allowed; use one of: hot, warm, cold (default warm)`],
  ],
  [
    'unknown site key with a typo',
    (o) => {
      topo(o).sites[1].relayvia = 'ny';
    },
    [`sites[1].relayvia: unknown key (line 34); did you mean "relayVia"?`],
  ],
  [
    'unknown topology key',
    (o) => {
      topo(o).dataDirs = '/x';
    },
    [`dataDirs: unknown key (line 48); did you mean "dataDir"?`],
  ],
  [
    'unknown key, nothing close',
    (o) => {
      topo(o).sites[1].colour = 'blue';
    },
    [
      `sites[1].colour: unknown key (line 34); allowed keys: name, role, provider, region, size, diskGb, failover, syncIntervalS, relayVia, bandwidthMbit, coldRefreshH, tickMs, rtoTargetS, rpoTargetS, address, hostKey, user, sshPort, lab`,
    ],
  ],
  [
    'relative dataDir',
    (o) => {
      topo(o).dataDir = 'srv/trading';
    },
    [`dataDir "srv/trading" is not allowed; use an absolute path below /, e.g. /srv/trading`],
  ],
  [
    'dataDir over a system directory',
    (o) => {
      topo(o).dataDir = '/etc/trader';
    },
    [`dataDir "/etc/trader" overlaps the system directory /etc; use a directory of its own, e.g. /srv/trading`],
  ],
  [
    'dataDir with ..',
    (o) => {
      topo(o).dataDir = '/srv/../etc';
    },
    [`dataDir "/srv/../etc" is not allowed; use a plain normalized path of letters, digits, '.', '_', '-' and '/' (no "..", spaces, quotes or shell characters), e.g. /etc`],
  ],
  [
    'dns name outside its zone',
    (o) => {
      topo(o).dns.name = 'trade.acme.example.org';
    },
    [`dns.name "trade.acme.example.org" is not inside dns.zone "example.com"; use a name ending in .example.com`],
  ],
  [
    'customer differs from the file name',
    (o) => {
      o.config['tandem:customer'] = 'globex';
    },
    [`tandem:customer "globex" differs from the stack file's name Pulumi.acme.yaml; rename the file to Pulumi.globex.yaml or set tandem:customer to "acme"`],
  ],
  [
    'admin key that is not a key line',
    (o) => {
      topo(o).adminKeys = ['my-laptop-key'];
    },
    [`adminKeys[0] "my-laptop-key" is not a key line (expected "<type> <base64>"); paste a whole public key line, e.g. the contents of ~/.ssh/id_ed25519.pub`],
  ],
  [
    'admin keys not a list',
    (o) => {
      topo(o).adminKeys = HOST_KEY;
    },
    [`adminKeys "${HOST_KEY}" is not a list; write it as a list of public key lines, e.g. ["ssh-ed25519 AAAA... you@laptop"]`],
  ],
  [
    'tickMs on a mirror',
    (o) => {
      topo(o).sites[1].tickMs = 50;
    },
    [`sites[1].tickMs is only for the master; its feeding daemon's tick sends changes to every continuous mirror — remove it from "chi" and set it on the master site`],
  ],
  ...([0, 5, 1001, 'fast', 50.5] as const).map((v): [string, (o: Obj) => void, string[]] => [
    `tickMs ${JSON.stringify(v)} on the master`,
    (o) => {
      topo(o).sites[0].tickMs = v;
    },
    [`sites[0].tickMs ${JSON.stringify(v)} is not allowed; tickMs (the master's sync tick in milliseconds; default 100) must be a whole number from 20 to 1000`],
  ]),
  [
    'lab link cap zero',
    (o) => {
      topo(o).sites[1].lab = { linkMbit: 0 };
    },
    [`sites[1].lab.linkMbit 0 is not allowed; the lab link cap in Mbit/s must be a number from 0.1 to 10000`],
  ],
];

describe('every rule reports its exact message', () => {
  it.each(errorCases)('%s', (_name, mutate, expected) => {
    const r = run(mutate);
    expect(r.errors).toEqual(expected);
    expect(r.issues.every((i) => i.message.startsWith(i.path) || i.path === 'yaml' || i.path === 'sites')).toBe(true);
  });
});

describe("tickMs: the master's sync tick", () => {
  const parsed = (tickMs?: unknown) => {
    const o = base();
    if (tickMs !== undefined) topo(o).sites[0].tickMs = tickMs;
    return parseTopology(stringify(o), 'acme');
  };
  it('is absent by default (the agent uses its own 100 ms), and the summary says nothing of it', () => {
    const r = parsed();
    expect(r.issues).toEqual([]);
    const ny = r.topology!.sites[0];
    expect(ny.role).toBe('master');
    expect('tickMs' in ny).toBe(false);
    expect(summarize(r.topology!)).not.toContain('tick');
  });
  it.each([20, 50, 1000])('is accepted on the master: %i', (v) => {
    const r = parsed(v);
    expect(r.issues).toEqual([]);
    expect(r.topology!.sites[0]).toMatchObject({ role: 'master', tickMs: v });
    expect(summarize(r.topology!)).toMatch(new RegExp(`^ny .*source, tick ${v} ms$`, 'm'));
  });
  it('a failover gives it to the live master and takes it from the demoted one', () => {
    const t = parsed(50).topology!;
    const now = applyLive(t, { epoch: 2, master: 'chi', at: '2026-12-02T21:40:00.000Z', reason: 'test', fenced: [] });
    expect(now.sites.find((s) => s.name === 'chi')).toMatchObject({ role: 'master', tickMs: 50 });
    expect('tickMs' in now.sites.find((s) => s.name === 'ny')!).toBe(false);
    const without = applyLive(parsed().topology!, { epoch: 2, master: 'chi', at: '2026-12-02T21:40:00.000Z', reason: 'test', fenced: [] });
    expect(without.sites.every((s) => !('tickMs' in s))).toBe(true);
  });
  it("the model's bounds are the agent contract's", () => {
    expect([TICK_MS_MIN, TICK_MS_MAX]).toEqual([contract.TICK_MS_MIN, contract.TICK_MS_MAX]);
  });
});

describe('SSH open to the world with the explicit opt-in', () => {
  it('is allowed', () => {
    const r = run((o) => {
      topo(o).adminCidrs = ['0.0.0.0/0'];
      topo(o).allowOpenSsh = true;
    });
    expect(r.errors).toEqual([]);
  });
});

describe('a mirror in the master region beside one outside it', () => {
  it('is allowed', () => {
    const r = run((o) => {
      topo(o).sites.push({ name: 'ny2', role: 'mirror', provider: 'aws', region: 'us-east-1', failover: 'hot' });
    });
    expect(r.errors).toEqual([]);
  });
});

describe('warnings', () => {
  it.each<[string, (o: Obj) => void, string[]]>([
    [
      'continuous mirror under 10 Mbit/s names the expected lag',
      (o) => {
        topo(o).sites[2].bandwidthMbit = 4;
      },
      [
        `sites[2] "ams" syncs continuous over a 4 Mbit/s cap: expect about 2.1 s of lag for every MiB changed in a burst (a 100 MiB burst: about 3 min); raise bandwidthMbit to 10 or more, or set syncIntervalS to 60 or more to batch`,
      ],
    ],
    [
      'sub-minute interval under 10 Mbit/s',
      (o) => {
        topo(o).sites[1].bandwidthMbit = 2;
        topo(o).sites[1].syncIntervalS = 30;
      },
      [
        `sites[2].relayVia "chi" syncs every 30 s, so "ams" will lag by up to that much whatever its own syncIntervalS; relay through a continuous mirror for less lag`,
        `sites[1] "chi" syncs every 30 s over a 2 Mbit/s cap: expect about 4.2 s of lag for every MiB changed in a burst (a 100 MiB burst: about 7 min); raise bandwidthMbit to 10 or more, or set syncIntervalS to 60 or more to batch`,
        `sites[2] "ams" syncs continuous over a 2 Mbit/s cap: expect about 4.2 s of lag for every MiB changed in a burst (a 100 MiB burst: about 7 min); raise bandwidthMbit to 10 or more, or set syncIntervalS to 60 or more to batch`,
      ],
    ],
    [
      'hot mirror on an interval',
      (o) => {
        topo(o).sites[1].failover = 'hot';
        topo(o).sites[1].syncIntervalS = 300;
      },
      [
        `sites[2].relayVia "chi" syncs every 300 s, so "ams" will lag by up to that much whatever its own syncIntervalS; relay through a continuous mirror for less lag`,
        `sites[1] "chi" is a hot mirror that syncs every 300 s: a failover can lose up to 5 min of data; hot mirrors are normally continuous (syncIntervalS: 0)`,
      ],
    ],
  ])('%s', (_name, mutate, expected) => {
    const r = run(mutate);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual(expected);
  });

  it('a cloud stack without admin keys is warned about (pulumi up refuses it; the lab does not care)', () => {
    const r = run((o) => {
      delete topo(o).adminKeys;
    });
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([
      'adminKeys is empty: nobody could log in to the cloud hosts `pulumi up` creates, so it will refuse; add your public key, e.g. adminKeys: ["ssh-ed25519 AAAA... you@laptop"] (the local lab does not need it)',
    ]);
  });

  it('a 5-minute interval on a slow link is not warned about', () => {
    const r = run((o) => {
      topo(o).sites[3].bandwidthMbit = 2;
      topo(o).sites[3].syncIntervalS = 300;
    });
    expect(r.warnings).toEqual([]);
  });
});

describe('every problem at once', () => {
  it('reports problems in different sites and sections together', () => {
    const r = run((o) => {
      topo(o).adminCidrs = ['0.0.0.0/0'];
      topo(o).sites[0].regoin = 'us-east-1';
      delete topo(o).sites[0].region;
      topo(o).sites[2].relayVia = 'chj';
      topo(o).sites[3].hostKey = 'nonsense';
    });
    expect(r.issues.map((i) => i.path)).toEqual(['adminCidrs[0]', 'sites[0].regoin', 'sites[0].region', 'sites[3].hostKey', 'sites[2].relayVia']);
  });
});

describe('YAML syntax errors', () => {
  it.each<[string, string, string[]]>([
    [
      'bad indentation',
      'config:\n  tandem:customer: acme\n  tandem:topology:\n    dataDir: /srv\n   sites: []\n',
      ["YAML syntax error at line 5, column 1: All mapping items must start at the same column; fix the file's indentation or quoting there"],
    ],
    ['duplicate key', 'config:\n  tandem:customer: acme\n  tandem:customer: b\n', ["YAML syntax error at line 3, column 3: Map keys must be unique; fix the file's indentation or quoting there"]],
    ['unclosed quote', 'config:\n  tandem:customer: "acme\n', ['YAML syntax error at line 3, column 1: Missing closing "quote; fix the file\'s indentation or quoting there']],
  ])('%s names the line', (_name, text, expected) => {
    expect(parseTopology(text).issues.map((i) => i.message)).toEqual(expected);
  });

  it('not a stack file at all', () => {
    expect(parseTopology('- a\n- b\n').issues.map((i) => i.message)).toEqual([
      'the file is not a Pulumi stack config; it must be a mapping with a "config:" key holding tandem:customer and tandem:topology',
    ]);
  });
});

describe('files', () => {
  it('a missing file says where stack files live', () => {
    const r = parseTopologyFile('/nonexistent/Pulumi.x.yaml');
    expect(r.issues.map((i) => i.message)).toEqual(['/nonexistent/Pulumi.x.yaml: no such file; stack files live in stacks/ as Pulumi.<customer>.yaml']);
  });

  it('loadTopology throws a TopologyError listing every error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-topo-'));
    const o = base();
    topo(o).adminCidrs = ['0.0.0.0/0'];
    topo(o).sites[1].syncIntervalS = -1;
    const file = path.join(dir, 'Pulumi.acme.yaml');
    fs.writeFileSync(file, stringify(o));
    try {
      expect(() => loadTopology(file)).toThrow(TopologyError);
      expect(() => loadTopology(file)).toThrow(/2 errors\n {2}adminCidrs\[0\].*\n {2}sites\[1\]\.syncIntervalS -1/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('topologyFromConfig (the Pulumi program path)', () => {
  it('applies the same rules to parsed values', () => {
    const o = base();
    topo(o).sites[1].region = 'us-east-3';
    const r = topologyFromConfig(o.config, 'acme');
    expect(r.topology).toBeUndefined();
    expect(r.issues.map((i) => i.message)).toEqual([`sites[1].region "us-east-3" is not an AWS region; did you mean "us-east-1"?`]);
  });
});

describe('properties', () => {
  // Any topology the validator accepts has exactly one master, unique names, relays that lead
  // to the master, and a mirror outside the master's region.
  const regions = ['us-east-1', 'us-east-2', 'eu-west-1'];
  const siteArb = fc.record({
    role: fc.constantFrom('master', 'mirror'),
    region: fc.constantFrom(...regions),
    relay: fc.option(fc.nat(5), { nil: undefined }),
    failover: fc.constantFrom('hot', 'warm', 'cold'),
  });
  it('accepted topologies are well-formed', () => {
    fc.assert(
      fc.property(fc.array(siteArb, { minLength: 1, maxLength: 6 }), (raw) => {
        const o = base();
        topo(o).sites = raw.map((s, i) => ({
          name: `s${i}`,
          role: s.role,
          provider: 'aws',
          region: s.region,
          ...(s.role === 'mirror' ? { failover: s.failover, ...(s.relay !== undefined ? { relayVia: `s${s.relay}` } : {}) } : {}),
        }));
        const r = parseTopology(stringify(o), 'acme');
        if (!r.topology) {
          expect(r.issues.some((i) => i.severity === 'error')).toBe(true);
          return;
        }
        const t = r.topology;
        const masters = t.sites.filter((s) => s.role === 'master');
        expect(masters).toHaveLength(1);
        expect(new Set(t.sites.map((s) => s.name)).size).toBe(t.sites.length);
        expect(t.sites.some((s) => s.role === 'mirror' && s.region !== masters[0].region)).toBe(true);
        // Following feeds from any mirror reaches the master without repeating.
        const edges = new Map(feedEdges(t).map((e) => [e.to, e.from]));
        for (const s of t.sites) {
          let cur = s.name;
          const seen = new Set<string>();
          while (cur !== masters[0].name) {
            expect(seen.has(cur)).toBe(false);
            seen.add(cur);
            cur = edges.get(cur)!;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('docs/topology.md', () => {
  // Error messages send users to this list; it must name every region the validator accepts.
  it('lists every region the validator knows, with its metro', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'topology.md'), 'utf8');
    for (const [r, metro] of Object.entries({ ...AWS_REGIONS, ...AZURE_LOCATIONS })) {
      expect(doc).toContain(`| \`${r}\` | ${metro} |`);
    }
  });
});
