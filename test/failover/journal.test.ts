/** The journal (steps timed, RTO from the command or the fault) and `timeline`'s rendering; the service's master guard. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { Journal, readRecords, renderTimeline, saveRecord } from '../../scripts/failover/journal';
import { currentMaster, ServiceInputError } from '../../scripts/service/index';

describe('journal', () => {
  it('times each step, counts the RTO from the fault when known, and reads back in order', async () => {
    const j = new Journal('x', 'unplanned', 'ny', 'chi', Date.now() - 1000);
    await j.step(
      'probe every host',
      async () => 'ok',
      (v) => v,
    );
    await expect(j.step('bad step', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    j.serviceAnsweredAt = Date.now();
    j.epoch = 2;
    const rec = j.record(true, null);
    expect(rec.steps.map((s) => [s.name, s.ok])).toEqual([
      ['probe every host', true],
      ['bad step', false],
    ]);
    expect(rec.rtoMs).toBeGreaterThanOrEqual(1000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-journal-'));
    try {
      saveRecord(dir, rec);
      saveRecord(dir, { ...rec, id: 'later', commandAt: new Date(Date.now() + 5000).toISOString(), kind: 'failback' });
      const back = readRecords(dir, 10);
      expect(back.map((r) => r.kind)).toEqual(['unplanned', 'failback']);
      const text = renderTimeline(back);
      expect(text).toMatch(/UNPLANNED ny -> chi {2}epoch 2 {2}OK {2}RTO \d+\.\d\d s \(from the fault at/);
      expect(text).toMatch(/FAILED bad step: boom/);
      expect(renderTimeline([])).toBe('no failovers recorded yet');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('service guard', () => {
  const h = (site: string, role: 'master' | 'mirror') => ({ site, role }) as InventoryHost;
  const inv = { customer: 'x', hosts: [h('ny', 'mirror'), h('chi', 'master')] } as unknown as Inventory;
  it('acts on the master now; refuses a mirror, naming the master', () => {
    expect(currentMaster(inv).site).toBe('chi');
    expect(currentMaster(inv, 'chi').site).toBe('chi');
    expect(() => currentMaster(inv, 'ny')).toThrow(ServiceInputError);
    expect(() => currentMaster(inv, 'ny')).toThrow('--site ny: ny is a mirror; the service runs only on the master, which is chi now (leave --site out)');
    expect(() => currentMaster(inv, 'zz')).toThrow('--site zz: no such site; sites: ny, chi');
  });
});
