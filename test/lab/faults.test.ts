/**
 * Each fault does what it says, for real, and its inverse undoes it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostExec, labFault, labStatus, moveVip, readLabInventory } from '../../scripts/lab';
import { SshSession, openSession, targetOf } from '../../scripts/ssh';
import { adminKey, describeLab, labTopology, netnsInodes, processesIn, useLab } from '../support/lab';
import { waitFor, WaitTimeout } from '../../scripts/util/wait';

const C = 'labtest-fault';
const t = labTopology(C, [
  { name: 'm', region: 'us-east-1' },
  { name: 'a', region: 'us-east-2', diskMb: 16 },
  { name: 'b', region: 'eu-west-2' },
]);

const FAST = { retries: 0, readyTimeoutMs: 1500 };

let lastSshError = '';
async function canSsh(site: string, opts = FAST): Promise<boolean> {
  try {
    const s = await openSession(readLabInventory(C), site, opts);
    try {
      return (await s.exec('true', { timeoutMs: 5000 })).code === 0;
    } finally {
      s.close();
    }
  } catch (e) {
    lastSshError = String(e);
    return false;
  }
}

/** Positive checks after an undo: a loaded machine may need a moment; bounded. */
async function eventually(check: () => Promise<boolean>, ms = 10000): Promise<boolean> {
  return waitFor('a positive check', check, { timeoutMs: ms, everyMs: 200, retryErrors: false }).catch((e) => {
    if (!(e instanceof WaitTimeout)) throw e;
    process.stderr.write(`eventually: still false after ${ms} ms; last ssh error: ${lastSshError}\n`);
    return false;
  });
}

/**
 * TCP connect from inside one lab host to another's sshd port (the kernel's handshake: no sshd
 * process needed, so a loaded machine does not make it flaky). `wait` bounds a positive answer.
 */
async function reaches(from: string, to: string, wait = 1): Promise<boolean> {
  const addr = readLabInventory(C).hosts.find((h) => h.site === to)!.address;
  const r = await hostExec(C, from, ['timeout', String(wait), 'bash', '-c', `exec 3<>/dev/tcp/${addr}/22 && echo connected`]);
  return r.stdout.includes('connected');
}

function pidsOf(site: string): number[] {
  const ino = fs.statSync(`/run/netns/tl.${C}.${site}`).ino;
  return processesIn([ino]);
}

