import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import * as tls from '@pulumi/tls';
import type { FailoverMode, Role } from '../../model/topology/types';
import { cloudInit } from '../shared/cloud-init';
import { TAG } from '../shared/tags';
import { CANONICAL_OWNER, ubuntuArch, ubuntuImageFilter } from './decide';
import { ColdRefresh } from './refresh';
import { SiteNetwork } from './network';

export interface AwsHostArgs {
  /** Customer (stack) name; used in the KMS alias and snapshot tag. */
  readonly customer: string;
  /** Site name from the topology. */
  readonly site: string;
  readonly role: Role;
  /** Null for the master. */
  readonly failover: FailoverMode | null;
  /** EC2 instance type, e.g. c6i.large. */
  readonly instanceType: string;
  /** Data volume size in GiB. */
  readonly diskGb: number;
  /** Where the data volume is mounted. */
  readonly dataDir: string;
  /** Admin SSH user created by cloud-init. */
  readonly user: string;
  /** Public keys allowed to log in as `user`. */
  readonly adminKeys: pulumi.Input<string[]>;
  /** @default 22 */
  readonly sshPort?: number;
  /** Tags on every resource. */
  readonly tags: Readonly<Record<string, string>>;
  /** Value of the data volume's snapshot tag, which its snapshot policy targets. */
  readonly snapshotKey: string;
  /** Root volume size in GiB. @default 16 */
  readonly rootGb?: number;
  /**
   * The instance this site's Elastic IP is associated with. After a same-region failover the
   * service address (the stack file master's Elastic IP) sits on the live master's instance and
   * the live master's own Elastic IP on the old master's: the failover driver swapped them, and
   * `pulumi up` must not swap them back. @default this site's instance
   */
  readonly eipInstanceId?: pulumi.Input<string>;
  /**
   * Cold mirrors only: start the instance every N hours (EventBridge Scheduler); the host's agent
   * powers it off again once it has caught up. @default none
   */
  readonly coldRefreshH?: number;
  /**
   * Create the data volume from this EBS snapshot (`tandem site replace`: the site's newest
   * snapshot, set as `tandem:restore.<site>.snapshotId`). Changing it replaces the volume, so it
   * stays in the stack config after the replace. @default an empty volume
   */
  readonly dataSnapshotId?: string;
}

/**
 * One AWS site: network, security group (rules come from SiteIngress), a KMS key, an Ubuntu LTS
 * instance with IMDSv2 and an encrypted root volume, an encrypted gp3 data volume mounted at
 * dataDir by cloud-init, an Elastic IP, and — for a cold mirror — the instance stopped once built.
 */
export class AwsHost extends pulumi.ComponentResource {
  public readonly instanceId: pulumi.Output<string>;
  /** The Elastic IP: the address operations and peers use. */
  public readonly publicIp: pulumi.Output<string>;
  public readonly allocationId: pulumi.Output<string>;
  public readonly securityGroupId: pulumi.Output<string>;
  /** The site's KMS key; snapshots copied into this region are encrypted with it. */
  public readonly kmsKeyArn: pulumi.Output<string>;
  public readonly dataVolumeId: pulumi.Output<string>;
  /** `ssh-ed25519 AAAA...`, known before the instance boots. */
  public readonly hostKey: pulumi.Output<string>;
  /** The cold refresh schedule, when `coldRefreshH` is set. */
  public readonly refreshScheduleArn?: pulumi.Output<string>;

