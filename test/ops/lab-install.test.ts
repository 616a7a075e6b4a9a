/**
 * `tandem agent install | upgrade | uninstall` on real lab hosts (sshd, ssh2, real files):
 * idempotence, host key pinning, the restricted sync key, upgrade keeping state.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentBundle } from '../../scripts/hosts/bundle';
import { installFleet, uninstallFleet } from '../../scripts/hosts/install';
import { fingerprint } from '../../model/topology/hostkey';
import { cli, describeLab, fleet, sh, useLab } from '../support/lab';
import { fakeKey } from './fixtures';
import { waitForOrNull } from '../../scripts/util/wait';

const C = 'optest-install';
const lab = useLab(C, [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope, relayVia: chi }',
]);

/** mtime, mode, owner and sha256 of every managed file on a host: what "changed nothing" means. */
async function fingerprintHost(site: string): Promise<string> {
  const r = await sh(
    C,
    site,
    'cd /var/lib/tandem && for f in agent.js config.json supervise.sh boot.d/50-tandem-agent .ssh/authorized_keys .ssh/id_ed25519 .ssh/id_ed25519.pub; do echo "$(stat -c "%n %Y %a %U" $f) $(sha256sum < $f | cut -c1-16)"; done',
  );
  expect(r.code).toBe(0);
  return r.stdout;
}

