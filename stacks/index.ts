/**
 * `pulumi up --stack <customer>` enters here. Config is read once, validated by the same code
 * as `tandem validate`, and handed to the program; nothing else reads config.
 */
import * as pulumi from '@pulumi/pulumi';
import { buildStack, checkAdminKeys, restoreFromConfig, topologyFromStackConfig } from './program';

const stack = pulumi.getStack();
const tandem = new pulumi.Config('tandem');
// `tandem:live` is written by `tandem failover`: after one, the program builds the layout as it
// stands now (the new master stays master), never the roles the stack file started with.
const { topology, live, warnings } = topologyFromStackConfig(tandem.require('customer'), tandem.requireObject('topology'), stack, tandem.getObject('live'));
for (const w of warnings) void pulumi.log.warn(w.message);
if (live) void pulumi.log.info(`live layout: ${live.master} is master since ${live.at} (epoch ${live.epoch}${live.reason ? `: ${live.reason}` : ''})`);
const adminKeys = checkAdminKeys(topology);
// `tandem:restore` is written by `tandem site replace`: that site's data volume is created from the
// snapshot named there. It stays after the replace (removing it would replace the volume again).
const restore = restoreFromConfig(tandem.getObject('restore'), topology, live);
for (const [site, r] of Object.entries(restore)) void pulumi.log.info(`restore: ${site}'s data volume from snapshot ${r.snapshotId}`);

export const inventory = buildStack(topology, { adminKeys, live, restore }).inventory;
