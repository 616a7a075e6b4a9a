import { intToIp, ipToInt, planLab, slotSubnet, tbfParams } from '../../scripts/lab/plan';
import { labTopology } from '../support/lab';

describe('lab plan', () => {
  const t = labTopology('plantest', [
    { name: 'ny', region: 'us-east-1' },
    { name: 'ny2', region: 'us-east-1' },
    { name: 'ldn', region: 'eu-west-2', linkMbit: 20, diskMb: 64 },
  ]);

  it.each([
    [0, '198.18.0.0/22'],
    [1, '198.18.4.0/22'],
    [64, '198.19.0.0/22'],
    [127, '198.19.252.0/22'],
  ])('slot %i gets %s, inside 198.18.0.0/15', (slot, cidr) => {
    expect(slotSubnet(slot).cidr).toBe(cidr);
  });

  it('refuses slots outside the range', () => {
    expect(() => slotSubnet(128)).toThrow(/out of range/);
  });

  it('puts sites of a region on one network and every address inside the stack /22', () => {
    const p = planLab(t, 3, '/x');
    expect(p.subnet).toBe('198.18.12.0/22');
    expect(p.hosts.map((h) => [h.site, h.address, h.bridge])).toEqual([
      ['ny', '198.18.12.66', 'br0'],
      ['ny2', '198.18.12.67', 'br0'],
      ['ldn', '198.18.12.98', 'br1'],
    ]);
    const base = ipToInt('198.18.12.0');
    for (const a of [p.operatorAddress, p.routerAddress, p.vip, ...p.hosts.map((h) => h.address)]) {
      expect(ipToInt(a) - base).toBeGreaterThanOrEqual(0);
      expect(ipToInt(a) - base).toBeLessThan(1024);
    }
    expect(p.hosts[2]).toMatchObject({ linkMbit: 20, diskMb: 64, netns: 'tl.plantest.ldn', dir: '/x/hosts/ldn' });
    expect(p.rootLink.length).toBeLessThanOrEqual(15);
    expect(new Set(p.hosts.map((h) => h.address)).size).toBe(3);
  });

  it('two slots never share an address', () => {
    const a = planLab(t, 0, '/x');
    const b = planLab(t, 1, '/y');
    const all = [a, b].flatMap((p) => [p.operatorAddress, p.routerAddress, p.vip, ...p.hosts.map((h) => h.address)]);
    expect(new Set(all).size).toBe(all.length);
  });

  it('round-trips addresses', () => {
    expect(intToIp(ipToInt('198.19.255.254'))).toBe('198.19.255.254');
  });

  it.each([
    [1, '1000kbit'],
    [100, '100000kbit'],
    [2.5, '2500kbit'],
  ])('tbf for %s Mbit/s', (mbit, rate) => {
    const p = tbfParams(mbit);
    expect(p.rate).toBe(rate);
    expect(p.burst).toBeGreaterThanOrEqual(65536);
  });
});
