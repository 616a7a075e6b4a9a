/**
 * The SSH wrapper against real lab hosts, and each host's private view: its own sshd and host
 * key (pinned), its own data directory, agent home and /home.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { utils } from 'ssh2';
import { hostExec, labStatus } from '../../scripts/lab';
import { HostKeyMismatchError, SshCommandError, SshConnectError, SshSession, openSession, targetOf } from '../../scripts/ssh';
import { adminKey, describeLab, labTopology, useLab } from '../support/lab';

const t = labTopology('labtest-ssh', [
  { name: 'alpha', region: 'us-east-1' },
  { name: 'beta', region: 'eu-west-2' },
  { name: 'gamma', region: 'us-east-1' },
]);

describeLab('lab hosts over SSH (labtest-ssh)', () => {
  const lab = useLab(t);

  it('every host answers SSH with its pinned key', async () => {
    const inv = lab.inv();
    expect(new Set(inv.hosts.map((h) => h.hostKey)).size).toBe(inv.hosts.length);
    for (const h of inv.hosts) {
      expect(h.hostKey).toMatch(/^ssh-ed25519 AAAA/);
      const s = await openSession(inv, h.site);
      try {
        const r = await s.exec('echo out; echo err >&2; cat /etc/ssh/ssh_host_ed25519_key.pub; exit 3');
        expect(r).toMatchObject({ stderr: 'err\n', code: 3, signal: null });
        expect(r.stdout.startsWith('out\n')).toBe(true);
        expect(r.stdout).toContain(h.hostKey!.split(' ')[1]);
      } finally {
        s.close();
      }
    }
  });

  it('refuses a host that presents another key than the pinned one (HostKeyMismatchError, no retry)', async () => {
    const inv = lab.inv();
    const [a, b] = inv.hosts;
    const t0 = Date.now();
    const err = await SshSession.connect({ ...targetOf(a), hostKey: b.hostKey! }, { privateKey: adminKey(inv) }, { retries: 3, backoffMs: 1000 }).catch((e) => e);
    expect(err).toBeInstanceOf(HostKeyMismatchError);
    expect(err.message).toContain(a.site);
    expect(err.message).toMatch(/expected SHA256:\S+, server presented SHA256:\S+/);
    expect(Date.now() - t0).toBeLessThan(1000); // not retried
  });

  it('refuses a client key that is not the lab admin key', async () => {
    const inv = lab.inv();
    const other = utils.generateKeyPairSync('ed25519');
    const err = await SshSession.connect(targetOf(inv.hosts[0]), { privateKey: other.private }, { retries: 1, backoffMs: 50 }).catch((e) => e);
    expect(err).toBeInstanceOf(SshConnectError);
    expect(err.message).toMatch(/authentication/i);
  });

  it('execChecked throws with host, command, exit code and stderr tail; stdin and upload work', async () => {
    const inv = lab.inv();
    const s = await openSession(inv, 'beta');
    try {
      const e = await s.execChecked('echo one >&2; echo two >&2; exit 7').catch((x) => x);
      expect(e).toBeInstanceOf(SshCommandError);
      expect(e.code).toBe(7);
      expect(e.message).toContain('beta');
      expect(e.message).toContain('exit code 7');
      expect(e.message).toContain('one\ntwo');
      expect((await s.execChecked('wc -c', { stdin: Buffer.alloc(100000, 1) })).stdout.trim()).toBe('100000');
      await s.upload('hello\n', `${inv.dataDir}/up.txt`, 0o640);
      expect((await s.execChecked(`stat -c %a ${inv.dataDir}/up.txt; cat ${inv.dataDir}/up.txt`)).stdout).toBe('640\nhello\n');
      const to = await s.exec('sleep 5', { timeoutMs: 300 }).catch((x) => x);
      expect(to).toBeInstanceOf(SshCommandError);
      expect((await s.execChecked('echo still usable')).stdout).toBe('still usable\n');
    } finally {
      s.close();
    }
  });

  it("a host cannot reach another host's data directory, agent home or /home", async () => {
    const inv = lab.inv();
    const a = await openSession(inv, 'alpha');
    const g = await openSession(inv, 'gamma');
    try {
      await a.execChecked(`echo secret > ${inv.dataDir}/only-alpha && mkdir -p /var/lib/tandem/x /home/tandem && touch /var/lib/tandem/x/f /home/tandem/f`);
      // gamma is in the same region (same network) and still sees none of it
      expect((await g.exec(`ls -A ${inv.dataDir}`)).stdout).toBe('');
      expect((await g.exec('ls -A /var/lib/tandem')).stdout).toBe('boot.d\n');
      expect((await g.exec('ls -A /home')).stdout).toBe('');
      expect((await a.exec('ls -A /home')).stdout).toBe('tandem\n');
      expect((await g.exec(`test -e ${inv.dataDir}/only-alpha`)).code).toBe(1);
      // nor the lab's state directory, where every host's directories live on this machine
      const alpha = inv.hosts.find((h) => h.site === 'alpha')!;
      expect((await g.exec(`ls -A ${alpha.labDataDir} 2>&1; ls -A /var/lib/tandem-lab`)).stdout).not.toContain('only-alpha');
      // the machine sees it where the inventory says
      expect(fs.readFileSync(path.join(alpha.labDataDir!, 'only-alpha'), 'utf8')).toBe('secret\n');
      const beta = inv.hosts.find((h) => h.site === 'beta')!;
      expect(fs.existsSync(path.join(beta.labDataDir!, 'only-alpha'))).toBe(false);
      expect(fs.existsSync(path.join(inv.dataDir, 'only-alpha'))).toBe(false);
    } finally {
      a.close();
      g.close();
    }
  });

  it("each host has its own pids and hostname: no host can see or signal another host's processes", async () => {
    const inv = lab.inv();
    const st = await labStatus(t.customer);
    const gammaSshd = st.hosts.find((h) => h.site === 'gamma')!.sshdPid!;
    const a = await openSession(inv, 'alpha');
    try {
      expect((await a.execChecked('hostname')).stdout.trim()).toBe('alpha');
      expect((await a.execChecked('cat /proc/1/comm')).stdout.trim()).toBe('sh'); // the host's init
      const ps = (await a.execChecked('ps -e -o pid=,comm=')).stdout;
      expect(ps.split('\n').filter(Boolean).length).toBeLessThan(15);
      // gamma's sshd, by its pid on the machine, is not a process alpha can see or signal
      expect(gammaSshd).toBeGreaterThan(100); // a machine pid (>= 300 after wrap-around); alpha's own pids are small
      expect((await a.exec(`kill -0 ${gammaSshd}`)).code).not.toBe(0);
      expect((await a.exec(`ls /proc/${gammaSshd}/root${inv.dataDir} 2>&1`)).stdout).not.toContain('only-alpha');
    } finally {
      a.close();
    }
  });

  it('hostExec runs inside the host; hosts reach each other only inside the lab', async () => {
    const inv = lab.inv();
    const beta = inv.hosts.find((h) => h.site === 'beta')!;
    const r = await hostExec(t.customer, 'alpha', ['sh', '-c', `ip -4 -o addr show dev eth0; ip route; timeout 3 bash -c 'echo > /dev/tcp/${beta.address}/22' && echo reach`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(inv.hosts[0].address);
    expect(r.stdout).toContain('reach');
    // no default route: nothing outside the stack's /22 is routable
    expect(r.stdout).not.toMatch(/^default/m);
    const out = await hostExec(t.customer, 'alpha', ['ip', 'route', 'get', '192.0.2.1']);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/unreachable/i);
  });

  it('tandem-lab-platform starts a listener on the health port inside the host', async () => {
    const inv = lab.inv();
    const s = await openSession(inv, 'gamma');
    try {
      expect((await s.execChecked('tandem-lab-platform start')).stdout).toMatch(/started/);
      const hp = inv.service.healthPort;
      const probe = await hostExec(t.customer, 'alpha', ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${inv.hosts[2].address}/${hp}; cat <&3`]);
      expect(probe.stdout).toContain('tandem-lab-platform ok');
      expect((await s.execChecked('tandem-lab-platform stop')).stdout).toMatch(/stopped/);
      expect((await s.exec('tandem-lab-platform status')).code).toBe(3);
    } finally {
      s.close();
    }
  });
});
