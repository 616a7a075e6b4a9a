/**
 * A capped link (lab: { linkMbit }) carries about its cap: measured through an SSH channel, both
 * directions. The figure is logged; the assertion is a loose bound (within 20%).
 */
import { hostExec } from '../../scripts/lab';
import { openSession, type SshSession } from '../../scripts/ssh';
import { describeLab, labTopology, useLab } from '../support/lab';

const CAP = 40;
const t = labTopology('labtest-link', [
  { name: 'fast', region: 'us-east-1' },
  { name: 'slow', region: 'eu-west-2', linkMbit: CAP },
]);

async function mbitUp(s: SshSession, bytes: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await s.execChecked('wc -c', { stdin: Buffer.alloc(bytes, 7) });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  expect(Number(r.stdout.trim())).toBe(bytes);
  return (bytes * 8) / secs / 1e6;
}

async function mbitDown(s: SshSession, bytes: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await s.execChecked(`head -c ${bytes} /dev/zero`);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  expect(r.stdout.length).toBe(bytes);
  return (bytes * 8) / secs / 1e6;
}

describeLab('lab link caps (labtest-link)', () => {
  const lab = useLab(t);

  it(`a ${CAP} Mbit/s link measures within 20% of its cap, both ways`, async () => {
    const inv = lab.inv();
    const slow = await openSession(inv, 'slow');
    const fast = await openSession(inv, 'fast');
    try {
      await mbitUp(slow, 200000); // warm up: TCP window, SSH window
      const bytes = 10 * 1024 * 1024; // ~2 s at the cap
      const up = await mbitUp(slow, bytes);
      const down = await mbitDown(slow, bytes);
      const free = await mbitUp(fast, bytes);
      process.stdout.write(
        `lab link measurement: cap ${CAP} Mbit/s -> operator to host ${up.toFixed(1)} Mbit/s (${((up / CAP) * 100).toFixed(0)}%), ` +
          `host to operator ${down.toFixed(1)} Mbit/s (${((down / CAP) * 100).toFixed(0)}%); uncapped host ${free.toFixed(0)} Mbit/s\n`,
      );
      for (const m of [up, down]) {
        expect(m).toBeGreaterThan(CAP * 0.8);
        expect(m).toBeLessThan(CAP * 1.2);
      }
      // the cap is the site's, not the lab's: only the slow site's link has a tbf (the uncapped
      // figure is CPU-bound — SSH encryption on a shared machine — so it is logged, not asserted)
      expect((await hostExec(t.customer, 'slow', ['tc', 'qdisc', 'show', 'dev', 'eth0'])).stdout).toMatch(/tbf .*rate 40Mbit/);
      expect((await hostExec(t.customer, 'fast', ['tc', 'qdisc', 'show', 'dev', 'eth0'])).stdout).not.toMatch(/tbf/);
    } finally {
      slow.close();
      fast.close();
    }
  }, 60000);
});
