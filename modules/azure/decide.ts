/** Pure decisions for Azure sites: address plan, image, rule priorities. */
import type { IngressRule } from '../shared/ingress';

/** Same reasoning as AWS's VPC_CIDR: sites never peer, so one fixed plan keeps each VNet stable. */
export const VNET_CIDR = '10.20.0.0/16';
export const SUBNET_CIDR = '10.20.0.0/24';

/** Arm64 (Ampere) sizes carry a `p` feature letter: Standard_D2ps_v5, Standard_E4pds_v5. */
export function azureArch(size: string): 'arm64' | 'amd64' {
  return /^Standard_[A-Z]+\d+[a-z]*p[a-z]*_v\d+$/.test(size) ? 'arm64' : 'amd64';
}

/** The current Ubuntu LTS (24.04) image for a VM size. */
export function ubuntuImage(size: string): { publisher: string; offer: string; sku: string; version: string } {
  return { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: azureArch(size) === 'arm64' ? 'server-arm64' : 'server', version: 'latest' };
}

/**
 * NSG rule priorities (lower wins; 100..4096, unique per direction). Each kind of rule has its own
 * band so adding a peer never renumbers an admin rule: admins 100+, peers 1000+, health 2000+.
 */
export function nsgPriorities(rules: readonly IngressRule[]): number[] {
  const next = { admin: 100, peer: 1000, health: 2000 };
  return rules.map((r) => {
    const band = r.source.kind === 'route53-health-checkers' ? 'health' : r.key.startsWith('sync-') ? 'peer' : 'admin';
    const p = next[band]++;
    if (p > 4096) throw new Error(`too many NSG rules: priority ${p} is above Azure's limit 4096`);
    return p;
  });
}

/** ARM API version the cold refresh Logic App calls `virtualMachines/start` with. */
export const COMPUTE_API_VERSION = '2024-07-01';

/** Built-in "Virtual Machine Contributor" role (the same id in every tenant): may start a VM. */
export const VM_CONTRIBUTOR_ROLE = '9980e02c-c2be-4d73-94e8-173b1dc7cf3c';

/**
 * The Logic App workflow definition of a cold refresh: a recurrence trigger every N hours and one
 * HTTP action POSTing ARM's `start` on the VM, authenticated as the workflow's own managed
 * identity. `vmId` is the VM's full resource id.
 */
export function refreshWorkflowDefinition(vmId: string, everyHours: number): Record<string, unknown> {
  if (!Number.isInteger(everyHours) || everyHours < 1) throw new Error(`refreshWorkflowDefinition: ${everyHours} is not a whole number of hours >= 1`);
  return {
    $schema: 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#',
    contentVersion: '1.0.0.0',
    triggers: {
      every: { type: 'Recurrence', recurrence: { frequency: 'Hour', interval: everyHours } },
    },
    actions: {
      startVm: {
        type: 'Http',
        inputs: {
          method: 'POST',
          uri: `https://management.azure.com${vmId}/start?api-version=${COMPUTE_API_VERSION}`,
          authentication: { type: 'ManagedServiceIdentity', audience: 'https://management.azure.com/' },
        },
        runAfter: {},
      },
    },
    outputs: {},
  };
}
