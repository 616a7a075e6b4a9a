/** A master's agent config for unit tests of status and alerts: direct mirrors, hot unless named cold. */
import type { AgentConfig } from '../../agent/src/contract';

export function masterConfig(sites: readonly string[], cold: readonly string[] = [], over: Partial<AgentConfig> = {}): AgentConfig {
  return {
    version: 1,
    customer: 'acme',
    site: 'ny',
    role: 'master',
    epoch: 1,
    dataDir: '/d',
    exclude: [],
    feedFrom: null,
    feedFromAddress: null,
    children: sites.map((site) => ({ site, address: 'x', sshPort: 22, hostKey: 'k', syncIntervalS: 0, bandwidthMbit: null, failover: cold.includes(site) ? ('cold' as const) : ('hot' as const) })),
    paused: false,
    pausedChildren: [],
    ...over,
  };
}
