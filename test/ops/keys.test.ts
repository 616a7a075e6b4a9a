import { authorizedKeyLine, authorizedKeysFile, parseSyncPublicKey } from '../../scripts/hosts/keys';
import { fakeKey } from './fixtures';

const pub = fakeKey(5, 'tandem@ny');

describe('authorizedKeyLine', () => {
  it('restricts the key to the receiver, from the parent only', () => {
    const line = authorizedKeyLine({ parentSite: 'ny', parentAddress: '198.18.0.10', publicKey: pub, node: '/usr/bin/node' });
    expect(line).toBe(`restrict,command="/usr/bin/node /var/lib/tandem/agent.js receive",from="198.18.0.10" ${fakeKey(5)} tandem@ny`);
  });
  it.each([
    ['an IPv6 address', 'fd00::1', true],
    ['a CIDR', '10.0.0.0/24', true],
    ['a DNS name', 'ny.example.com', true],
    ['a quote', '1.2.3.4",command="sh', false],
    ['a comma', '1.2.3.4,*', false],
    ['a space', '1.2.3.4 x', false],
    ['a wildcard', '*', false],
  ])('from= with %s: accepted=%p', (_n, addr, ok) => {
    const f = () => authorizedKeyLine({ parentSite: 'ny', parentAddress: addr, publicKey: pub, node: '/usr/bin/node' });
    if (ok) expect(f()).toContain(`from="${addr}"`);
    else expect(f).toThrow(/cannot go in a from= restriction/);
  });
  it('escapes a quote in the node path instead of ending the option', () => {
    const line = authorizedKeyLine({ parentSite: 'ny', parentAddress: '1.2.3.4', publicKey: pub, node: '/opt/no"de/bin/node' });
    expect(line).toContain('command="/opt/no\\"de/bin/node /var/lib/tandem/agent.js receive"');
  });
  it('never lets a site name smuggle options through the comment', () => {
    const line = authorizedKeyLine({ parentSite: 'ny x,y', parentAddress: '1.2.3.4', publicKey: pub, node: '/usr/bin/node' });
    expect(line.endsWith(' tandem@ny_x_y')).toBe(true);
  });
  it('refuses a relative node path', () => {
    expect(() => authorizedKeyLine({ parentSite: 'ny', parentAddress: '1.2.3.4', publicKey: pub, node: 'node' })).toThrow(/must be absolute/);
  });
});

describe('parseSyncPublicKey', () => {
  it.each([
    ['two keys', `${fakeKey(1)}\n${fakeKey(2)}`, /holds 2 lines/],
    ['garbage', 'hello', /not a key line/],
    ['an rsa label on an ed25519 body', fakeKey(1).replace('ssh-ed25519', 'ssh-rsa'), /labelled "ssh-rsa"/],
  ])('refuses %s, naming the site', (_n, text, re) => {
    expect(() => parseSyncPublicKey('chi', text)).toThrow(re);
    expect(() => parseSyncPublicKey('chi', text)).toThrow(/^chi: /);
  });
});

it('authorizedKeysFile is the managed header plus one line per key', () => {
  expect(authorizedKeysFile(['a', 'b'])).toMatch(/^# Managed by `tandem agent install`.*\na\nb\n$/);
  expect(authorizedKeysFile([]).split('\n')).toHaveLength(2);
});
