/**
 * Owns the faults a drill injects and their undoing. On the lab they are real (scripts/lab/fault:
 * processes killed, links cut, hosts powered off). A provisioned stack has no fault injector here
 * yet: scenarios that need one are "not applicable" there (the planned switchover needs none).
 * Every fault is remembered, so the drill can undo what it did even when a scenario fails half way.
 */
import type { Inventory } from '../../model/inventory';
import { labFault, type LabFault } from '../lab/fault';
import { readState } from '../lab/state';

export type FaultState = 'crashed' | 'isolated' | 'off' | 'hung';

export class FaultDriver {
  /** What the drill did to each site and has not undone yet. */
  readonly applied = new Map<string, FaultState>();
  /** Sites powered off before the drill (cold mirrors): powered off again at the end. */
  readonly offAtStart: ReadonlySet<string>;

  constructor(
    readonly inv: Inventory,
    private readonly log: (line: string) => void,
  ) {
    const st = inv.source === 'lab' ? readState(inv.customer) : null;
    this.offAtStart = new Set(
      st
        ? Object.entries(st.hosts)
            .filter(([, h]) => h.poweredOff)
            .map(([s]) => s)
        : [],
    );
  }

  get lab(): boolean {
    return this.inv.source === 'lab' && !!readState(this.inv.customer);
  }

  /** Why this stack cannot take injected faults, or null when it can. */
  why(): string | null {
    return this.lab ? null : `faults are injected on the lab only (tandem lab fault); on a provisioned stack ("${this.inv.customer}", source ${this.inv.source}) only planned-switchover runs`;
  }

  private async lf(site: string, f: LabFault): Promise<string> {
    const r = await labFault(this.inv.customer, site, f);
    this.log(`fault: ${r}`);
    return r;
  }

  async crash(site: string): Promise<string> {
    this.applied.set(site, 'crashed');
    return this.lf(site, 'crash');
  }

  async isolate(site: string): Promise<string> {
    this.applied.set(site, 'isolated');
    return this.lf(site, 'isolate');
  }

  async powerOff(site: string): Promise<string> {
    this.applied.set(site, 'off');
    return this.lf(site, 'poweroff');
  }

  async powerOn(site: string): Promise<string> {
    const r = await this.lf(site, 'poweron');
    this.applied.delete(site);
    return r;
  }

  /** Whether the lab says the site is powered off now. */
  poweredOff(site: string): boolean {
    return !!readState(this.inv.customer)?.hosts[site]?.poweredOff;
  }

  /**
   * Brings a site back from whatever the drill did to it, the way a real host returns: a power
   * cycle (it boots, and its boot fence asks the others for the epoch before it feeds anyone).
   * An isolated host is powered off before its link is healed, so it never rejoins still
   * believing it is the master.
   */
  async bringBack(site: string): Promise<string> {
    const f = this.applied.get(site);
    if (f === 'isolated') {
      await this.lf(site, 'poweroff');
      await this.lf(site, 'heal');
    }
    if (f === 'hung') await this.lf(site, 'resume');
    const r = await this.lf(site, 'poweron');
    this.applied.delete(site);
    return r;
  }
}
