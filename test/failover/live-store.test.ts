/**
 * The live layout round trip: failover writes `tandem:live` into a (temporary copy of a) stack
 * file, the loader reads it back, every other byte of the file is kept, and the inventory every
 * command works from is re-rooted on the live master.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyLiveToInventory, deriveInventory } from '../../scripts/hosts/target';
import { clearRejoined, withLive, writeLive } from '../../scripts/failover/live-store';
import { parseTopology, parseTopologyFile } from '../../model/topology/load';
import type { LiveLayout } from '../../model/live';

const REPO = path.resolve(__dirname, '..', '..');
const LIVE: LiveLayout = { epoch: 3, master: 'chi', at: '2026-12-02T21:40:00.000Z', reason: 'planned switchover ny -> chi', fenced: ['ny'] };

describe('live store', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-live-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(['lab', 'acme', 'globex'])('round-trips tandem:live in a copy of stacks/Pulumi.%s.yaml, keeping every other byte', (stack) => {
    const src = fs.readFileSync(path.join(REPO, 'stacks', `Pulumi.${stack}.yaml`), 'utf8');
    const file = path.join(dir, `Pulumi.${stack}.yaml`);
    fs.writeFileSync(file, src);
    const t = parseTopologyFile(file).topology!;
    const mirror = t.sites.find((s) => s.role === 'mirror')!.name;
    const master = t.sites.find((s) => s.role === 'master')!.name;
    const live: LiveLayout = { ...LIVE, master: mirror, fenced: [master] };
    const hint = writeLive(file, live);
    expect(hint).toMatch(new RegExp(`commit .*Pulumi\\.${stack}\\.yaml`));
    const back = parseTopologyFile(file);
    expect(back.issues.filter((i) => i.severity === 'error')).toEqual([]);
    expect(back.live).toEqual(live);
    // Every line of the original is still there, comments included, in order.
    expect(fs.readFileSync(file, 'utf8').startsWith(src.endsWith('\n') ? src : `${src}\n`)).toBe(true);
    // A second write replaces the block; removing it gives back the original file exactly.
    writeLive(file, { ...live, epoch: 4, master, fenced: [] });
    expect(parseTopologyFile(file).live).toMatchObject({ epoch: 4, master, fenced: [] });
    writeLive(file, null);
    expect(fs.readFileSync(file, 'utf8')).toBe(src);
  });

  it('refuses a file with no config mapping, naming it', () => {
    const file = path.join(dir, 'Pulumi.x.yaml');
    fs.writeFileSync(file, 'foo: 1\n');
    expect(() => writeLive(file, LIVE)).toThrow(/Pulumi\.x\.yaml: has no "config:" mapping/);
  });

  it('keeps a comment right after the block', () => {
    const text = 'config:\n  tandem:customer: x\n  # keep me\n  other: 1\n';
    const out = withLive(withLive(text, LIVE), { ...LIVE, epoch: 9 });
    expect(out).toContain('# keep me');
    expect(out).toContain('epoch: 9');
    expect(withLive(out, null)).toBe(text);
  });
});

describe('applyLiveToInventory', () => {
  const yaml = (live: string) => `config:
  tandem:customer: offc
  tandem:topology:
    dataDir: /srv/trading
    service: { start: "true", stop: "true", healthPort: 8443 }
    adminCidrs: [10.0.0.0/8]
    sites:
      - { name: ny, role: master, provider: offcloud, address: 10.0.0.1, user: root, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH" }
      - { name: chi, role: mirror, provider: offcloud, address: 10.0.0.2, user: root, failover: hot, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH" }
      - { name: ams, role: mirror, provider: offcloud, address: 10.0.0.3, user: root, relayVia: chi, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILktXJcEJoRzFYW789K48FnIRQ3sf2E6CE3uIqPjc8gH" }
${live}`;

  it('re-roots the inventory on the live master; addresses stay', () => {
    const r = parseTopology(yaml(`  tandem:live: { epoch: 2, master: chi, at: "2026-12-02T21:40:00Z", reason: t }\n`), 'offc');
    expect(r.issues.filter((i) => i.severity === 'error')).toEqual([]);
    const inv = deriveInventory(r.topology!)!;
    const now = applyLiveToInventory(inv, r.topology!, r.live ?? null);
    const by = Object.fromEntries(now.hosts.map((h) => [h.site, h]));
    expect(by.chi).toMatchObject({ role: 'master', feedFrom: null, address: '10.0.0.2' });
    expect(by.ny).toMatchObject({ role: 'mirror', feedFrom: 'chi', failover: 'warm', address: '10.0.0.1' });
    expect(by.ams).toMatchObject({ role: 'mirror', feedFrom: 'chi' });
  });

  it('changes nothing without a live layout', () => {
    const r = parseTopology(yaml(''), 'offc');
    const inv = deriveInventory(r.topology!)!;
    expect(applyLiveToInventory(inv, r.topology!, null)).toBe(inv);
  });
});

describe('clearRejoined (a fenced site that came back as an in-sync mirror)', () => {
  const m = (site: string, role: string, epoch: number | null, inSync: boolean) => ({ site, role, epoch, inSync });
  it.each([
    ['in sync at the live epoch: cleared', [m('ny', 'mirror', 3, true)], []],
    ['in sync at a later epoch: cleared', [m('ny', 'mirror', 4, true)], []],
    ['a mirror still catching up stays fenced', [m('ny', 'mirror', 3, false)], null],
    ['still master at an older epoch (not demoted yet) stays fenced', [m('ny', 'master', 2, false)], null],
    ['a mirror at an older epoch (never learned of the failover) stays fenced', [m('ny', 'mirror', 2, true)], null],
    ['unreachable (no row) stays fenced', [m('ams', 'mirror', 3, true)], null],
  ] as const)('%s', (_n, rows, want) => {
    const r = clearRejoined(LIVE, rows);
    if (want === null) expect(r).toBeNull();
    else expect(r).toEqual({ ...LIVE, fenced: want });
  });
  it('no fenced sites: nothing to do', () => expect(clearRejoined({ ...LIVE, fenced: [] }, [m('ny', 'mirror', 3, true)])).toBeNull());
});