  constructor(name: string, args: AwsHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:aws:Host', name, {}, opts);
    const tags = args.tags;

    const network = new SiteNetwork(`${name}-net`, { tags }, { parent: this });

    const key = new aws.kms.Key(
      `${name}-key`,
      {
        description: `tandem ${args.customer}/${args.site}: data volume, root volume and snapshot copies`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        tags,
      },
      { parent: this },
    );
    new aws.kms.Alias(`${name}-key-alias`, { name: `alias/tandem-${args.customer}-${args.site}`, targetKeyId: key.keyId }, { parent: key });

    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: network.vpcId,
        description: `tandem ${args.customer}/${args.site}: ssh from admins and peer sites only`,
        tags: { ...tags, Name: `${name}-sg` },
      },
      { parent: this },
    );
    // The provider drops AWS's default egress rule; hosts need apt, NTP and their peers.
    for (const [fam, cidr] of [
      ['v4', '0.0.0.0/0'],
      ['v6', '::/0'],
    ] as const) {
      new aws.vpc.SecurityGroupEgressRule(
        `${name}-egress-${fam}`,
        {
          securityGroupId: sg.id,
          ipProtocol: '-1',
          ...(fam === 'v4' ? { cidrIpv4: cidr } : { cidrIpv6: cidr }),
          description: 'all outbound',
          tags,
        },
        { parent: sg },
      );
    }

    const hostKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: 'ED25519' }, { parent: this });
    this.hostKey = hostKey.publicKeyOpenssh.apply((k) => k.trim().split(/\s+/).slice(0, 2).join(' '));

    const zone = network.zones.apply((z) => z[0]);
    const volume = new aws.ebs.Volume(
      `${name}-data`,
      {
        availabilityZone: zone,
        size: args.diskGb,
        ...(args.dataSnapshotId ? { snapshotId: args.dataSnapshotId } : {}),
        type: 'gp3',
        encrypted: true,
        kmsKeyId: key.arn,
        tags: { ...tags, Name: `${name}-data`, [TAG.snapshots]: args.snapshotKey },
      },
      {
        parent: this,
        // The zone comes from a lookup; if AWS retires or adds a zone, the data must not move.
        ignoreChanges: ['availabilityZone'],
      },
    );

    const arch = ubuntuArch(args.instanceType);
    const ami = aws.ec2.getAmiOutput(
      {
        mostRecent: true,
        owners: [CANONICAL_OWNER],
        filters: [
          { name: 'name', values: [ubuntuImageFilter(arch)] },
          { name: 'architecture', values: [arch === 'arm64' ? 'arm64' : 'x86_64'] },
          { name: 'virtualization-type', values: ['hvm'] },
        ],
      },
      { parent: this },
    );

    const userData = pulumi.all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh, volume.id, args.adminKeys]).apply(([priv, pub, volumeId, keys]) =>
      cloudInit({
        adminUser: args.user,
        adminKeys: keys,
        hostKey: { privateOpenssh: priv, publicOpenssh: pub },
        dataDir: args.dataDir,
        device: { kind: 'aws-ebs', volumeId },
        sshPort: args.sshPort,
      }),
    );

    const instance = new aws.ec2.Instance(
      `${name}-host`,
      {
        ami: ami.id,
        instanceType: args.instanceType,
        subnetId: network.subnetIds[0],
        availabilityZone: zone,
        vpcSecurityGroupIds: [sg.id],
        userData: pulumi.secret(userData),
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
        rootBlockDevice: { encrypted: true, kmsKeyId: key.arn, volumeType: 'gp3', volumeSize: args.rootGb ?? 16 },
        tags: { ...tags, Name: `${name}-host` },
        volumeTags: { ...tags, Name: `${name}-root` },
      },
      {
        parent: this,
        // A newer Ubuntu image, or new admin keys, must not replace a running trading server;
        // cloud-init reads user data on first boot only anyway.
        ignoreChanges: ['ami', 'userData', 'availabilityZone'],
      },
    );

    const attachment = new aws.ec2.VolumeAttachment(
      `${name}-data-attach`,
      {
        instanceId: instance.id,
        volumeId: volume.id,
        deviceName: '/dev/sdf',
      },
      { parent: instance },
    );

    const eip = new aws.ec2.Eip(`${name}-eip`, { domain: 'vpc', tags: { ...tags, Name: `${name}-eip` } }, { parent: this });
    new aws.ec2.EipAssociation(`${name}-eip-assoc`, { allocationId: eip.allocationId, instanceId: args.eipInstanceId ?? instance.id }, { parent: eip });

    if (args.failover === 'cold') {
      // Built, booted once (cloud-init formats and mounts the data volume), then powered off;
      // tandem's failover driver starts it.
      new aws.ec2transitgateway.InstanceState(
        `${name}-state`,
        {
          instanceId: instance.id,
          state: 'stopped',
        },
        {
          parent: instance,
          dependsOn: [attachment],
          // Stopped once, after creation. After a failover the driver starts it and it may be the
          // master: a later `pulumi up` must not stop it again.
          ignoreChanges: ['state'],
        },
      );
    }

    if (args.coldRefreshH !== undefined) {
      if (args.failover !== 'cold') throw new Error(`${name}: coldRefreshH is only for cold mirrors; site "${args.site}" is ${args.failover ?? 'the master'}`);
      const refresh = new ColdRefresh(
        `${name}-refresh`,
        {
          instanceId: instance.id,
          instanceArn: instance.arn,
          kmsKeyArn: key.arn,
          everyHours: args.coldRefreshH,
          description: `tandem ${args.customer}/${args.site}: power the cold mirror on to catch up`,
          tags,
        },
        { parent: this },
      );
      this.refreshScheduleArn = refresh.scheduleArn;
    }

    this.instanceId = instance.id;
    this.publicIp = eip.publicIp;
    this.allocationId = eip.allocationId;
    this.securityGroupId = sg.id;
    this.kmsKeyArn = key.arn;
    this.dataVolumeId = volume.id;
    this.registerOutputs({
      instanceId: this.instanceId,
      publicIp: this.publicIp,
      securityGroupId: this.securityGroupId,
      kmsKeyArn: this.kmsKeyArn,
      dataVolumeId: this.dataVolumeId,
      hostKey: this.hostKey,
    });
  }
}
