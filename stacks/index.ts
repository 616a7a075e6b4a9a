/**
 * `pulumi up --stack <customer>` enters here. Config is read once, validated by the same code
 * as `tandem validate`, and handed to the program; nothing else reads config.
 */
import * as pulumi from '@pulumi/pulumi';
import { buildStack, checkAdminKeys, topologyFromStackConfig } from './program';

const stack = pulumi.getStack();
const tandem = new pulumi.Config('tandem');
const { topology, warnings } = topologyFromStackConfig(tandem.require('customer'), tandem.requireObject('topology'), stack);
for (const w of warnings) void pulumi.log.warn(w.message);
const adminKeys = checkAdminKeys(topology);

export const inventory = buildStack(topology, { adminKeys }).inventory;
