/**
 * Issue 8, items 8-10, on real lab hosts (customer `sectest-sec`; root):
 *   8. the tandem account cannot replace its own authorized_keys (and an old install's writable
 *      .ssh is taken back on upgrade, with what the account planted there removed);
 *   9. a receiver whose real ssh client is killed goes away, and its log stays small;
 *  10. an operation given an inventory with a bad value touches no host.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agentBundle } from '../../scripts/hosts/bundle';
import { installFleet } from '../../scripts/hosts/install';
import { mirrorFleet } from '../../scripts/hosts/mirror';
import { encode } from '../../agent/src/frame';
import { cli, describeLab, fleet, sh, useLab, waitFor } from '../support/lab';

const C = 'sectest-sec';
const lab = useLab(C, [
  '{ name: ny, role: master, provider: aws, region: us-east-1 }',
  '{ name: chi, role: mirror, provider: aws, region: us-east-2, failover: hot }',
  '{ name: ams, role: mirror, provider: azure, region: westeurope }',
]);

const H = '/var/lib/tandem';
const addr = (site: string) => lab.inv().hosts.find((h) => h.site === site)!.address;
/** A shell command run as the tandem account inside a host, with its output and exit code. */
const asTandem = (cmd: string) => `setpriv --reuid=tandem --regid=tandem --init-groups sh -c ${JSON.stringify(cmd)} 2>&1; echo rc=$?`;
const SSH = `ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=5`;

/** mtime, mode, owner and sha256 of every file install manages and of the dataDir: "touched nothing". */
async function fingerprintHost(site: string): Promise<string> {
  const r = await sh(
    C,
    site,
    `cd ${H} && for f in agent.js config.json supervise.sh boot.d/50-tandem-agent .ssh/authorized_keys .ssh/id_ed25519.pub; do echo "$(stat -c "%n %Y %a %U" $f) $(sha256sum < $f | cut -c1-16)"; done; stat -c "%n %Y %U" /srv/trading; ls -a /srv`,
  );
  expect(r.code).toBe(0);
  return r.stdout;
}

