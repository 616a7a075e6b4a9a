import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import type { IngressRule } from '../shared/ingress';

export interface SiteIngressArgs {
  /** The security group the rules belong to. */
  readonly securityGroupId: pulumi.Input<string>;
  /** What to admit, decided by `ingressRules`. */
  readonly rules: readonly IngressRule[];
  /** Public IPv4 address of every other cloud site, by site name, for `peer` rules. */
  readonly peerAddresses: Readonly<Record<string, pulumi.Input<string>>>;
  /** Tags on every rule. */
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * A site's inbound rules, one resource per rule. Built after every site exists, because a rule
 * admitting a peer needs that peer's Elastic IP or public IP.
 */
export class SiteIngress extends pulumi.ComponentResource {
  constructor(name: string, args: SiteIngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:aws:SiteIngress', name, {}, opts);
    const needsPrefixList = args.rules.some((r) => r.source.kind === 'route53-health-checkers');
    const region = needsPrefixList ? aws.getRegionOutput({}, { parent: this }) : undefined;
    for (const r of args.rules) {
      const common = {
        securityGroupId: args.securityGroupId,
        ipProtocol: r.protocol,
        fromPort: r.port,
        toPort: r.port,
        description: r.description,
        tags: args.tags,
      };
      const src = r.source;
      let source: Partial<aws.vpc.SecurityGroupIngressRuleArgs>;
      if (src.kind === 'cidr') source = src.family === 4 ? { cidrIpv4: src.cidr } : { cidrIpv6: src.cidr };
      else if (src.kind === 'peer') {
        const addr = args.peerAddresses[src.site];
        if (addr === undefined) throw new Error(`SiteIngress ${name}: no address for peer site "${src.site}"`);
        source = { cidrIpv4: pulumi.output(addr).apply((a) => `${a}/32`) };
      } else {
        const list = aws.ec2.getManagedPrefixListOutput({ name: pulumi.interpolate`com.amazonaws.${region!.region}.route53-healthchecks` }, { parent: this });
        source = { prefixListId: list.id };
      }
      new aws.vpc.SecurityGroupIngressRule(`${name}-${r.key}`, { ...common, ...source }, { parent: this });
    }
    this.registerOutputs({});
  }
}
