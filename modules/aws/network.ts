import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { chooseZones, subnetCidrs, VPC_CIDR } from './decide';

export interface SiteNetworkArgs {
  /** Tags on every resource. */
  readonly tags: Readonly<Record<string, string>>;
  /** The VPC's address range. @default VPC_CIDR (10.20.0.0/16) */
  readonly cidr?: string;
  /** How many zones get a public subnet. @default 2 */
  readonly zoneCount?: number;
}

/**
 * A VPC with one public subnet in each of two availability zones, an internet gateway and a
 * default route. Region comes from the provider in `opts`, like every child's.
 */
export class SiteNetwork extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly subnetIds: pulumi.Output<string>[];
  /** The zones the subnets are in, in subnet order. */
  public readonly zones: pulumi.Output<string[]>;

  constructor(name: string, args: SiteNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:aws:SiteNetwork', name, {}, opts);
    const count = args.zoneCount ?? 2;
    const cidr = args.cidr ?? VPC_CIDR;
    const tags = args.tags;

    const azs = aws.getAvailabilityZonesOutput({ state: 'available' }, { parent: this });
    this.zones = azs.names.apply((n) => chooseZones(n, count));

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: cidr,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { ...tags, Name: `${name}-vpc` },
      },
      { parent: this },
    );
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: { ...tags, Name: `${name}-igw` } }, { parent: vpc });
    const routes = new aws.ec2.RouteTable(
      `${name}-public`,
      {
        vpcId: vpc.id,
        routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: igw.id }],
        tags: { ...tags, Name: `${name}-public` },
      },
      { parent: vpc },
    );

    this.subnetIds = subnetCidrs(cidr, count).map((block, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-public-${i}`,
        {
          vpcId: vpc.id,
          cidrBlock: block,
          availabilityZone: this.zones.apply((z) => z[i]),
          // Hosts get an Elastic IP; nothing else in the subnet should be reachable by accident.
          mapPublicIpOnLaunch: false,
          tags: { ...tags, Name: `${name}-public-${i}` },
        },
        { parent: vpc, ignoreChanges: ['availabilityZone'] },
      );
      new aws.ec2.RouteTableAssociation(`${name}-public-${i}-routes`, { subnetId: subnet.id, routeTableId: routes.id }, { parent: subnet });
      return subnet.id;
    });
    this.vpcId = vpc.id;
    this.registerOutputs({ vpcId: this.vpcId, subnetIds: this.subnetIds, zones: this.zones });
  }
}
