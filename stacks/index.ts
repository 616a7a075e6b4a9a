/**
 * `pulumi up --stack <customer>` enters here. Config is read once, validated by the same code
 * as `tandem validate`, and handed to the program; nothing else reads config.
 */
import * as pulumi from '@pulumi/pulumi';
import { buildStack, checkAdminKeys, topologyFromStackConfig } from './program';

const stack = pulumi.getStack();
const tandem = new pulumi.Config('tandem');
// `tandem:live` is written by `tandem failover`: after one, the program builds the layout as it
// stands now (the new master stays master), never the roles the stack file started with.
const { topology, live, warnings } = topologyFromStackConfig(tandem.require('customer'), tandem.requireObject('topology'), stack, tandem.getObject('live'));
for (const w of warnings) void pulumi.log.warn(w.message);
if (live) void pulumi.log.info(`live layout: ${live.master} is master since ${live.at} (epoch ${live.epoch}${live.reason ? `: ${live.reason}` : ''})`);
const adminKeys = checkAdminKeys(topology);

export const inventory = buildStack(topology, { adminKeys, live }).inventory;