describeLab('lab faults (labtest-fault)', () => {
  const lab = useLab(t);

  it('crash kills sshd and every process of the host; poweron brings it back', async () => {
    const s = await openSession(lab.inv(), 'a');
    await s.execChecked('setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo started');
    s.close();
    expect(pidsOf('a').length).toBeGreaterThanOrEqual(2);
    await labFault(C, 'a', 'crash');
    expect(pidsOf('a')).toEqual([]);
    expect(await canSsh('a')).toBe(false);
    expect((await labStatus(C)).hosts.find((h) => h.site === 'a')!.sshd).toBe('down');
    await labFault(C, 'a', 'poweron');
    expect(await eventually(() => canSsh('a'))).toBe(true);
  });

  it('hang stops every process (nothing answers); resume brings answers back', async () => {
    await labFault(C, 'b', 'hang');
    try {
      expect((await labStatus(C)).hosts.find((h) => h.site === 'b')!.sshd).toBe('stopped');
      for (const p of pidsOf('b')) expect(fs.readFileSync(`/proc/${p}/stat`, 'utf8')).toMatch(/\) T /);
      expect(await canSsh('b')).toBe(false);
    } finally {
      await labFault(C, 'b', 'resume');
    }
    expect(await eventually(() => canSsh('b'))).toBe(true);
  });

  it('isolate cuts the host off from the other sites (and the operator); heal restores it', async () => {
    expect(await eventually(() => reaches('m', 'b', 3))).toBe(true);
    await labFault(C, 'b', 'isolate');
    try {
      expect(await reaches('m', 'b')).toBe(false);
      expect(await reaches('b', 'a')).toBe(false);
      expect(await eventually(() => reaches('m', 'a', 3))).toBe(true); // the rest of the lab is fine
      expect(await canSsh('b')).toBe(false);
      expect((await labStatus(C)).hosts.find((h) => h.site === 'b')!.link).toBe('cut');
    } finally {
      await labFault(C, 'b', 'heal');
    }
    expect(await eventually(() => reaches('m', 'b', 3))).toBe(true);
    expect(await eventually(() => reaches('b', 'a', 3))).toBe(true);
    expect(await eventually(() => canSsh('b'))).toBe(true);
  });

  it('poweroff is a cold server: down, unreachable, data kept; poweron boots sshd and boot.d hooks', async () => {
    const inv = lab.inv();
    const s = await openSession(inv, 'b');
    await s.execChecked(
      `echo kept > ${inv.dataDir}/f && echo gone > /tmp/t && mkdir -p /var/lib/tandem/boot.d && ` +
        `printf '#!/bin/sh\\necho "booted $TANDEM_LAB_SITE" >> /var/lib/tandem/boots\\nexec sleep 1000\\n' > /var/lib/tandem/boot.d/10-test && chmod +x /var/lib/tandem/boot.d/10-test`,
    );
    s.close();
    await labFault(C, 'b', 'poweroff');
    expect(pidsOf('b')).toEqual([]);
    expect(await reaches('m', 'b')).toBe(false);
    expect((await labStatus(C)).hosts.find((h) => h.site === 'b')).toMatchObject({ power: 'off', sshd: 'down' });
    const b = inv.hosts.find((h) => h.site === 'b')!;
    expect(fs.readFileSync(path.join(b.labDataDir!, 'f'), 'utf8')).toBe('kept\n');
    await labFault(C, 'b', 'poweron');
    expect(await eventually(() => canSsh('b'))).toBe(true);
    const s2 = await openSession(inv, 'b');
    try {
      expect((await s2.execChecked(`cat ${inv.dataDir}/f; ls /tmp`)).stdout).toBe('kept\n');
      // the hook runs detached; give it a moment
      let boots = '';
      for (let i = 0; i < 50 && !boots; i++) {
        boots = (await s2.exec('cat /var/lib/tandem/boots 2>/dev/null')).stdout;
        if (!boots) await new Promise((r) => setTimeout(r, 50));
      }
      expect(boots).toBe('booted b\n');
      expect((await s2.execChecked('pgrep -x sleep | wc -l')).stdout.trim()).not.toBe('0');
      await s2.execChecked('rm /var/lib/tandem/boot.d/10-test');
    } finally {
      s2.close();
    }
  });

  it('diskfull makes writes in the data directory fail with ENOSPC; diskfree fixes it', async () => {
    const inv = lab.inv();
    const s = await openSession(inv, 'a');
    try {
      await s.execChecked(`head -c 100000 /dev/urandom > ${inv.dataDir}/old`);
      await labFault(C, 'a', 'diskfull');
      expect((await labStatus(C)).hosts.find((h) => h.site === 'a')!.diskFull).toBe(true);
      const w = await s.exec(`echo x > ${inv.dataDir}/new`);
      expect(w.code).not.toBe(0);
      expect(w.stderr).toMatch(/No space left on device/);
      const grow = await s.exec(`head -c 100000 /dev/zero >> ${inv.dataDir}/old`);
      expect(grow.stderr).toMatch(/No space left on device/);
      // other hosts are not affected
      const m = await openSession(inv, 'm');
      await m.execChecked(`echo x > ${inv.dataDir}/new`);
      m.close();
      await labFault(C, 'a', 'diskfree');
      await s.execChecked(`echo x > ${inv.dataDir}/new && head -c 1000000 /dev/zero > ${inv.dataDir}/big`);
      // and the configured size is the real cap (16 MiB)
      const big = await s.exec(`head -c 20000000 /dev/zero > ${inv.dataDir}/too-big`);
      expect(big.stderr).toMatch(/No space left on device/);
      await s.execChecked(`rm -f ${inv.dataDir}/too-big`);
    } finally {
      s.close();
    }
  });

  it('the VIP moves between hosts: whoever holds it answers on its address', async () => {
    const inv = lab.inv();
    const vip = inv.vip!;
    expect(vip).toMatchObject({ kind: 'lab', holder: 'm' });
    const at = (site: string) => ({ ...targetOf(inv.hosts.find((h) => h.site === site)!), host: vip.address });
    const s1 = await SshSession.connect(at('m'), { privateKey: adminKey(inv) }, FAST);
    s1.close();
    const r = await moveVip(C, 'a');
    expect(r).toEqual({ from: 'm', to: 'a', address: vip.address });
    expect(readLabInventory(C).vip).toEqual({ kind: 'lab', address: vip.address, holder: 'a' });
    // the host key seen at the VIP is now a's: m's pinned key is refused
    await expect(SshSession.connect(at('m'), { privateKey: adminKey(inv) }, FAST)).rejects.toThrow(/does not match the pinned key/);
    const s2 = await SshSession.connect(at('a'), { privateKey: adminKey(inv) }, FAST);
    s2.close();
    await moveVip(C, 'm');
  });

  it('no process of the lab survives outside what status reports', async () => {
    const st = await labStatus(C);
    const counted = st.hosts.reduce((n, h) => n + h.processes, 0);
    const inodes = netnsInodes(C);
    expect(processesIn(inodes).length).toBeGreaterThanOrEqual(counted);
    expect(st.leftovers).toEqual([]);
  });
});
