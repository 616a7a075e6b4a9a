import { execFileSync } from 'node:child_process';
import { sha256 } from '../../scripts/hosts/config';
import { asRoot, bootHook, missingTools, parseProbe, prepareScript, probeScript, startScript, supervisorScript, systemdUnit, uninstallScript, writeFileScript } from '../../scripts/hosts/hostfiles';
import { sq } from '../../scripts/ssh/quote';
import { changedFiles, desiredFiles, ffiMismatch, installFleet, removedFiles, summarizeResults } from '../../scripts/hosts/install';
import { INSTALL_DEFAULT } from '../../scripts/hosts/config';
import type { FfiBinary } from '../../scripts/hosts/bundle';
import type { Remote } from '../../scripts/hosts/remote';
import type { InventoryHost } from '../../model/inventory';
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
    'sha:/var/lib/tandem/koffi.node=def',
    'arch=x86_64',
    'libc=glibc',
    `config=${Buffer.from('{"epoch":3}').toString('base64')}`,
    `pub=${Buffer.from(`${fakeKey(1)} tandem@x\n`).toString('base64')}`,
    'running=1',
    'warn=master dataDir /srv/x does not exist yet',
  ].join('\n');
  it('reads every field', () => {
    const p = parseProbe(out);
    expect(p).toMatchObject({ node: '/usr/bin/node', supervision: 'lab', configText: '{"epoch":3}', publicKey: `${fakeKey(1)} tandem@x`, running: true });
    expect(p.sha.get('/var/lib/tandem/agent.js')).toBe('abc');
    expect(p.sha.get('/var/lib/tandem/koffi.node')).toBe('def');
    expect([p.arch, p.libc]).toEqual(['x86_64', 'glibc']);
    expect(p.created).toEqual(['account', 'synckey']);
    expect(p.warnings).toHaveLength(1);
  });
  it('a bare host: nothing there', () => {
    const p = parseProbe('node=\nsystemd=1\nrunning=0\n');
    expect(p).toMatchObject({ node: null, supervision: 'systemd', configText: null, publicKey: null, running: false, arch: null, libc: null });
  });
  it('arch and libc: musl is read, anything unrecognised is unknown (null)', () => {
    expect(parseProbe('arch=aarch64\nlibc=musl\n')).toMatchObject({ arch: 'aarch64', libc: 'musl' });
    expect(parseProbe('arch=\nlibc=unknown\n')).toMatchObject({ arch: null, libc: null });
    expect(parseProbe('arch=x86 64; rm\nlibc=GLIBC 2.36\n')).toMatchObject({ arch: null, libc: null });
  });
  it('the probe script reports the CPU and libc of this machine', () => {
    const p = parseProbe(execFileSync('sh', ['-c', probeScript()]).toString());
    expect(p.arch).toBe(execFileSync('uname', ['-m']).toString().trim());
    const glibc = !!(process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
    if (glibc) expect(p.libc).toBe('glibc');
    else expect(p.libc).not.toBe('glibc');
  });
});

it('the probe lists koffi.node with the managed files, and uninstall removes it', () => {
  expect(probeScript()).toMatch(/^for f in \/var\/lib\/tandem\/agent\.js \/var\/lib\/tandem\/koffi\.node /m);
  expect(uninstallScript({ keepState: true })).toMatch(/^rm -f .* \/var\/lib\/tandem\/koffi\.node /m);
});

describe('desiredFiles / changedFiles: the idempotence decision', () => {
  const inv = labInventory();
  const agentJs = Buffer.from('// agent\n');
  const ffi: FfiBinary = { content: Buffer.from('\x7fELF koffi 1\n'), os: 'linux', arch: 'x64', libc: 'glibc' };
  const probe = parseProbe('node=/usr/bin/node\nsystemd=0\nrunning=1\narch=x86_64\nlibc=glibc\n');
  const files = desiredFiles({ inv, site: 'ams', probe, control: INSTALL_DEFAULT, agentJs, ffi, parentPublicKey: fakeKey(7, 'tandem@chi') });
  it('a lab host gets agent, koffi.node, config, authorized_keys, supervisor and boot hook', () => {
    expect(files.map((f) => f.label)).toEqual(['agent.js', 'koffi.node', 'config.json', 'authorized_keys', 'supervisor', 'boot hook']);
    expect(files.find((f) => f.label === 'authorized_keys')!.content.toString()).toContain('from="198.18.0.11"');
  });
  it('a systemd host gets the unit instead', () => {
    const p = parseProbe('node=/usr/bin/node\nsystemd=1\n');
    const f = desiredFiles({ inv, site: 'ny', probe: p, control: INSTALL_DEFAULT, agentJs, ffi, parentPublicKey: null }); // CPU and libc not known: no koffi.node
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
    const next = desiredFiles({ inv, site: 'ams', probe, control: INSTALL_DEFAULT, agentJs: Buffer.from('// agent v2\n'), ffi, parentPublicKey: fakeKey(7, 'tandem@chi') });
    expect(changedFiles(next, installed).map((f) => f.label)).toEqual(['agent.js']);
    expect(removedFiles(next, installed)).toEqual([]);
  });
});

