/**
 * `tandem plan` after a failover shows what `pulumi up` builds now: the stack file's
 * tandem:live reaches the program through readStack -> plan -> runOnMocks -> buildStack.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readStack } from '../../scripts/options';
import { plan } from '../../scripts/plan';
import { stackFile } from '../../model/topology/load';

jest.setTimeout(120_000);

describe('plan with a live layout', () => {
  it('builds the live master as master, and the stack file master as a mirror', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-plan-live-'));
    try {
      const file = path.join(dir, 'Pulumi.acme.yaml');
      const text = fs.readFileSync(stackFile('acme'), 'utf8');
      fs.writeFileSync(file, `${text.trimEnd()}\n  tandem:live:\n    epoch: 2\n    master: chi\n    at: "2026-12-02T22:00:00.000Z"\n    reason: planned switchover ny -> chi\n`);
      const s = readStack({ file });
      expect(s.live).toMatchObject({ master: 'chi', epoch: 2 });
      const before = await plan(s.topology);
      const after = await plan(s.topology, s.live);
      const role = (inv: typeof before.inventory, site: string) => inv.hosts.find((h) => h.site === site)!.role;
      expect([role(before.inventory, 'ny'), role(before.inventory, 'chi')]).toEqual(['master', 'mirror']);
      expect([role(after.inventory, 'ny'), role(after.inventory, 'chi')]).toEqual(['mirror', 'master']);
      expect(after.inventory.hosts.find((h) => h.site === 'ny')!.feedFrom).toBe('chi');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
