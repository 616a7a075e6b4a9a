/** `tandem drill` input checks that need no lab: refused with exit 2 before anything is touched. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkRate, scenariosOf } from '../../scripts/drill/command-glue';
import { SCENARIOS } from '../../scripts/drill/types';
import { cli } from '../support/lab';

describe('tandem drill: bad input', () => {
  it.each([
    ['master-crsh', 'master-crash'],
    ['double_fault', 'double-fault'],
    ['al', 'all'],
  ])('--scenario %s is refused, naming every scenario and suggesting %s', (given, near) => {
    expect(() => scenariosOf(given)).toThrow(new RegExp(`--scenario "${given}" is not a scenario \\(did you mean ${near}\\?\\); scenarios: ${SCENARIOS.join(', ')}, or all`));
  });

  it('all is every scenario in order; one name is itself', () => {
    expect(scenariosOf('all')).toEqual([...SCENARIOS]);
    expect(scenariosOf('cold-standby')).toEqual(['cold-standby']);
  });

  it.each([0, -5, 1.5, 50_001, NaN])('--rate %p is refused', (r) => {
    expect(() => checkRate(r)).toThrow(/--rate .*: give records per second as a whole number 1\.\.50000/);
  });

  it('the command line: exit 2 with the message, before any host is looked at', async () => {
    const u = await cli(['drill', '--stack', 'nosuchcustomer', '--scenario', 'region-outag']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/did you mean region-outage\?/);
    const blocker = path.join(os.tmpdir(), `tandem-drill-file-${process.pid}`);
    fs.writeFileSync(blocker, 'x');
    try {
      const w = await cli(['drill', '--stack', 'lab', '--scenario', 'master-crash', '--report', path.join(blocker, 'sub')]);
      expect(w.code).toBe(2);
      expect(w.stderr).toMatch(/--report .*tandem-drill-file-\d+\/sub/);
    } finally {
      fs.rmSync(blocker, { force: true });
    }
    const n = await cli(['drill', '--stack', 'lab']);
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/name the scenario: --scenario <name>\|all/);
  }, 60_000);
});
