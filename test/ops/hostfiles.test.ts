import { execFileSync } from 'node:child_process';
import { sha256 } from '../../scripts/hosts/config';
import { asRoot, bootHook, missingTools, parseProbe, prepareScript, probeScript, startScript, supervisorScript, systemdUnit, uninstallScript, writeFileScript } from '../../scripts/hosts/hostfiles';
import { sq } from '../../scripts/ssh/quote';
import { changedFiles, desiredFiles } from '../../scripts/hosts/install';
import { INSTALL_DEFAULT } from '../../scripts/hosts/config';
import { fakeKey, labInventory } from './fixtures';

/** `sh -n`: every script we send parses as POSIX sh. */
function shParses(script: string): void {
  execFileSync('sh', ['-n'], { input: script });
}

describe('remote scripts are valid sh', () => {
  it.each([
    ['prepare (mirror)', prepareScript('/srv/trading', 'mirror')],
    ['prepare (master)', prepareScript("/srv/it's data", 'master')],
    ['probe', probeScript()],
    ['write file', writeFileScript('/var/lib/tandem/config.json', '0644', 'root:root')],
    ['start (lab)', startScript('lab', { restart: true, unitChanged: false })],
    ['start (systemd)', startScript('systemd', { restart: false, unitChanged: true })],
    ['uninstall', uninstallScript({ keepState: false })],
    ['supervisor', supervisorScript('/usr/bin/node')],
    ['boot hook', bootHook()],
  ])('%s', (_n, s) => {
    shParses(s);
    shParses(asRoot('root', s));
    shParses(asRoot('ubuntu', s));
  });
});

