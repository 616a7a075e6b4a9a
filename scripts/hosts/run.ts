/** Glue shared by the agent, mirror and status command handlers: flags -> fleet options. */
import type { AgentNotify } from '../../agent/src/contract';
import { CommandError, EXIT } from '../errors';
import { agentNotify, NotifyConfigError } from '../notify/channels';
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
  // The stack's alert channels go into every host's config.json (secrets from this environment);
  // without the stack file (--inventory alone) what the hosts already have is kept.
  let notify: AgentNotify | null | undefined;
  if (target.topology) {
    try {
      notify = target.topology.notify ? agentNotify(target.topology.notify) : null;
    } catch (e) {
      if (e instanceof NotifyConfigError) throw new CommandError(`the stack's notify channels need secrets from the environment:\n${e.message}`, EXIT.usage);
      throw e;
    }
  }
  const fleet: FleetOptions = {
    notify,
    inventory: target.inventory,
    connect: (deps.connector ?? ((t) => connectorFor(t.inventory)))(target),
    ssh: { identity: a.identity, timeoutMs: a.timeout * 1000 },
    parallel: a.parallel,
    progress: deps.progress ?? stderrProgress(),
    liveUnknown: target.liveUnknown,
  };
  return { target, fleet };
}

/** Exit 1 when any host failed; the summary already named it. */
export function failIfAny(results: readonly HostResult[]): void {
  if (results.some((r) => r.outcome === 'failed' || r.outcome === 'skipped')) throw new CommandError('', EXIT.failed);
}