describeLab('security on lab hosts (issue 8)', () => {
  beforeAll(async () => {
    const res = await installFleet(fleet(lab.inv()), 'install', agentBundle());
    expect(res.map((r) => [r.site, r.outcome, r.error])).toEqual([
      ['ny', 'installed', null],
      ['chi', 'installed', null],
      ['ams', 'installed', null],
    ]);
  }, 120_000);

  describe('item 8: the sync account and its authorized_keys', () => {
    it('tandem cannot rename a file of its own over authorized_keys; the same mv where it may write succeeds', async () => {
      const before = (await sh(C, 'chi', `sha256sum < ${H}/.ssh/authorized_keys`)).stdout;
      const r = await sh(
        C,
        'chi',
        [
          asTandem(`printf 'ssh-ed25519 AAAA tandem-own-key\\n' > ${H}/state/new_keys && mv -f ${H}/state/new_keys ${H}/.ssh/authorized_keys`),
          asTandem(`touch ${H}/.ssh/authorized_keys2`),
          asTandem(`rm -f ${H}/.ssh/authorized_keys`),
          // Positive control: the account really can write and rename, where it is allowed to.
          asTandem(`printf 'ssh-ed25519 AAAA tandem-own-key\\n' > ${H}/state/new_keys && mv -f ${H}/state/new_keys ${H}/state/authorized_keys && cat ${H}/state/authorized_keys`),
        ].join('; '),
      );
      expect(r.stdout.match(/rc=\d+/g)).toEqual(['rc=1', 'rc=1', 'rc=1', 'rc=0']);
      expect(r.stdout).toMatch(/mv: cannot move '\/var\/lib\/tandem\/state\/new_keys' to '\/var\/lib\/tandem\/\.ssh\/authorized_keys': Permission denied/);
      expect(r.stdout).toMatch(/touch: cannot touch '\/var\/lib\/tandem\/\.ssh\/authorized_keys2': Permission denied/);
      expect(r.stdout).toMatch(/rm: cannot remove '\/var\/lib\/tandem\/\.ssh\/authorized_keys': Permission denied/);
      expect(r.stdout).toContain('ssh-ed25519 AAAA tandem-own-key');
      expect((await sh(C, 'chi', `sha256sum < ${H}/.ssh/authorized_keys`)).stdout).toBe(before);
      const st = await sh(C, 'chi', `stat -c "%n %U %a" ${H}/.ssh ${H}/.ssh/authorized_keys ${H}/.ssh/id_ed25519`);
      expect(st.stdout).toBe(`${H}/.ssh root 755\n${H}/.ssh/authorized_keys root 644\n${H}/.ssh/id_ed25519 tandem 600\n`);
    });

    it('the sync key still reaches the forced command, and mirroring works', async () => {
      const r = await sh(C, 'ny', `${SSH} -i ${H}/.ssh/id_ed25519 tandem@${addr('chi')} id; echo "exit=$?"`);
      expect(r.stderr).toMatch(/this key only runs tandem-receive or rsync into the data dir; refused: id/);
      expect(r.stdout).toMatch(/exit=1/);
      const started = await mirrorFleet(fleet(lab.inv()), 'start', []);
      expect(started.every((x) => x.error === null)).toBe(true);
      const token = crypto.randomBytes(8).toString('hex');
      await sh(C, 'ny', `echo ${token} > /srv/trading/sectest-probe.tmp2 && mv /srv/trading/sectest-probe.tmp2 /srv/trading/sectest-probe`);
      await waitFor(
        'the probe file on chi and ams',
        async () => {
          const a = await sh(C, 'chi', 'cat /srv/trading/sectest-probe 2>/dev/null');
          const b = await sh(C, 'ams', 'cat /srv/trading/sectest-probe 2>/dev/null');
          return a.stdout.trim() === token && b.stdout.trim() === token ? true : undefined;
        },
        30_000,
        200,
      );
    }, 60_000);

    it('an upgrade takes back a .ssh an old install gave to tandem and removes what tandem planted', async () => {
      // chi as the old layout left it, after tandem used it: .ssh its own, authorized_keys
      // replaced by a file of its own with an unrestricted key, an authorized_keys2 beside it.
      await sh(C, 'chi', `rm -f /tmp/planted /tmp/planted.pub; ssh-keygen -q -t ed25519 -N '' -f /tmp/planted && chmod 644 /tmp/planted`);
      await sh(C, 'chi', `chown tandem:tandem ${H}/.ssh && chmod 0700 ${H}/.ssh`);
      const plant = await sh(
        C,
        'chi',
        asTandem(`cat /tmp/planted.pub > ${H}/state/k && mv -f ${H}/state/k ${H}/.ssh/authorized_keys && cp /tmp/planted.pub ${H}/.ssh/authorized_keys2 && echo x > ${H}/.ssh/rc`),
      );
      expect(plant.stdout).toMatch(/rc=0/); // the old layout allowed it: that is the hole
      // The planted key gets a shell as tandem on the old layout (the control for the refusal below).
      await sh(C, 'ny', `rm -f /tmp/planted; cat > /tmp/planted <<'KEY'\n${(await sh(C, 'chi', 'cat /tmp/planted')).stdout}KEY\nchmod 600 /tmp/planted`);
      const shell = await sh(C, 'ny', `${SSH} -i /tmp/planted tandem@${addr('chi')} id; echo "exit=$?"`);
      expect(shell.stdout).toMatch(/uid=\d+\(tandem\)/);

      // One build for the upgrade and the install after it: agent sources edited meanwhile (by
      // anyone working in this tree) must not make the second install look like an upgrade.
      const upgraded = Buffer.concat([agentBundle(), Buffer.from('\n// sectest upgrade\n')]);
      const res = await installFleet(fleet(lab.inv()), 'upgrade', upgraded);
      expect(res.map((r) => [r.site, r.outcome, r.error])).toEqual([
        ['ny', 'upgraded', null],
        ['chi', 'upgraded', null],
        ['ams', 'upgraded', null],
      ]);
      const chi = res.find((r) => r.site === 'chi')!;
      expect(chi.changes).toEqual(expect.arrayContaining(['ssh-owner', 'ssh-removed:authorized_keys', 'ssh-removed:authorized_keys2', 'ssh-removed:rc', 'authorized_keys']));
      expect(res.find((r) => r.site === 'ny')!.changes.filter((c) => c.startsWith('ssh-'))).toEqual([]);
      const st = await sh(
        C,
        'chi',
        `stat -c "%n %U %a" ${H}/.ssh ${H}/.ssh/authorized_keys; ls -A ${H}/.ssh; grep -c '^restrict,command=.* receive"' ${H}/.ssh/authorized_keys; grep -v '^#' ${H}/.ssh/authorized_keys | grep -vc '^restrict,command=' || true`,
      );
      // One key may feed it (receive); every line is restricted (the others may only ask for the epoch).
      expect(st.stdout).toBe(`${H}/.ssh root 755\n${H}/.ssh/authorized_keys root 644\nauthorized_keys\nid_ed25519\nid_ed25519.pub\n1\n0\n`);
      const refused = await sh(C, 'ny', `${SSH} -i /tmp/planted tandem@${addr('chi')} id; echo "exit=$?"`);
      expect(refused.stdout).not.toMatch(/uid=/);
      expect(refused.stderr).toMatch(/Permission denied \(publickey\)/);
      expect(refused.stdout).toMatch(/exit=255/);
      // ... and the feeder's key still reaches the forced command.
      const ok = await sh(C, 'ny', `${SSH} -i ${H}/.ssh/id_ed25519 tandem@${addr('chi')} id; echo "exit=$?"`);
      expect(ok.stderr).toMatch(/this key only runs tandem-receive or rsync into the data dir; refused: id/);
      // A second install after the upgrade changes nothing.
      const again = await installFleet(fleet(lab.inv()), 'install', upgraded);
      expect(again.map((r) => [r.site, r.outcome, r.changes, r.error])).toEqual([
        ['ny', 'unchanged', [], null],
        ['chi', 'unchanged', [], null],
        ['ams', 'unchanged', [], null],
      ]);
    }, 120_000);
  });

  describe('item 9: a receiver whose ssh client is killed', () => {
    // A HELLO the receiver accepts, then bytes that are no frame: it answers (NAK) and logs,
    // writing to an sshd that is gone by then.
    const hello = () => encode({ t: 'HELLO', customer: C, site: 'ny', epoch: 1, version: '0.1.0', proto: 1 }).toString('base64');
    const receivers = async () => (await sh(C, 'chi', 'ps -eo pid=,pcpu=,etime=,args= | grep "[a]gent.js receive" || true')).stdout.trim();

    beforeAll(async () => {
      // The feeders' own links end, so any receiver left on chi is the one this test started.
      const stopped = await mirrorFleet(fleet(lab.inv()), 'stop', []);
      expect(stopped.every((x) => x.error === null)).toBe(true);
      await waitFor("the feeders' receivers on chi to end", async () => ((await receivers()) === '' ? true : undefined), 20_000, 200);
    }, 40_000);

    it.each([
      ['-tt, killed at once', '-tt', 0.3],
      ['-T, killed after its HELLO was answered', '-T', 1.5],
    ])(
      'ssh %s: the receiver is gone within 5 s and its log stays small',
      async (_n, flag, killAfterS) => {
        await sh(C, 'chi', `rm -f ${H}/log/receiver.log ${H}/log/receiver.log.1`);
        // The client's input: a HELLO, then (once the receiver answered it) 300 kB that are no
        // frame, then nothing while the connection stays open. Every process has a pid file, so
        // the test ends exactly what it started.
        await sh(C, 'ny', `cat > /tmp/sectest-feed.sh <<'FEED'\necho $$ > /tmp/sectest-feed.pid\necho ${hello()} | base64 -d\nsleep 0.8\nhead -c 300000 /dev/zero | tr '\\0' g\nexec sleep 30\nFEED`);
        const client =
          `sh /tmp/sectest-feed.sh 2>/dev/null </dev/null | ` +
          `sh -c 'echo $$ > /tmp/sectest-ssh.pid; exec ${SSH} ${flag} -i ${H}/.ssh/id_ed25519 tandem@${addr('chi')} tandem-receive' >/dev/null 2>&1 & ` +
          `sleep ${killAfterS}; kill -9 $(cat /tmp/sectest-ssh.pid) 2>/dev/null; echo killed`;
        const k = await sh(C, 'ny', client, 40_000);
        expect(k.stdout).toContain('killed');
        // Whatever the receiver was doing, within 5 s there is none left and the log is small.
        const left = await waitFor('no agent.js receive left on chi', async () => ((await receivers()) === '' ? '' : undefined), 5000, 200).catch(receivers);
        expect(left).toBe('');
        await new Promise((r) => setTimeout(r, 1000));
        const size = await sh(C, 'chi', `stat -c %s ${H}/log/receiver.log 2>/dev/null || echo 0; ls ${H}/log`);
        expect(Number(size.stdout.split('\n')[0])).toBeLessThan(64 * 1024);
        expect((await sh(C, 'chi', `cat ${H}/log/receiver.log 2>/dev/null || true`)).stdout).not.toMatch(/uncaught exception/);
        await sh(C, 'ny', 'kill $(cat /tmp/sectest-feed.pid) 2>/dev/null; rm -f /tmp/sectest-feed.pid /tmp/sectest-ssh.pid');
      },
      60_000,
    );
  });

  it("item 9: agent.log (the daemon's output) past its cap is copied to agent.log.1 and emptied", async () => {
    await sh(C, 'chi', `rm -f ${H}/agent.log.1; head -c 5000000 /dev/zero | tr '\\0' x >> ${H}/agent.log`);
    await waitFor(
      'agent.log rotated on chi',
      async () => {
        const [cur, old] = (await sh(C, 'chi', `stat -c %s ${H}/agent.log ${H}/agent.log.1 2>/dev/null`)).stdout.trim().split('\n').map(Number);
        return old >= 5_000_000 && cur < 1024 * 1024 ? true : undefined;
      },
      25_000,
      500,
    );
  }, 40_000);

  describe('item 10: a bad inventory touches no host', () => {
    it('install with a bad dataDir on the last host and an option as an address is refused before any connection; nothing changed', async () => {
      const inv = lab.inv();
      const bad = {
        ...inv,
        hosts: inv.hosts.map((h) =>
          h.site === 'ams' ? { ...h, dataDir: '/srv/trading$(touch /tmp/sectest-pwned)' } : h.site === 'chi' ? { ...h, address: '-oProxyCommand=touch /tmp/sectest-pwned' } : h,
        ),
      };
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sectest-')), 'bad.json');
      fs.writeFileSync(file, JSON.stringify(bad));
      const before = await Promise.all(inv.hosts.map((h) => fingerprintHost(h.site)));
      const logins = await Promise.all(inv.hosts.map((h) => sh(C, h.site, 'grep -c Accepted /run/sshd.log || true')));
      for (const args of [['agent', 'install'], ['agent', 'upgrade'], ['mirror', 'stop'], ['status']]) {
        const r = await cli([...args, '--inventory', file]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('2 problems in the inventory');
        expect(r.stderr).toContain(
          'hosts[1].address: "-oProxyCommand=touch /tmp/sectest-pwned" is not an IP address or host name; write it like 198.51.100.7 or home.example.net; correct it in the stack file',
        );
        expect(r.stderr).toContain(
          `hosts[2].dataDir: "/srv/trading$(touch /tmp/sectest-pwned)" is not allowed; use a plain normalized path of letters, digits, '.', '_', '-' and '/' (no "..", spaces, quotes or shell characters), e.g. /srv/trading; correct it in the stack file`,
        );
      }
      expect(await Promise.all(inv.hosts.map((h) => fingerprintHost(h.site)))).toEqual(before);
      // Not even a login: no host saw a connection.
      expect(await Promise.all(inv.hosts.map((h) => sh(C, h.site, 'grep -c Accepted /run/sshd.log || true')))).toEqual(logins);
      for (const h of inv.hosts) expect((await sh(C, h.site, 'ls /tmp/sectest-pwned 2>&1')).stdout).toMatch(/No such file/);
      expect(fs.existsSync('/tmp/sectest-pwned')).toBe(false);
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }, 120_000);
  });
});
