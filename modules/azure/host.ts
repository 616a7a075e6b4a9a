import * as azure from '@pulumi/azure-native';
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';
import type { FailoverMode, Role } from '../../model/topology/types';
import { cloudInit } from '../shared/cloud-init';
import { TAG } from '../shared/tags';
import { AzureColdRefresh } from './refresh';
import { SUBNET_CIDR, ubuntuImage, VNET_CIDR } from './decide';

export interface AzureHostArgs {
  readonly customer: string;
  readonly site: string;
  readonly role: Role;
  /** Null for the master. */
  readonly failover: FailoverMode | null;
  /** Azure location, e.g. westeurope; the same as the provider's in `opts`. */
  readonly location: string;
  /** VM size, e.g. Standard_D2s_v5. */
  readonly size: string;
  /** Data disk size in GiB. */
  readonly diskGb: number;
  /** Where the data disk is mounted. */
  readonly dataDir: string;
  /** Admin SSH user. */
  readonly user: string;
  /** Public keys allowed to log in as `user`; Azure requires at least one. */
  readonly adminKeys: pulumi.Input<string[]>;
  /** @default 22 */
  readonly sshPort?: number;
  /** Tags on every resource. */
  readonly tags: Readonly<Record<string, string>>;
  /** Value of the data disk's snapshot tag. */
  readonly snapshotKey: string;
  /**
   * The public IP on this site's NIC. After a same-location failover the service address (the
   * stack file master's public IP) sits on the live master's NIC and the live master's own public
   * IP on the old master's: the failover driver swapped them, and `pulumi up` must not swap them
   * back. @default this site's public IP
   */
  readonly nicPublicIpId?: pulumi.Input<string>;
  /** Cold mirrors only: start the VM every N hours (a Logic App, see AzureColdRefresh). @default none */
  readonly coldRefreshH?: number;
  /**
   * Create the data disk as a copy of this snapshot (its ARM id; `tandem site replace`, from
   * `tandem:restore.<site>.snapshotId`). Changing it replaces the disk. @default an empty disk
   */
  readonly dataSnapshotId?: string;
}

/** Name of the NIC's IP configuration that carries the public IP; the failover driver moves it. */
export const IP_CONFIGURATION = 'primary';

/**
 * One Azure site: resource group, VNet and subnet, an NSG (rules come from AzureIngress), a
 * Standard static public IP, a NIC, an Ubuntu LTS VM and a managed data disk encrypted at rest,
 * prepared by the same cloud-init as on AWS.
 */
export class AzureHost extends pulumi.ComponentResource {
  public readonly resourceGroupName: pulumi.Output<string>;
  public readonly resourceGroupId: pulumi.Output<string>;
  public readonly nsgName: pulumi.Output<string>;
  public readonly publicIp: pulumi.Output<string>;
  public readonly vmId: pulumi.Output<string>;
  public readonly dataDiskId: pulumi.Output<string>;
  public readonly dataDiskName: pulumi.Output<string>;
  public readonly hostKey: pulumi.Output<string>;
  /** This site's own public IP (on this NIC unless a failover swapped it). */
  public readonly publicIpId: pulumi.Output<string>;
  public readonly nicId: pulumi.Output<string>;
  /** The cold refresh Logic App, when `coldRefreshH` is set. */
  public readonly refreshWorkflowId?: pulumi.Output<string>;