it('sq quotes anything into one word', () => {
  const out = execFileSync('sh', ['-c', `printf %s ${sq(`a'b "c" $d \`e\``)}`]).toString();
  expect(out).toBe(`a'b "c" $d \`e\``);
});

it('asRoot goes through sudo -n for a non-root admin (cloud images)', () => {
  expect(asRoot('ubuntu', 'id')).toBe(`sudo -n sh -c 'id'`);
  expect(asRoot('root', 'id')).toBe(`sh -c 'id'`);
});

it('the systemd unit runs as tandem, niced, idle IO, restarted, one capability', () => {
  const u = systemdUnit('/usr/bin/node');
  for (const line of ['User=tandem', 'Nice=10', 'IOSchedulingClass=idle', 'Restart=always', 'AmbientCapabilities=CAP_DAC_READ_SEARCH', 'ExecStart=/usr/bin/node /var/lib/tandem/agent.js daemon']) {
    expect(u).toContain(`\n${line}\n`);
  }
});

describe('parseProbe', () => {
  const out = [
    'created=account',
    'created=synckey',
    'node=/usr/bin/node',
    'systemd=0',
    'sha:/var/lib/tandem/agent.js=abc',
    `config=${Buffer.from('{"epoch":3}').toString('base64')}`,
    `pub=${Buffer.from(`${fakeKey(1)} tandem@x\n`).toString('base64')}`,
    'running=1',
    'warn=master dataDir /srv/x does not exist yet',
  ].join('\n');
  it('reads every field', () => {
    const p = parseProbe(out);
    expect(p).toMatchObject({ node: '/usr/bin/node', supervision: 'lab', configText: '{"epoch":3}', publicKey: `${fakeKey(1)} tandem@x`, running: true });
    expect(p.sha.get('/var/lib/tandem/agent.js')).toBe('abc');
    expect(p.created).toEqual(['account', 'synckey']);
    expect(p.warnings).toHaveLength(1);
  });
  it('a bare host: nothing there', () => {
    const p = parseProbe('node=\nsystemd=1\nrunning=0\n');
    expect(p).toMatchObject({ node: null, supervision: 'systemd', configText: null, publicKey: null, running: false });
  });
});

describe('desiredFiles / changedFiles: the idempotence decision', () => {
  const inv = labInventory();
  const agentJs = Buffer.from('// agent\n');
  const probe = parseProbe('node=/usr/bin/node\nsystemd=0\nrunning=1\n');
  const files = desiredFiles({ inv, site: 'ams', probe, control: INSTALL_DEFAULT, agentJs, parentPublicKey: fakeKey(7, 'tandem@chi') });
  it('a lab host gets agent, config, authorized_keys, supervisor and boot hook', () => {
    expect(files.map((f) => f.label)).toEqual(['agent.js', 'config.json', 'authorized_keys', 'supervisor', 'boot hook']);
    expect(files.find((f) => f.label === 'authorized_keys')!.content.toString()).toContain('from="198.18.0.11"');
  });
  it('a systemd host gets the unit instead', () => {
    const p = parseProbe('node=/usr/bin/node\nsystemd=1\n');
    const f = desiredFiles({ inv, site: 'ny', probe: p, control: INSTALL_DEFAULT, agentJs, parentPublicKey: null });
    expect(f.map((x) => x.label)).toEqual(['agent.js', 'config.json', 'authorized_keys', 'systemd unit', 'fence unit']);
    expect(f.find((x) => x.label === 'authorized_keys')!.content.toString()).not.toContain('ssh-ed25519');
  });
  it('a systemd cold mirror with a refresh schedule also gets the refresh unit, and its config says so; without the schedule neither', () => {
    const p = parseProbe('node=/usr/bin/node\nsystemd=1\n');
    const withRefresh = { ...inv, hosts: inv.hosts.map((h) => (h.site === 'ams' ? { ...h, failover: 'cold' as const, coldRefreshH: 24 } : h)) };
    const f = desiredFiles({ inv: withRefresh, site: 'ams', probe: p, control: INSTALL_DEFAULT, agentJs, parentPublicKey: fakeKey(7, 'tandem@chi') });
    expect(f.map((x) => x.label)).toEqual(['agent.js', 'config.json', 'authorized_keys', 'systemd unit', 'fence unit', 'refresh unit']);
    expect(f.find((x) => x.label === 'refresh unit')!.content.toString()).toMatch(/^ExecStart=\/usr\/bin\/node \/var\/lib\/tandem\/agent\.js refresh-off$/m);
    expect(JSON.parse(f.find((x) => x.label === 'config.json')!.content.toString()).coldRefresh).toEqual({ everyH: 24 });
    const plain = desiredFiles({ inv, site: 'ams', probe: p, control: INSTALL_DEFAULT, agentJs, parentPublicKey: fakeKey(7, 'tandem@chi') });
    expect(plain.map((x) => x.label)).not.toContain('refresh unit');
    expect(JSON.parse(plain.find((x) => x.label === 'config.json')!.content.toString()).coldRefresh).toBeUndefined();
  });
  it('everything differs on a bare host; nothing once the hashes match', () => {
    expect(changedFiles(files, probe)).toHaveLength(files.length);
    const installed = parseProbe(['node=/usr/bin/node', 'systemd=0', ...files.map((f) => `sha:${f.path}=${sha256(f.content)}`)].join('\n'));
    expect(changedFiles(files, installed)).toEqual([]);
  });
  it('every other host may ask for the epoch (the boot fence check); the feeder only through its receive line', () => {
    const peers = new Map(inv.hosts.map((h, i) => [h.site, fakeKey(20 + i, `tandem@${h.site}`)]));
    const f = desiredFiles({ inv, site: 'ams', probe, control: INSTALL_DEFAULT, agentJs, parentPublicKey: peers.get('chi')!, peerKeys: peers });
    const text = f.find((x) => x.label === 'authorized_keys')!.content.toString();
    const others = inv.hosts.filter((h) => h.site !== 'ams' && h.site !== 'chi');
    expect(others.length).toBeGreaterThan(0);
    for (const h of others) expect(text).toContain(`,from="${h.address}" ssh-ed25519 ${peers.get(h.site)!.split(' ')[1]} tandem-epoch@${h.site}`);
    expect(text).not.toContain('tandem-epoch@chi');
    expect(text).not.toContain('tandem-epoch@ams');
    expect(text.match(/command="[^"]* epoch"/g)).toHaveLength(others.length);
  });
  it('alert channels go to every host; config.json is 0640 root:tandem only when they carry a secret', () => {
    const plain = { webhooks: [{ url: 'http://127.0.0.1:9/hook', token: null }], email: null };
    const secret = { webhooks: [], email: { smtp: 'smtp://127.0.0.1:25', from: 'a@b.example', to: ['c@d.example'], user: 'u', password: 'pw' } };
    const cfg = (notify: typeof plain | typeof secret) => {
      const f = desiredFiles({ inv, site: 'ams', probe, control: INSTALL_DEFAULT, agentJs, parentPublicKey: fakeKey(7, 'tandem@chi'), notify }).find((x) => x.label === 'config.json')!;
      return { f, c: JSON.parse(f.content.toString()) };
    };
    const a = cfg(plain);
    expect(a.c.notify).toEqual(plain); // ams is a leaf mirror: it carries them for when it is promoted
    expect([a.f.mode, a.f.owner]).toEqual(['0644', 'root:root']);
    const b = cfg(secret);
    expect(b.c.notify.email.password).toBe('pw');
    expect([b.f.mode, b.f.owner]).toEqual(['0640', 'root:tandem']);
  });
  it('a new agent build changes only agent.js', () => {
    const installed = parseProbe(['node=/usr/bin/node', 'systemd=0', ...files.map((f) => `sha:${f.path}=${sha256(f.content)}`)].join('\n'));
    const next = desiredFiles({ inv, site: 'ams', probe, control: INSTALL_DEFAULT, agentJs: Buffer.from('// agent v2\n'), parentPublicKey: fakeKey(7, 'tandem@chi') });
    expect(changedFiles(next, installed).map((f) => f.label)).toEqual(['agent.js']);
  });
});

describe('missingTools', () => {
  const probe = (tools: string) =>
    parseProbe(
      `node=/usr/bin/node\n${tools
        .split(' ')
        .filter(Boolean)
        .map((t) => `tool=${t}`)
        .join('\n')}\n`,
    );
  it.each([
    ['master with everything', 'rsync inotifywait', 'master', false, null],
    ['leaf mirror with everything', 'rsync rrsync', 'mirror', false, null],
    ['relay without inotifywait', 'rsync rrsync', 'mirror', true, /inotifywait \(package inotify-tools\)/],
    ['mirror without rrsync', 'rsync', 'mirror', false, /rrsync with python3/],
    ['bare host', '', 'master', false, /missing on the host: rsync, inotifywait/],
  ] as const)('%s', (_n, tools, role, feeds, want) => {
    const m = missingTools(probe(tools), role, feeds);
    if (want === null) expect(m).toBeNull();
    else expect(m).toMatch(want);
  });
});
