/** Glue shared by the agent, mirror and status command handlers: flags -> fleet options. */
import { CommandError, EXIT } from '../errors';
import type { FleetOptions, HostResult } from './install';
import type { SshOptions, TargetOptions } from './options';
import { stderrProgress, type Progress } from './parallel';
import type { Connector } from './remote';
import { connectorFor } from './ssh';
import { resolveTarget, type LabReader, type Target } from './target';

export interface RunDeps {
  /** Tests swap these; the command uses the real ones. */
  readonly labReader?: () => LabReader;
  readonly connector?: (t: Target) => Connector;
  readonly progress?: Progress;
}

export async function fleetFrom(a: TargetOptions & SshOptions, deps: RunDeps = {}): Promise<{ target: Target; fleet: FleetOptions }> {
  const target = await resolveTarget(a, deps.labReader);
  const fleet: FleetOptions = {
    inventory: target.inventory,
    connect: (deps.connector ?? ((t) => connectorFor(t.inventory)))(target),
    ssh: { identity: a.identity, timeoutMs: a.timeout * 1000 },
    parallel: a.parallel,
    progress: deps.progress ?? stderrProgress(),
  };
  return { target, fleet };
}

/** Exit 1 when any host failed; the summary already named it. */
export function failIfAny(results: readonly HostResult[]): void {
  if (results.some((r) => r.outcome === 'failed' || r.outcome === 'skipped')) throw new CommandError('', EXIT.failed);
}