  constructor(name: string, args: AzureHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:azure:Host', name, {}, opts);
    const { location, tags } = args;

    const rg = new azure.resources.ResourceGroup(`${name}-rg`, { location, tags }, { parent: this });
    const rgName = rg.name;
    const vnet = new azure.network.VirtualNetwork(
      `${name}-vnet`,
      {
        resourceGroupName: rgName,
        location,
        addressSpace: { addressPrefixes: [VNET_CIDR] },
        tags,
      },
      { parent: rg, ignoreChanges: ['subnets'] },
    );
    const subnet = new azure.network.Subnet(
      `${name}-subnet`,
      {
        resourceGroupName: rgName,
        virtualNetworkName: vnet.name,
        addressPrefix: SUBNET_CIDR,
      },
      { parent: vnet },
    );
    const nsg = new azure.network.NetworkSecurityGroup(
      `${name}-nsg`,
      {
        resourceGroupName: rgName,
        location,
        tags,
      },
      { parent: rg, ignoreChanges: ['securityRules'] },
    );
    const pip = new azure.network.PublicIPAddress(
      `${name}-ip`,
      {
        resourceGroupName: rgName,
        location,
        sku: { name: 'Standard', tier: 'Regional' },
        publicIPAllocationMethod: 'Static',
        publicIPAddressVersion: 'IPv4',
        tags,
      },
      { parent: rg },
    );
    const nic = new azure.network.NetworkInterface(
      `${name}-nic`,
      {
        resourceGroupName: rgName,
        location,
        networkSecurityGroup: { id: nsg.id },
        ipConfigurations: [
          {
            name: IP_CONFIGURATION,
            primary: true,
            subnet: { id: subnet.id },
            privateIPAllocationMethod: 'Dynamic',
            publicIPAddress: { id: args.nicPublicIpId ?? pip.id },
          },
        ],
        tags,
      },
      { parent: rg },
    );

    const disk = new azure.compute.Disk(
      `${name}-data`,
      {
        resourceGroupName: rgName,
        location,
        creationData: args.dataSnapshotId ? { createOption: 'Copy', sourceResourceId: args.dataSnapshotId } : { createOption: 'Empty' },
        diskSizeGB: args.diskGb,
        sku: { name: 'Premium_LRS' },
        // Explicit, so the policy can check it: platform-managed keys, no subscription feature needed.
        encryption: { type: 'EncryptionAtRestWithPlatformKey' },
        tags: { ...tags, [TAG.snapshots]: args.snapshotKey },
      },
      { parent: rg },
    );

    const hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: 'ED25519' }, { parent: this });
    this.hostKey = hostKey.publicKeyOpenssh.apply((k) => k.trim().split(/\s+/).slice(0, 2).join(' '));
    const lun = 0;
    const customData = pulumi.all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh, args.adminKeys]).apply(([priv, pub, keys]) =>
      Buffer.from(
        cloudInit({
          adminUser: args.user,
          adminKeys: keys,
          hostKey: { privateOpenssh: priv, publicOpenssh: pub },
          dataDir: args.dataDir,
          device: { kind: 'azure-lun', lun },
          sshPort: args.sshPort,
        }),
      ).toString('base64'),
    );
    const keys = pulumi.output(args.adminKeys).apply((ks) => {
      if (ks.length === 0) throw new Error(`${name}: Azure VMs need at least one admin SSH public key`);
      return ks.map((keyData) => ({ path: `/home/${args.user}/.ssh/authorized_keys`, keyData }));
    });

    const vm = new azure.compute.VirtualMachine(
      `${name}-vm`,
      {
        resourceGroupName: rgName,
        location,
        hardwareProfile: { vmSize: args.size },
        networkProfile: { networkInterfaces: [{ id: nic.id, primary: true, deleteOption: 'Detach' }] },
        osProfile: {
          computerName: `${args.customer}-${args.site}`.slice(0, 63),
          adminUsername: args.user,
          customData: pulumi.secret(customData),
          linuxConfiguration: { disablePasswordAuthentication: true, ssh: { publicKeys: keys } },
        },
        storageProfile: {
          imageReference: ubuntuImage(args.size),
          osDisk: { createOption: 'FromImage', managedDisk: { storageAccountType: 'Premium_LRS' }, deleteOption: 'Delete' },
          dataDisks: [{ lun, createOption: 'Attach', managedDisk: { id: disk.id }, deleteOption: 'Detach' }],
        },
        tags,
      },
      {
        parent: rg,
        // As on AWS: never replace a trading server for new admin keys; cloud-init ran at first boot.
        ignoreChanges: ['osProfile.customData', 'osProfile.linuxConfiguration.ssh'],
      },
    );

    if (args.coldRefreshH !== undefined) {
      if (args.failover !== 'cold') throw new Error(`${name}: coldRefreshH is only for cold mirrors; site "${args.site}" is ${args.failover ?? 'the master'}`);
      const refresh = new AzureColdRefresh(
        `${name}-refresh`,
        {
          location,
          resourceGroupName: rgName,
          vmId: vm.id,
          everyHours: args.coldRefreshH,
          tags,
        },
        { parent: this },
      );
      this.refreshWorkflowId = refresh.workflowId;
    }

    this.publicIpId = pip.id;
    this.nicId = nic.id;
    this.resourceGroupName = rgName;
    this.resourceGroupId = rg.id;
    this.dataDiskName = disk.name;
    this.nsgName = nsg.name;
    this.publicIp = pip.ipAddress.apply((ip) => {
      if (!ip) throw new Error(`${name}: the static public IP has no address`);
      return ip;
    });
    this.vmId = vm.id;
    this.dataDiskId = disk.id;
    this.registerOutputs({ publicIp: this.publicIp, vmId: this.vmId, dataDiskId: this.dataDiskId, hostKey: this.hostKey });
  }
}
