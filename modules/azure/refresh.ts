import * as azure from '@pulumi/azure-native';
import * as pulumi from '@pulumi/pulumi';
import { refreshWorkflowDefinition, VM_CONTRIBUTOR_ROLE } from './decide';

export interface AzureColdRefreshArgs {
  readonly location: string;
  readonly resourceGroupName: pulumi.Input<string>;
  /** The cold mirror's VM (full resource id). */
  readonly vmId: pulumi.Input<string>;
  /** Hours between starts (whole hours, >= 1). */
  readonly everyHours: number;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Keeps a cold Azure mirror from going stale: a Consumption Logic App whose recurrence trigger
 * POSTs ARM's `virtualMachines/start` on the VM every N hours, as its own system-assigned
 * identity, which holds "Virtual Machine Contributor" on that one VM only.
 *
 * Why a Logic App: azure-native offers no "start this VM on a schedule" resource. Compute's own
 * schedules (`devtestlab` GlobalSchedule, the portal's auto-shutdown) only shut VMs down;
 * Automation needs an account, a runbook script, a schedule and a job schedule (four resources and
 * a PowerShell body to maintain); Start/Stop VMs v2 is a marketplace solution. A Logic App is one
 * resource with a declarative definition (tested as data), billed per run.
 * The host powers itself off once caught up (inventory `coldRefreshH`); that leaves an Azure VM
 * "stopped", not deallocated, unless the agent deallocates through ARM — see docs/pulumi.md.
 */
export class AzureColdRefresh extends pulumi.ComponentResource {
  public readonly workflowId: pulumi.Output<string>;

  constructor(name: string, args: AzureColdRefreshArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:azure:ColdRefresh', name, {}, opts);
    const workflow = new azure.logic.Workflow(
      `${name}-workflow`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        identity: { type: 'SystemAssigned' },
        state: 'Enabled',
        definition: pulumi.output(args.vmId).apply((id) => refreshWorkflowDefinition(id, args.everyHours)),
        tags: args.tags,
      },
      { parent: this },
    );
    const client = azure.authorization.getClientConfigOutput({ parent: this });
    new azure.authorization.RoleAssignment(
      `${name}-vm-start`,
      {
        scope: args.vmId,
        roleDefinitionId: pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${VM_CONTRIBUTOR_ROLE}`,
        principalId: workflow.identity.apply((i) => i?.principalId ?? ''),
        principalType: 'ServicePrincipal',
      },
      { parent: workflow },
    );
    this.workflowId = workflow.id;
    this.registerOutputs({ workflowId: this.workflowId });
  }
}
