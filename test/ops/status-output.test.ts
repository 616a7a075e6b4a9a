import { execFileSync } from 'node:child_process';
import { parseStatusOutput, STATUS_SCRIPT } from '../../scripts/status/collect';
import { fmtBytes, fmtLag, renderJson, renderTable } from '../../scripts/status/render';
import { assess } from '../../scripts/status/verdict';
import { formatStatus, type LabHostStatus } from '../../scripts/lab/status';
import { table, UNKNOWN } from '../../scripts/util/table';
import { agentStatus, child } from './fixtures';

describe('parseStatusOutput', () => {
  const st = agentStatus('chi');
  it('reads the age line and the agent JSON', () => {
    const p = parseStatusOutput(`age=3\n--tandem-status--\n${JSON.stringify(st)}\n`, '', 0);
    expect(p).toEqual({ status: st, ageS: 3, error: null });
  });
  it('no status file yet: age unknown, status still parsed', () => {
    expect(parseStatusOutput(`--tandem-status--\n${JSON.stringify(st)}`, '', 0).ageS).toBeNull();
  });
  it('no agent installed', () => {
    const p = parseStatusOutput('--tandem-status--\n', 'no agent installed (/var/lib/tandem/agent.js missing)\n', 3);
    expect(p).toEqual({ status: null, ageS: null, error: 'no agent installed (/var/lib/tandem/agent.js missing)' });
  });
  it('garbage from the agent is an error, not a crash', () => {
    const p = parseStatusOutput('--tandem-status--\nSegmentation fault', 'boom', 139);
    expect(p.status).toBeNull();
    expect(p.error).toMatch(/unreadable/);
  });
  it('the remote script is valid sh', () => {
    execFileSync('sh', ['-n'], { input: STATUS_SCRIPT });
  });
});

describe('render', () => {
  it.each([
    [null, '-'],
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [50 * 1024 * 1024, '50 MiB'],
  ])('fmtBytes(%p) = %p', (n, s) => expect(fmtBytes(n)).toBe(s));
  it.each([
    [null, '-'],
    [0.04, '0.0 s'],
    [2.25, '2.3 s'],
    [42, '42 s'],
    [7200, '2.0 h'],
  ])('fmtLag(%p) = %p', (n, s) => expect(fmtLag(n)).toBe(s));

  const v = assess([
    {
      site: 'ny',
      role: 'master',
      failover: null,
      feedFrom: null,
      syncIntervalS: null,
      reachable: true,
      error: null,
      statusAgeS: 1,
      status: agentStatus('ny', { children: [child('chi', { state: 'error', lastError: 'ENOSPC: no space left on device', bytesBehind: 2048, lagS: 30 })] }),
    },
    { site: 'chi', role: 'mirror', failover: 'hot', feedFrom: 'ny', syncIntervalS: 0, reachable: true, error: null, statusAgeS: 1, status: agentStatus('chi') },
  ]);
  it('a table with the verdict as its last line', () => {
    const t = renderTable(v);
    expect(t.split('\n')[0]).toMatch(/^SITE\s+ROLE\s+EPOCH\s+VERSION\s+STATE\s+LAG\s+BEHIND\s+VERIFIED\s+LAST-ERROR$/);
    expect(t).toMatch(/^chi\s+mirror\s+1\s+0\.1\.0\s+error\s+30 s\s+2\.0 KiB\s+-\s+ENOSPC: no space left on device$/m);
    expect(t.split('\n').pop()).toBe('DEGRADED: no in-sync mirror; mirror chi failing: ENOSPC: no space left on device');
  });
  it('JSON for monitors', () => {
    const j = JSON.parse(renderJson('optest', v, 12));
    expect(j).toMatchObject({ customer: 'optest', verdict: 'DEGRADED', inSyncMirrors: [], elapsedMs: 12 });
    expect(j.hosts.map((h: { site: string }) => h.site)).toEqual(['ny', 'chi']);
  });
});

describe('a powered-off cold mirror in the table', () => {
  const obs = (ldn: Parameters<typeof child>[1]) =>
    assess(
      [
        {
          site: 'ny',
          role: 'master',
          failover: null,
          feedFrom: null,
          syncIntervalS: null,
          reachable: true,
          error: null,
          statusAgeS: 1,
          status: agentStatus('ny', { children: [child('chi'), child('ldn', { state: 'down', lagS: 0, bytesBehind: 0, lastAckAt: null, ...ldn })] }),
        },
        { site: 'chi', role: 'mirror', failover: 'hot', feedFrom: 'ny', syncIntervalS: 0, reachable: true, error: null, statusAgeS: 1, status: agentStatus('chi') },
        { site: 'ldn', role: 'mirror', failover: 'cold', feedFrom: 'ny', syncIntervalS: 300, reachable: false, error: 'connect ETIMEDOUT', statusAgeS: null, status: null },
      ],
      { now: Date.parse('2026-11-22T03:00:00Z') },
    );
  it('shows the age of its data, not LAG 0.0 s, and unknown bytes behind', () => {
    const t = renderTable(obs({ lastInSyncAt: '2026-11-22T02:00:00Z' }));
    expect(t).toMatch(/^ldn\s+mirror\s+-\s+-\s+off \(cold\)\s+data 1\.0 h old\s+-\s+-$/m);
    expect(t).not.toMatch(/^ldn.*0\.0 s/m);
    expect(t.split('\n').pop()).toBe('OK');
  });
  it('seeded then powered off (verified equal, never acknowledged a frame): OK, with its age', () => {
    const t = renderTable(obs({ verifiedAt: '2026-11-22T02:45:00Z' }));
    expect(t).toMatch(/^ldn\s+.*off \(cold\)\s+data 900 s old/m);
    expect(t).not.toMatch(/never completed a sync/);
  });
  it('age unknown: the unknown marker', () => {
    expect(
      renderTable(obs({ lastInSyncAt: null }))
        .split('\n')
        .find((l) => l.startsWith('ldn')),
    ).toMatch(/off \(cold\)\s+-\s+-\s+-$/);
  });
});

describe('one marker for unknown', () => {
  it('is "-" in status, lab status and every table', () => {
    expect(UNKNOWN).toBe('-');
    expect(fmtBytes(null)).toBe(UNKNOWN);
    expect(fmtLag(null)).toBe(UNKNOWN);
    const host: LabHostStatus = {
      site: 'ny',
      role: 'master',
      region: 'r',
      address: '10.0.0.2',
      sshPort: 22,
      netns: 'tandem-ny',
      netnsPresent: true,
      sshd: 'running',
      sshdPid: 7,
      processes: 3,
      power: 'on',
      link: 'up',
      linkMbit: null,
      diskFull: false,
      diskUsedMb: null,
      diskMb: 64,
      vip: true,
    };
    const lab = formatStatus({ customer: 'x', up: true, subnet: '10.0.0.0/24', operatorLink: 'op', vip: { address: '10.0.0.9', holder: 'ny' }, inventory: '/i.json', hosts: [host], leftovers: [] });
    expect(lab).toContain(' -/64 MiB ');
    expect(lab).not.toMatch(/\?/);
  });
  it('tables: padded columns, a free last column, no trailing spaces', () => {
    expect(
      table(
        ['A', 'BB', 'C'],
        [
          ['xyz', '', 'long text'],
          ['1', '2', ''],
        ],
      ),
    ).toEqual(['A    BB  C', 'xyz      long text', '1    2']);
  });
});
