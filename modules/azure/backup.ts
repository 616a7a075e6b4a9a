import * as azure from '@pulumi/azure-native';
import * as pulumi from '@pulumi/pulumi';
import { TAG } from '../shared/tags';

/** Built-in role ids (the same in every tenant) Azure Disk Backup needs. */
export const ROLE = {
  diskBackupReader: '3e5e47e6-65f7-47ef-90b5-e5dd4d455f24',
  diskSnapshotContributor: '7efff54f-a5b4-42b5-a1c5-5411624893ce',
} as const;

export interface DiskBackupArgs {
  readonly location: string;
  /** Resource group of the disk; snapshots are kept there too. */
  readonly resourceGroupName: pulumi.Input<string>;
  readonly resourceGroupId: pulumi.Input<string>;
  readonly diskId: pulumi.Input<string>;
  readonly diskName: pulumi.Input<string>;
  /** Value of the disk's `tandem:snapshots` tag; the backup instance carries it too. */
  readonly snapshotKey: string;
  /** Hours between snapshots. @default 4 */
  readonly everyHours?: number;
  /** Days snapshots are kept. @default 7 */
  readonly keepDays?: number;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Scheduled incremental snapshots of a managed data disk (Azure Disk Backup): a Backup vault, a
 * policy, the two role assignments the vault's identity needs, and the backup instance.
 * Creating role assignments needs Owner or User Access Administrator on the resource group.
 */
export class DiskBackup extends pulumi.ComponentResource {
  constructor(name: string, args: DiskBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:azure:DiskBackup', name, {}, opts);
    const every = args.everyHours ?? 4;
    const vault = new azure.dataprotection.BackupVault(
      `${name}-vault`,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        identity: { type: 'SystemAssigned' },
        properties: { storageSettings: [{ datastoreType: 'VaultStore', type: 'LocallyRedundant' }] },
        tags: args.tags,
      },
      { parent: this },
    );
    const operational = { dataStoreType: 'OperationalStore', objectType: 'DataStoreInfoBase' };
    const policy = new azure.dataprotection.BackupPolicy(
      `${name}-policy`,
      {
        resourceGroupName: args.resourceGroupName,
        vaultName: vault.name,
        properties: {
          objectType: 'BackupPolicy',
          datasourceTypes: ['Microsoft.Compute/disks'],
          policyRules: [
            {
              name: `Every${every}Hours`,
              objectType: 'AzureBackupRule',
              backupParameters: { objectType: 'AzureBackupParams', backupType: 'Incremental' },
              dataStore: operational,
              trigger: {
                objectType: 'ScheduleBasedTriggerContext',
                schedule: { repeatingTimeIntervals: [`R/2024-01-01T00:00:00+00:00/PT${every}H`], timeZone: 'UTC' },
                taggingCriteria: [{ isDefault: true, taggingPriority: 99, tagInfo: { tagName: 'Default' } }],
              },
            },
            {
              name: 'Default',
              objectType: 'AzureRetentionRule',
              isDefault: true,
              lifecycles: [
                {
                  deleteAfter: { objectType: 'AbsoluteDeleteOption', duration: `P${args.keepDays ?? 7}D` },
                  sourceDataStore: operational,
                },
              ],
            },
          ],
        },
      },
      { parent: vault },
    );

    const client = azure.authorization.getClientConfigOutput({ parent: this });
    const role = (id: string) => pulumi.interpolate`/subscriptions/${client.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${id}`;
    const principalId = vault.identity.apply((i) => i?.principalId ?? '');
    const reader = new azure.authorization.RoleAssignment(
      `${name}-disk-reader`,
      {
        scope: args.diskId,
        roleDefinitionId: role(ROLE.diskBackupReader),
        principalId,
        principalType: 'ServicePrincipal',
      },
      { parent: vault },
    );
    const contributor = new azure.authorization.RoleAssignment(
      `${name}-snapshot-contributor`,
      {
        scope: args.resourceGroupId,
        roleDefinitionId: role(ROLE.diskSnapshotContributor),
        principalId,
        principalType: 'ServicePrincipal',
      },
      { parent: vault },
    );

    new azure.dataprotection.BackupInstance(
      `${name}-instance`,
      {
        resourceGroupName: args.resourceGroupName,
        vaultName: vault.name,
        tags: { ...args.tags, [TAG.snapshots]: args.snapshotKey },
        properties: {
          objectType: 'BackupInstance',
          friendlyName: args.snapshotKey,
          dataSourceInfo: {
            objectType: 'Datasource',
            datasourceType: 'Microsoft.Compute/disks',
            resourceID: args.diskId,
            resourceLocation: args.location,
            resourceName: args.diskName,
            resourceType: 'Microsoft.Compute/disks',
            resourceUri: args.diskId,
          },
          policyInfo: {
            policyId: policy.id,
            policyParameters: {
              dataStoreParametersList: [
                {
                  objectType: 'AzureOperationalStoreParameters',
                  dataStoreType: 'OperationalStore',
                  resourceGroupId: args.resourceGroupId,
                },
              ],
            },
          },
        },
      },
      { parent: vault, dependsOn: [reader, contributor] },
    );
    this.registerOutputs({});
  }
}
