/**
 * up is idempotent and repairs; two stacks live side by side; down leaves nothing behind.
 */
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { labDown, labStatus, labUp, readLabInventory } from '../../scripts/lab';
import { openSession } from '../../scripts/ssh';
import { describeLab, labTopology, netnsInodes, processesIn, traces } from '../support/lab';

const A = labTopology('labtest-life', [
  { name: 'ny', region: 'us-east-1' },
  { name: 'ldn', region: 'eu-west-2', diskMb: 32 },
]);
const B = labTopology('labtest-life2', [
  { name: 'ny', region: 'us-east-1' },
  { name: 'fra', region: 'eu-central-1' },
]);

async function sshOk(customer: string, site: string): Promise<string> {
  const s = await openSession(readLabInventory(customer), site, { retries: 0, readyTimeoutMs: 3000 });
  try {
    return (await s.execChecked('cat /etc/ssh/tandem-lab.conf')).stdout;
  } finally {
    s.close();
  }
}

describeLab('lab lifecycle (labtest-life, labtest-life2)', () => {
  let links: string[] = [];
  beforeAll(async () => {
    await labDown(A.customer);
    await labDown(B.customer);
  }, 60000);
  afterAll(async () => {
    await labDown(A.customer);
    await labDown(B.customer);
  }, 60000);

  it('up twice changes nothing: same keys, same addresses, same sshd', async () => {
    const first = await labUp(A);
    const st1 = await labStatus(A.customer);
    const second = await labUp(A);
    const st2 = await labStatus(A.customer);
    expect(second).toEqual(first);
    expect(st2.hosts.map((h) => h.sshdPid)).toEqual(st1.hosts.map((h) => h.sshdPid));
    expect(st2.leftovers).toEqual([]);
    expect(await sshOk(A.customer, 'ldn')).toContain('SITE=ldn');
  });

  it('two stacks are up at once without clashing', async () => {
    const a = readLabInventory(A.customer);
    const b = await labUp(B);
    const addrs = [...a.hosts, ...b.hosts].map((h) => h.address);
    expect(new Set(addrs).size).toBe(addrs.length);
    expect(a.vip!.address).not.toBe(b.vip!.address);
    // same site name "ny" in both: different namespaces, keys, data
    expect(a.hosts[0].labNetns).not.toBe(b.hosts[0].labNetns);
    expect(a.hosts[0].hostKey).not.toBe(b.hosts[0].hostKey);
    expect(await sshOk(A.customer, 'ny')).toContain(`CUSTOMER=${A.customer}`);
    expect(await sshOk(B.customer, 'ny')).toContain(`CUSTOMER=${B.customer}`);
    const sa = await labStatus(A.customer);
    const sb = await labStatus(B.customer);
    expect(sa.subnet).not.toBe(sb.subnet);
    links = [sa.operatorLink!.split(' ')[0], sb.operatorLink!.split(' ')[0]];
    expect(links[0]).not.toBe(links[1]);
  });

  it('up after a crash half way repairs what is missing and keeps keys and data', async () => {
    const before = readLabInventory(A.customer);
    const ldn = before.hosts.find((h) => h.site === 'ldn')!;
    fs.writeFileSync(`${ldn.labDataDir}/kept`, 'data');
    // what a crash of the tool half way through could leave: a host without its namespace,
    // another with its sshd dead
    const pids = processesIn(netnsInodes(A.customer).filter((ino) => ino === fs.statSync(`/run/netns/${ldn.labNetns}`).ino));
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone with its host's init */
      }
    }
    execFileSync('ip', ['netns', 'del', ldn.labNetns!]);
    const ny = (await labStatus(A.customer)).hosts.find((h) => h.site === 'ny')!;
    process.kill(ny.sshdPid!, 'SIGKILL');
    const st = await labStatus(A.customer);
    expect(st.hosts.map((h) => [h.site, h.sshd, h.netnsPresent])).toEqual([
      ['ny', 'down', true],
      ['ldn', 'down', false],
    ]);
    const after = await labUp(A);
    expect(after).toEqual(before);
    expect(await sshOk(A.customer, 'ldn')).toContain('SITE=ldn');
    expect(await sshOk(A.customer, 'ny')).toContain('SITE=ny');
    const s = await openSession(after, 'ldn');
    try {
      expect((await s.execChecked(`cat ${after.dataDir}/kept`)).stdout).toBe('data');
    } finally {
      s.close();
    }
  });

  it('down removes every namespace, link, mount, process and file, and says so', async () => {
    for (const [t, link] of [
      [A, links[0]],
      [B, links[1]],
    ] as const) {
      const inodes = netnsInodes(t.customer);
      expect(inodes.length).toBe(3);
      expect(processesIn(inodes).length).toBeGreaterThan(0);
      const { removed } = await labDown(t.customer);
      expect(removed).toEqual(expect.arrayContaining([`netns tl.${t.customer}`, expect.stringMatching(/^process \d+ \(sshd\)/), expect.stringMatching(/^mount .*\/data$/)]));
      expect(traces(t.customer, link)).toEqual([]);
      expect(processesIn(inodes)).toEqual([]);
      expect(execFileSync('ip', ['route'], { encoding: 'utf8' })).not.toContain(link);
      expect((await labStatus(t.customer)).leftovers).toEqual([]);
      expect(() => readLabInventory(t.customer)).toThrow(/is not up/);
      // down again is harmless
      expect((await labDown(t.customer)).removed).toEqual([]);
    }
  });
});