describe('koffi.node goes only where it runs', () => {
  const inv = labInventory();
  const agentJs = Buffer.from('// agent\n');
  const x64: FfiBinary = { content: Buffer.from('\x7fELF koffi x64\n'), os: 'linux', arch: 'x64', libc: 'glibc' };
  const at = (arch: string | null, libc: string | null) => parseProbe(`node=/usr/bin/node\nsystemd=0\nrunning=1\n${arch !== null ? `arch=${arch}\n` : ''}${libc !== null ? `libc=${libc}\n` : ''}`);
  const want = (probe: ReturnType<typeof parseProbe>, ffi: FfiBinary | null = x64) =>
    desiredFiles({ inv, site: 'ams', probe, control: INSTALL_DEFAULT, agentJs, ffi, parentPublicKey: fakeKey(7, 'tandem@chi') });

  it('an x86_64 glibc host gets the x64 build right after agent.js, root:root 0644', () => {
    const f = want(at('x86_64', 'glibc'));
    expect(f.map((x) => x.label).slice(0, 2)).toEqual(['agent.js', 'koffi.node']);
    expect(f[1]).toEqual({ path: '/var/lib/tandem/koffi.node', content: x64.content, mode: '0644', owner: 'root:root', label: 'koffi.node' });
    expect(ffiMismatch(at('x86_64', 'glibc'), x64)).toBeNull();
  });
  it.each([
    ['aarch64', 'glibc', 'no prebuilt koffi.node for aarch64/glibc'],
    ['x86_64', 'musl', 'no prebuilt koffi.node for x86_64/musl'],
    ['aarch64', 'musl', 'no prebuilt koffi.node for aarch64/musl'],
    ['x86_64', 'unknown', 'no prebuilt koffi.node for x86_64/unknown libc'],
    [null, null, 'no prebuilt koffi.node for unknown CPU/unknown libc'],
    ['riscv64', 'glibc', 'no prebuilt koffi.node for riscv64/glibc'],
  ])('not for %s/%s', (arch, libc, why) => {
    const p = at(arch, libc);
    expect(want(p).map((x) => x.label)).not.toContain('koffi.node');
    expect(ffiMismatch(p, x64)).toBe(why);
  });
  it('an arm64 build goes to aarch64 glibc hosts, not to x86_64 ones; no build: nowhere', () => {
    const arm64: FfiBinary = { ...x64, arch: 'arm64' };
    expect(want(at('aarch64', 'glibc'), arm64).map((x) => x.label)).toContain('koffi.node');
    expect(want(at('x86_64', 'glibc'), arm64).map((x) => x.label)).not.toContain('koffi.node');
    expect(want(at('x86_64', 'glibc'), null).map((x) => x.label)).not.toContain('koffi.node');
    expect(ffiMismatch(at('x86_64', 'glibc'), null)).toBe('no koffi.node was built with the agent');
  });
  it('a new koffi.node changes only koffi.node; one the host must not have is removed', () => {
    const p = at('x86_64', 'glibc');
    const installed = parseProbe(['node=/usr/bin/node', 'systemd=0', 'arch=x86_64', 'libc=glibc', ...want(p).map((f) => `sha:${f.path}=${sha256(f.content)}`)].join('\n'));
    expect(changedFiles(want(p), installed)).toEqual([]);
    const next = want(installed, { ...x64, content: Buffer.from('\x7fELF koffi x64 v2\n') });
    expect(changedFiles(next, installed).map((f) => f.label)).toEqual(['koffi.node']);
    expect(removedFiles(next, installed)).toEqual([]);
    expect(removedFiles(want(installed, null), installed)).toEqual([{ path: '/var/lib/tandem/koffi.node', label: 'koffi.node' }]);
    expect(removedFiles(want(p, null), p)).toEqual([]); // none there: nothing to remove
  });
});

/**
 * installFleet against fake lab hosts that keep their files in memory: what it writes, removes,
 * restarts and notes. ny and chi are x86_64 glibc, ams aarch64 glibc, ldn x86_64 musl.
 */
