/** Turns `@pulumi/policy` stack resources into the graph the pure rules read. */
import type { PolicyResource as PackResource } from '@pulumi/policy';
import type { PolicyResource } from './rules';

export function fromPack(resources: readonly Pick<PackResource, 'urn' | 'type' | 'name' | 'props' | 'provider'>[]): PolicyResource[] {
  return resources.map((r) => {
    const p = r.provider?.props ?? {};
    const region = (typeof p.region === 'string' && p.region) || (typeof p.location === 'string' && p.location) || (typeof r.props?.location === 'string' && r.props.location) || null;
    return { urn: r.urn, type: r.type, name: r.name, region, inputs: r.props ?? {} };
  });
}