describeLab('agent install on lab hosts', () => {
  const perHostMs: number[] = [];

  it('installs on every host in parallel, then a second install changes nothing', async () => {
    const inv = lab.inv();
    const agentJs = agentBundle();
    const first = await installFleet(fleet(inv), 'install', agentJs);
    expect(first.map((r) => [r.site, r.outcome, r.error])).toEqual([
      ['ny', 'installed', null],
      ['chi', 'installed', null],
      ['ams', 'installed', null],
    ]);
    perHostMs.push(...first.map((r) => r.ms));
    const before = await Promise.all(inv.hosts.map((h) => fingerprintHost(h.site)));

    const second = await installFleet(fleet(inv), 'install', agentJs);
    expect(second.map((r) => [r.site, r.outcome, r.changes])).toEqual([
      ['ny', 'unchanged', []],
      ['chi', 'unchanged', []],
      ['ams', 'unchanged', []],
    ]);
    const after = await Promise.all(inv.hosts.map((h) => fingerprintHost(h.site)));
    expect(after).toEqual(before);
    process.stderr.write(`optest-install: install per host ${perHostMs.map((m) => `${m} ms`).join(', ')}; no-op install ${second.map((r) => `${r.ms} ms`).join(', ')}\n`);
  }, 90_000);

  it('lays the host out as documented: account, owners, modes, supervised daemon running as tandem', async () => {
    const r = await sh(
      C,
      'chi',
      'for i in $(seq 1 50); do [ -e /var/lib/tandem/state/status.json ] && break; sleep 0.1; done; ' +
        'stat -c "%n %U %a" /var/lib/tandem /var/lib/tandem/state /var/lib/tandem/log /var/lib/tandem/boot.d /var/lib/tandem/state/status.json /var/lib/tandem/.ssh /var/lib/tandem/.ssh/id_ed25519 /var/lib/tandem/.ssh/authorized_keys /var/lib/tandem/agent.js /srv/trading; ' +
        'p=$(cat /run/tandem-agent/daemon.pid); ps -o user= -p $p; grep CapEff /proc/$p/status; getent passwd tandem | cut -d: -f6,7',
    );
    expect(r.stdout).toContain('/var/lib/tandem root 755');
    expect(r.stdout).toContain('/var/lib/tandem/state tandem 750');
    expect(r.stdout).toContain('/var/lib/tandem/log tandem 750');
    expect(r.stdout).toContain('/var/lib/tandem/boot.d root 755');
    expect(r.stdout).toMatch(/\/var\/lib\/tandem\/state\/status\.json tandem \d+/); // the running daemon writes it
    expect(r.stdout).toContain('/var/lib/tandem/.ssh root 755'); // root's: tandem cannot replace authorized_keys
    expect(r.stdout).toContain('/var/lib/tandem/.ssh/id_ed25519 tandem 600');
    expect(r.stdout).toContain('/var/lib/tandem/.ssh/authorized_keys root 644');
    expect(r.stdout).toContain('/var/lib/tandem/agent.js root 644');
    // A mirror's dataDir: tandem's; its modes stay as made (a setgid one made every new directory 02755, unlike the master).
    expect(r.stdout).toMatch(/\/srv\/trading tandem 755/);
    expect(r.stdout).toMatch(/^tandem$/m);
    expect(r.stdout).toMatch(/CapEff:\s+0000000000000004/); // CAP_DAC_READ_SEARCH only
    expect(r.stdout).toContain('/var/lib/tandem:/bin/sh');
    // The agent's account can write its state, but cannot swap a file root runs for its own.
    const asTandem = (cmd: string) => `setpriv --reuid=tandem --regid=tandem --init-groups sh -c ${JSON.stringify(cmd)} 2>&1; echo rc=$?`;
    const w = await sh(
      C,
      'chi',
      [
        asTandem('mv /var/lib/tandem/agent.js /var/lib/tandem/agent.old'),
        asTandem('touch /var/lib/tandem/boot.d/99-mine'),
        asTandem('touch /var/lib/tandem/config.json'),
        asTandem('touch /var/lib/tandem/state/probe && rm /var/lib/tandem/state/probe'),
      ].join('; '),
    );
    expect(w.stdout.match(/rc=\d+/g)).toEqual(['rc=1', 'rc=1', 'rc=1', 'rc=0']);
    expect(w.stdout.match(/Permission denied/g)?.length).toBe(3);
    const ny = await sh(
      C,
      'ny',
      'stat -c "%U" /srv/trading; grep -c "agent.js receive" /var/lib/tandem/.ssh/authorized_keys || true; grep -v "^#" /var/lib/tandem/.ssh/authorized_keys | grep -vc "agent.js epoch\\"" || true',
    );
    expect(ny.stdout.split('\n')[0]).toBe('root'); // the master's dataDir is never re-owned
    expect(ny.stdout.split('\n')[1]).toBe('0'); // the master lets nobody feed it
    expect(ny.stdout.split('\n')[2]).toBe('0'); // the other hosts' keys may only ask for the epoch
  });

  it("authorizes exactly the feeder's key to feed, restricted, from the feeder's address; every other host only to ask for the epoch", async () => {
    const inv = lab.inv();
    const nyPub = (await sh(C, 'ny', 'cat /var/lib/tandem/.ssh/id_ed25519.pub')).stdout.trim().split(' ').slice(0, 2).join(' ');
    const chiPub = (await sh(C, 'chi', 'cat /var/lib/tandem/.ssh/id_ed25519.pub')).stdout.trim().split(' ').slice(0, 2).join(' ');
    const chiAuth = (await sh(C, 'chi', 'grep -v "^#" /var/lib/tandem/.ssh/authorized_keys')).stdout.trim();
    const amsAuth = (await sh(C, 'ams', 'grep -v "^#" /var/lib/tandem/.ssh/authorized_keys')).stdout.trim();
    const addr = (s: string) => inv.hosts.find((h) => h.site === s)!.address;
    const amsPub = (await sh(C, 'ams', 'cat /var/lib/tandem/.ssh/id_ed25519.pub')).stdout.trim().split(' ').slice(0, 2).join(' ');
    // The boot fence check of a master that comes back asks the others for their epoch (agent/src/fence.ts).
    const epochLine = (s: string, pub: string) => `restrict,command="/usr/bin/node /var/lib/tandem/agent.js epoch",from="${addr(s)}" ${pub} tandem-epoch@${s}`;
    expect(chiAuth.split('\n')).toEqual([`restrict,command="/usr/bin/node /var/lib/tandem/agent.js receive",from="${addr('ny')}" ${nyPub} tandem@ny`, epochLine('ams', amsPub)]);
    expect(amsAuth.split('\n')).toEqual([`restrict,command="/usr/bin/node /var/lib/tandem/agent.js receive",from="${addr('chi')}" ${chiPub} tandem@chi`, epochLine('ny', nyPub)]);
  });

  describe('the sync key of ny on chi', () => {
    const ssh = (args: string) => `ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i /var/lib/tandem/.ssh/id_ed25519 ${args}`;
    const chi = () => lab.inv().hosts.find((h) => h.site === 'chi')!.address;

    it.each(['id', 'sh -c id', 'cat /etc/shadow', 'node -e "console.log(1)"'])('cannot run %p', async (cmd) => {
      const r = await sh(C, 'ny', `${ssh(`tandem@${chi()}`)} '${cmd}'; echo "exit=$?"`);
      expect(r.stdout).not.toMatch(/uid=|root:|^1$/m);
      expect(r.stderr).toMatch(/this key only runs tandem-receive or rsync into the data dir; refused/);
      expect(r.stdout).toMatch(/exit=1/);
    });

    it('gets no shell and no pty', async () => {
      const r = await sh(C, 'ny', `${ssh(`-tt tandem@${chi()}`)} </dev/null; echo "exit=$?"`);
      expect(r.stdout).not.toMatch(/uid=|\$ $/m);
      // Refused by the key itself (no pty under `restrict`, and the forced command refuses an
      // empty command), not by some unrelated ssh failure.
      expect(r.stdout + r.stderr).toMatch(/PTY allocation request failed|this key only runs tandem-receive/);
      expect(r.stdout).toMatch(/exit=[1-9]/);
    });

    it('cannot forward ports', async () => {
      // Positive control: what a forward to chi's sshd would bring back if it were allowed.
      const grab = (hostPort: string) => `timeout 3 bash -c 'exec 3<>/dev/tcp/${hostPort}; head -c 7 <&3' 2>/dev/null; echo`;
      const direct = await sh(C, 'ny', grab(`${chi()}/22`));
      expect(direct.stdout).toMatch(/^SSH-2\.0/m);
      const r = await sh(
        C,
        'ny',
        // LogLevel=INFO: the client reports the server's refusal of a channel at INFO.
        `${ssh(`-N -L 127.0.0.1:2299:${chi()}:22 tandem@${chi()}`).replace('LogLevel=ERROR', 'LogLevel=INFO')} 2>/tmp/fwd.err & p=$!; sleep 1.5; ${grab('127.0.0.1/2299')}; sleep 0.3; kill $p 2>/dev/null; wait $p; cat /tmp/fwd.err`,
      );
      // Through the forward nothing comes back (restrict: chi's sshd refuses the channel), where
      // the same connection made directly got the banner.
      expect(r.stdout).not.toMatch(/SSH-2\.0/);
      // ...because chi's sshd refused the forward itself (restrict), as the client reports it.
      expect(r.stdout).toMatch(/open failed: administratively prohibited/);
    });

    it("cannot rsync outside chi's dataDir, nor read from it", async () => {
      await sh(C, 'ny', 'echo evil > /tmp/evil');
      const rsh = ssh('').trim();
      const up = await sh(C, 'ny', `rsync -e '${rsh}' /tmp/evil tandem@${chi()}:../../../tmp/ ; echo "exit=$?"`);
      expect(up.stdout).not.toMatch(/exit=0/);
      expect(up.stderr).toMatch(/rrsync|refus|not allowed|outside|\.\./i); // refused by rrsync, by name
      const abs = await sh(C, 'ny', `rsync -e '${rsh}' /tmp/evil tandem@${chi()}:/etc/ ; echo "exit=$?"`);
      const down = await sh(C, 'ny', `rsync -e '${rsh}' tandem@${chi()}:/ /tmp/stolen/ ; echo "exit=$?"`);
      expect(down.stdout).not.toMatch(/exit=0/);
      expect(down.stderr).toMatch(/rsync --sender refused/);
      // An absolute path is taken relative to the dataDir by rrsync: it lands inside, never in /etc.
      expect(abs.stdout).toMatch(/exit=0/); // allowed: it is a write into the dataDir
      const there = await sh(C, 'chi', 'ls /tmp/evil /etc/evil 2>&1; ls /srv/trading/etc 2>/dev/null');
      expect(there.stdout).not.toMatch(/^\/tmp\/evil$|^\/etc\/evil$/m);
      expect(there.stdout).toMatch(/No such file or directory/); // the ls really looked, on chi
      expect(there.stdout).toMatch(/^evil$/m); // and the "absolute" upload is inside the dataDir
    });

    it('is refused from any other address (from=)', async () => {
      const key = (await sh(C, 'ny', 'cat /var/lib/tandem/.ssh/id_ed25519')).stdout;
      await sh(C, 'ams', `umask 077; cat > /tmp/stolen_key <<'KEY'\n${key}KEY`);
      const r = await sh(C, 'ams', `ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i /tmp/stolen_key tandem@${chi()} tandem-receive </dev/null; echo "exit=$?"`);
      expect(r.stderr).toMatch(/Permission denied/);
      expect(r.stdout).toMatch(/exit=255/);
    });
  });

  it('refuses a host whose key does not match the inventory, naming host and both fingerprints', async () => {
    const inv = lab.inv();
    const real = inv.hosts.find((h) => h.site === 'chi')!.hostKey!;
    const fake = fakeKey(42);
    const tampered = { ...inv, hosts: inv.hosts.map((h) => (h.site === 'chi' ? { ...h, hostKey: fake } : h)) };
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'optest-')), 'tampered.json');
    fs.writeFileSync(file, JSON.stringify(tampered));
    const before = await fingerprintHost('chi');
    const nyAms = await Promise.all(['ny', 'ams'].map(fingerprintHost));
    const r = await cli(['agent', 'install', '--inventory', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/chi\s+FAILED/);
    expect(r.stdout).toContain(`chi: REFUSED: the host key does not match the inventory: inventory pins ${fingerprint(fake)}, the host presented ${fingerprint(real)}`);
    // Nothing is changed anywhere: ny's config would otherwise carry the tampered pin of chi.
    expect(r.stdout).toMatch(/ny\s+skipped .*not touched: the host key of chi was refused/);
    expect(r.stdout).toMatch(/ams\s+skipped/);
    expect(await fingerprintHost('chi')).toBe(before);
    expect(await Promise.all(['ny', 'ams'].map(fingerprintHost))).toEqual(nyAms);
  }, 60_000);

  it('upgrade replaces the agent, restarts it and keeps its state', async () => {
    const inv = lab.inv();
    await sh(C, 'chi', 'echo keep-me > /var/lib/tandem/state/marker; ls -la /var/lib/tandem/state >/dev/null');
    // chi as an earlier install left it: the home owned by tandem, status.json in it.
    await sh(C, 'chi', 'chown tandem:tandem /var/lib/tandem; echo "{}" > /var/lib/tandem/status.json');
    const pidBefore = (await sh(C, 'chi', 'cat /run/tandem-agent/daemon.pid')).stdout.trim();
    const newer = Buffer.concat([agentBundle(), Buffer.from('\n// upgrade test\n')]);
    const res = await installFleet(fleet(inv), 'upgrade', newer);
    expect(res.map((r) => [r.site, r.outcome, r.error])).toEqual([
      ['ny', 'upgraded', null],
      ['chi', 'upgraded', null],
      ['ams', 'upgraded', null],
    ]);
    expect(res.every((r) => r.changes.includes('restarted'))).toBe(true);
    expect(res.find((r) => r.site === 'chi')!.changes).toEqual(expect.arrayContaining(['home-owner', 'status-moved']));
    expect(res.find((r) => r.site === 'ny')!.changes).not.toContain('home-owner');
    const home = await sh(C, 'chi', 'stat -c "%U" /var/lib/tandem; ls /var/lib/tandem/status.json 2>&1');
    expect(home.stdout).toMatch(/^root\n.*No such file/);
    const after = await sh(C, 'chi', 'cat /var/lib/tandem/state/marker; tail -c 20 /var/lib/tandem/agent.js');
    expect(after.stdout).toContain('keep-me');
    expect(after.stdout).toContain('// upgrade test');
    // The supervisor restarts the daemon (2 s back-off).
    const daemonPid = async () => (await sh(C, 'chi', 'cat /run/tandem-agent/daemon.pid 2>/dev/null')).stdout.trim();
    const pidAfter = await waitForOrNull('a new daemon on chi', daemonPid, { timeoutMs: 10_000, everyMs: 50, done: (p) => !!p && p !== pidBefore });
    expect(pidAfter).not.toBeNull();
    expect(pidAfter).not.toBe(pidBefore);
    // Back to the plain bundle: an upgrade in place again.
    const back = await installFleet(fleet(inv), 'upgrade', agentBundle());
    expect(back.every((r) => r.outcome === 'upgraded')).toBe(true);
  }, 60_000);

  it('uninstall stops and removes the agent, keeps dataDir; install again works', async () => {
    const inv = lab.inv();
    await installFleet(fleet(inv), 'install', agentBundle());
    await sh(C, 'chi', 'echo data > /srv/trading/keep.txt');
    const res = await uninstallFleet(fleet(inv), { keepState: false });
    expect(res.map((r) => r.outcome)).toEqual(['uninstalled', 'uninstalled', 'uninstalled']);
    const r = await sh(C, 'chi', 'ls /var/lib/tandem /var/lib/tandem/boot.d; cat /srv/trading/keep.txt; pgrep -f "agent.js daemon" -a | grep -c /var/lib/tandem || true');
    expect(r.stdout).not.toMatch(/agent\.js|config\.json|supervise\.sh|50-tandem-agent/);
    expect(r.stdout).toContain('data');
    const again = await uninstallFleet(fleet(inv), { keepState: false });
    expect(again.map((x) => x.outcome)).toEqual(['not installed', 'not installed', 'not installed']);
    const re = await installFleet(fleet(inv), 'install', agentBundle());
    expect(re.every((x) => x.outcome === 'installed')).toBe(true);
  }, 60_000);
});