describe('installFleet ships koffi.node with the agent (fake hosts)', () => {
  const inv = labInventory();
  const platform: Record<string, [string, string]> = { ny: ['x86_64', 'glibc'], chi: ['x86_64', 'glibc'], ams: ['aarch64', 'glibc'], ldn: ['x86_64', 'musl'] };
  const disk = new Map<string, Map<string, Buffer>>(inv.hosts.map((h) => [h.site, new Map()]));
  const log = new Map<string, string[]>();
  const KOFFI = '/var/lib/tandem/koffi.node';
  const host = (h: InventoryHost): Remote => ({
    site: h.site,
    close: () => undefined,
    exec: async (cmd, opts) => {
      const files = disk.get(h.site)!;
      const did = log.get(h.site) ?? [];
      log.set(h.site, did);
      const ok = (stdout = '') => ({ stdout, stderr: '', code: 0, signal: null });
      if (cmd.includes('useradd')) {
        const [arch, libc] = platform[h.site];
        const cfg = files.get('/var/lib/tandem/config.json');
        return ok(
          [
            'node=/usr/bin/node',
            'systemd=0',
            'tool=rsync',
            'tool=rrsync',
            'tool=inotifywait',
            `arch=${arch}`,
            `libc=${libc}`,
            ...[...files].map(([p, c]) => `sha:${p}=${sha256(c)}`),
            ...(cfg ? [`config=${cfg.toString('base64')}`] : []),
            `pub=${Buffer.from(fakeKey(40 + inv.hosts.indexOf(h), `tandem@${h.site}`)).toString('base64')}`,
            `running=${files.size ? 1 : 0}`,
          ].join('\n'),
        );
      }
      const write = /mktemp '\\''(\/var\/lib\/tandem\/[\w./-]+)'\\''\.XXXXXX/.exec(cmd);
      if (write) {
        files.set(write[1], Buffer.from(opts!.stdin!));
        did.push(`write ${write[1]}`);
      } else if (/^sh -c 'rm -f /.test(cmd)) {
        const p = /(\/var\/lib\/tandem\/[\w./-]+)/.exec(cmd)![1];
        files.delete(p);
        did.push(`rm ${p}`);
      } else if (cmd.includes('setsid')) did.push(cmd.includes('kill -TERM') ? 'restart' : cmd.includes('kill -HUP') ? 'reload' : 'start');
      return ok();
    },
  });
  const run = async (ffi: FfiBinary | null) => {
    log.clear();
    const res = await installFleet({ inventory: inv, connect: async (h) => host(h), ssh: { timeoutMs: 1000 }, parallel: 4, progress: () => undefined }, 'install', Buffer.from('// agent\n'), ffi);
    return Object.fromEntries(res.map((r) => [r.site, r]));
  };
  const v1: FfiBinary = { content: Buffer.from('\x7fELF koffi v1\n'), os: 'linux', arch: 'x64', libc: 'glibc' };
  const v2: FfiBinary = { ...v1, content: Buffer.from('\x7fELF koffi v2\n') };

  it('first install: x86_64 glibc hosts get it; the others are told the change feed uses inotifywait', async () => {
    const r = await run(v1);
    for (const s of ['ny', 'chi']) {
      expect(r[s]).toMatchObject({ outcome: 'installed', error: null });
      expect(r[s].changes).toContain('koffi.node');
      expect(r[s].notes).toBeUndefined();
      expect(disk.get(s)!.get(KOFFI)).toEqual(v1.content);
    }
    expect(r.ams).toMatchObject({ outcome: 'installed', error: null, notes: ['change feed: inotifywait (no prebuilt koffi.node for aarch64/glibc)'] });
    expect(r.ldn).toMatchObject({ outcome: 'installed', error: null, notes: ['change feed: inotifywait (no prebuilt koffi.node for x86_64/musl)'] });
    for (const s of ['ams', 'ldn']) {
      expect(r[s].changes).not.toContain('koffi.node');
      expect(disk.get(s)!.has(KOFFI)).toBe(false);
    }
    expect(summarizeResults('agent install', Object.values(r))).toMatch(/^ {2}ams +installed .*, started; change feed: inotifywait \(no prebuilt koffi\.node for aarch64\/glibc\)$/m);
  });
  it('the same build again changes nothing', async () => {
    const r = await run(v1);
    for (const s of ['ny', 'chi', 'ams', 'ldn']) expect([r[s].outcome, r[s].changes]).toEqual(['unchanged', []]);
    expect(r.ams.notes).toHaveLength(1);
    expect([...log.values()].flat()).toEqual([]);
  });
  it('a new koffi.node is written alone and restarts the agent, only where it goes', async () => {
    const r = await run(v2);
    for (const s of ['ny', 'chi']) {
      expect([r[s].outcome, r[s].changes]).toEqual(['updated', ['koffi.node', 'restarted']]);
      expect(log.get(s)).toEqual([`write ${KOFFI}`, 'restart']);
    }
    for (const s of ['ams', 'ldn']) expect([r[s].outcome, r[s].changes, log.get(s) ?? []]).toEqual(['unchanged', [], []]);
  });
  it('a koffi.node the host must not have is removed, and the agent restarted', async () => {
    disk.get('ldn')!.set(KOFFI, Buffer.from('left by another build'));
    const r = await run(null);
    for (const s of ['ny', 'chi', 'ldn']) {
      expect([r[s].outcome, r[s].changes]).toEqual(['updated', ['koffi.node removed', 'restarted']]);
      expect(log.get(s)).toEqual([`rm ${KOFFI}`, 'restart']);
      expect(disk.get(s)!.has(KOFFI)).toBe(false);
    }
    expect(r.ny.notes).toEqual(['change feed: inotifywait (no koffi.node was built with the agent)']);
    expect([r.ams.outcome, r.ams.changes]).toEqual(['unchanged', []]);
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
