/** The pure decisions of a failover: target choice, catch-up source, epoch, live layout. */
import type { Inventory } from '../../model/inventory';
import { chooseTarget, checkTo, FailoverInputError, nextEpoch, nextLive, type HostView } from '../../scripts/failover/plan';
import { driverKindFor } from '../../scripts/failover/drivers/index';
import { inv } from './fixtures';

const v = (site: string, reachable: boolean, position: number | null, epoch = 1): HostView => ({ site, reachable, position, epoch, agentRunning: reachable });
const views = (...vs: HostView[]) => new Map(vs.map((x) => [x.site, x]));

describe('chooseTarget', () => {
  it.each([
    ['newest data wins', views(v('ny', false, null), v('chi', true, 100), v('ams', true, 200), v('ldn', false, null)), undefined, 'ams', null],
    ['tie: hot before warm', views(v('ny', false, null), v('chi', true, 200), v('ams', true, 200), v('ldn', false, null)), undefined, 'chi', null],
    ['--to a staler mirror catches up from the freshest survivor', views(v('ny', false, null), v('chi', true, 100), v('ams', true, 200), v('ldn', false, null)), 'chi', 'chi', 'ams'],
    ['nobody answers: the cold mirror', views(v('ny', false, null), v('chi', false, null), v('ams', false, null), v('ldn', false, null)), undefined, 'ldn', null],
    ['cold named, powered off: catches up from a survivor', views(v('ny', false, null), v('chi', true, 300), v('ams', true, 200), v('ldn', false, null)), 'ldn', 'ldn', 'chi'],
  ])('%s', (_n, vs, to, want, catchUp) => {
    const c = chooseTarget(inv, vs, to);
    expect(c.target.site).toBe(want);
    expect(c.catchUpFrom).toBe(catchUp);
  });

  it.each([
    ['nosuch', /--to nosuch: no such site in stack "x"; sites: ny, chi, ams, ldn/],
    ['ny', /--to ny: ny is the current master already; name a mirror to fail over to \(chi, ams, ldn\)/],
  ])('--to %s is refused, naming the field and the fix', (to, re) => {
    expect(() => checkTo(inv, to)).toThrow(FailoverInputError);
    expect(() => checkTo(inv, to)).toThrow(re);
  });
});

describe('epoch and live layout', () => {
  it('raises the epoch above anything seen, the recorded layout included', () => {
    expect(nextEpoch([v('a', true, 1, 3), v('b', true, 1, 5)], null)).toBe(6);
    expect(nextEpoch([v('a', true, 1, 1)], { epoch: 7, master: 'a', at: '', reason: '', fenced: [] })).toBe(8);
  });
  it('never fences the new master; fenced sites sorted, unique', () => {
    expect(nextLive({ epoch: 2, master: 'chi', reason: 'r', fenced: ['ny', 'chi', 'ny'], now: new Date(0) })).toEqual({
      epoch: 2,
      master: 'chi',
      at: '1970-01-01T00:00:00.000Z',
      reason: 'r',
      fenced: ['ny'],
    });
  });
});

describe('driverKindFor', () => {
  it.each([
    ['lab inventory', { ...inv }, 'lab'],
    ['Elastic IP', { ...inv, source: 'pulumi', vip: { kind: 'eip', address: '1.2.3.4', holder: 'ny' } }, 'aws'],
    ['Route 53 record', { ...inv, source: 'pulumi', vip: { kind: 'dns', address: 'trade.x', holder: 'ny' } }, 'aws'],
    ['Azure public IP', { ...inv, source: 'pulumi', vip: { kind: 'public-ip', address: '1.2.3.4', holder: 'ny' } }, 'azure'],
  ] as const)('%s -> %s', (_n, i, kind) => {
    expect(driverKindFor(i as Inventory)).toBe(kind);
  });
});

describe('driverFor', () => {
  it('loads the cloud drivers lazily by the inventory, each reporting its kind', () => {
    const { driverFor } = require('../../scripts/failover/drivers/index') as typeof import('../../scripts/failover/drivers/index');
    expect(driverFor(inv).kind).toBe('lab');
    expect(driverFor({ ...inv, source: 'pulumi', vip: { kind: 'eip', address: '1.2.3.4', holder: 'ny' } }).kind).toBe('aws');
    expect(driverFor({ ...inv, source: 'pulumi', vip: { kind: 'public-ip', address: '1.2.3.4', holder: 'ny' }, hosts: inv.hosts.map((h) => ({ ...h, provider: 'azure' as const })) }).kind).toBe(
      'azure',
    );
  });
  it('in a stack across clouds, power goes to each host provider; an off-cloud host is refused with what to do', async () => {
    const { driverFor } = require('../../scripts/failover/drivers/index') as typeof import('../../scripts/failover/drivers/index');
    const mixed = {
      ...inv,
      source: 'pulumi' as const,
      vip: { kind: 'eip' as const, address: '1.2.3.4', holder: 'ny' },
      hosts: inv.hosts.map((h, i) => ({ ...h, provider: i === 0 ? ('aws' as const) : i === 1 ? ('azure' as const) : ('offcloud' as const) })),
    };
    const d = driverFor(mixed);
    expect(d.kind).toBe('aws');
    const off = mixed.hosts[2];
    await expect(d.powerOn(off)).rejects.toThrow(`${off.site} is an off-cloud host: tandem cannot power it; power it on by hand`);
  });
});
