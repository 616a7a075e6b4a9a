import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

export interface FailoverTarget {
  /** Site name; the record's set identifier. */
  readonly site: string;
  /** Public IPv4 address (an Elastic IP, an Azure public IP or an off-cloud box's address). */
  readonly address: pulumi.Input<string>;
}

export interface DnsFailoverArgs {
  /** Existing public hosted zone, e.g. example.com. */
  readonly zone: string;
  /** Record users connect to, inside the zone. */
  readonly name: string;
  /** @default 30 */
  readonly ttl?: number;
  /** TCP port Route 53 probes on the primary. */
  readonly healthPort: number;
  readonly primary: FailoverTarget;
  /** Null: a PRIMARY record only (answered while healthy). */
  readonly secondary: FailoverTarget | null;
  /** Probe interval in seconds, 10 or 30. @default 10 */
  readonly requestInterval?: 10 | 30;
  /** Failed probes before the primary counts as down. @default 3 */
  readonly failureThreshold?: number;
  readonly tags: Readonly<Record<string, string>>;
  /**
   * Set identifier of the PRIMARY record. A set identifier is the record's identity in Route 53:
   * after a failover the PRIMARY slot keeps the one it was created with (the failover driver
   * UPSERTs that record), so `pulumi up` updates it in place. @default primary.site
   */
  readonly primarySetIdentifier?: string;
  /** Set identifier of the SECONDARY record, for the same reason. @default secondary.site */
  readonly secondarySetIdentifier?: string;
}

/**
 * Route 53 failover: a TCP health check on the primary's health port (any public address, AWS or
 * not) and PRIMARY/SECONDARY A records. Route 53 is global; the provider in `opts` only decides
 * which endpoint the API calls go to.
 */
export class DnsFailover extends pulumi.ComponentResource {
  public readonly fqdn: pulumi.Output<string>;
  public readonly healthCheckId: pulumi.Output<string>;
  /** The hosted zone's id (`Z...`). */
  public readonly zoneId: pulumi.Output<string>;

  constructor(name: string, args: DnsFailoverArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:dns:Failover', name, {}, opts);
    const zone = aws.route53.getZoneOutput({ name: args.zone, privateZone: false }, { parent: this });
    const check = new aws.route53.HealthCheck(
      `${name}-health`,
      {
        type: 'TCP',
        ipAddress: args.primary.address,
        port: args.healthPort,
        requestInterval: args.requestInterval ?? 10,
        failureThreshold: args.failureThreshold ?? 3,
        tags: { ...args.tags, Name: `${args.name} ${args.primary.site}` },
      },
      { parent: this },
    );
    const ttl = args.ttl ?? 30;
    const primary = new aws.route53.Record(
      `${name}-primary`,
      {
        zoneId: zone.zoneId,
        name: args.name,
        type: 'A',
        ttl,
        records: [args.primary.address],
        setIdentifier: args.primarySetIdentifier ?? args.primary.site,
        failoverRoutingPolicies: [{ type: 'PRIMARY' }],
        healthCheckId: check.id,
      },
      { parent: this },
    );
    if (args.secondary) {
      new aws.route53.Record(
        `${name}-secondary`,
        {
          zoneId: zone.zoneId,
          name: args.name,
          type: 'A',
          ttl,
          records: [args.secondary.address],
          setIdentifier: args.secondarySetIdentifier ?? args.secondary.site,
          failoverRoutingPolicies: [{ type: 'SECONDARY' }],
        },
        { parent: this },
      );
    }
    this.fqdn = primary.fqdn;
    this.healthCheckId = check.id;
    this.zoneId = zone.zoneId;
    this.registerOutputs({ fqdn: this.fqdn, healthCheckId: this.healthCheckId });
  }
}
