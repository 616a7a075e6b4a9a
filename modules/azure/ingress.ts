import * as azure from '@pulumi/azure-native';
import * as pulumi from '@pulumi/pulumi';
import type { IngressRule } from '../shared/ingress';
import { nsgPriorities } from './decide';

export interface AzureIngressArgs {
  readonly resourceGroupName: pulumi.Input<string>;
  readonly networkSecurityGroupName: pulumi.Input<string>;
  /** What to admit, decided by `ingressRules`. */
  readonly rules: readonly IngressRule[];
  /** Public IPv4 address of every other cloud site, by site name, for `peer` rules. */
  readonly peerAddresses: Readonly<Record<string, pulumi.Input<string>>>;
}

/**
 * A site's inbound NSG rules, one SecurityRule each (the NSG itself declares none, so the two never
 * fight). Route 53 publishes no Azure service tag: a health-checked Azure site admits its health
 * port from "Internet", and the plan says so.
 */
export class AzureIngress extends pulumi.ComponentResource {
  constructor(name: string, args: AzureIngressArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:azure:SiteIngress', name, {}, opts);
    const priorities = nsgPriorities(args.rules);
    args.rules.forEach((r, i) => {
      const src = r.source;
      let prefix: pulumi.Input<string>;
      if (src.kind === 'cidr') prefix = src.cidr;
      else if (src.kind === 'peer') {
        const addr = args.peerAddresses[src.site];
        if (addr === undefined) throw new Error(`AzureIngress ${name}: no address for peer site "${src.site}"`);
        prefix = pulumi.output(addr).apply((a) => `${a}/32`);
      } else prefix = 'Internet';
      new azure.network.SecurityRule(
        `${name}-${r.key}`,
        {
          resourceGroupName: args.resourceGroupName,
          networkSecurityGroupName: args.networkSecurityGroupName,
          securityRuleName: r.key,
          description: r.description,
          direction: 'Inbound',
          access: 'Allow',
          protocol: 'Tcp',
          priority: priorities[i],
          sourceAddressPrefix: prefix,
          sourcePortRange: '*',
          destinationAddressPrefix: '*',
          destinationPortRange: String(r.port),
        },
        { parent: this },
      );
    });
    this.registerOutputs({});
  }
}
