/**
 * The real cloud side of `tandem site replace` (./replace.ts CloudReplace): the newest snapshot of
 * a site's data volume from the provider's API, and the customer's Pulumi stack through the
 * Automation API (scripts/fleet/automation.ts). Needs what `pulumi up` needs (the Pulumi CLI, a
 * backend, cloud credentials); none of it exists where tandem is built, so this path is
 * type-checked here and its orchestration tested against a fake (test/repair/cloud-replace.test.ts).
 */
import * as path from 'node:path';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { Inventory, InventoryHost } from '../../model/inventory';
import { snapshotKey } from '../../modules/shared/tags';
import { openReplaceStack } from '../fleet/automation';
import type { CloudReplace } from './api';
import { RepairInputError } from './verify';

/** The newest completed snapshot tagged for the site's data volume (Data Lifecycle Manager copies the tags). */
export async function newestAwsSnapshot(ec2: Pick<EC2Client, 'send'>, customer: string, site: string): Promise<{ id: string; at: string }> {
  const key = snapshotKey(customer, site);
  const found: { id: string; at: number }[] = [];
  let token: string | undefined;
  do {
    const r = await ec2.send(
      new DescribeSnapshotsCommand({
        OwnerIds: ['self'],
        Filters: [
          { Name: 'tag:tandem:snapshots', Values: [key] },
          { Name: 'status', Values: ['completed'] },
        ],
        NextToken: token,
      }),
    );
    for (const s of r.Snapshots ?? []) if (s.SnapshotId && s.StartTime) found.push({ id: s.SnapshotId, at: new Date(s.StartTime).getTime() });
    token = r.NextToken;
  } while (token);
  if (!found.length)
    throw new RepairInputError(
      `--site ${site}: no completed snapshot tagged tandem:snapshots=${key} in this region; give one with --snapshot <snap-id>, or replace without data (the feeder then seeds everything)`,
    );
  found.sort((a, b) => b.at - a.at);
  return { id: found[0].id, at: new Date(found[0].at).toISOString() };
}

export function defaultCloudReplace(projectDir = path.resolve(__dirname, '..', '..')): CloudReplace {
  return {
    async newestSnapshot(inv: Inventory, host: InventoryHost) {
      if (host.provider === 'aws') return newestAwsSnapshot(new EC2Client({ region: host.region ?? undefined }), inv.customer, host.site);
      throw new RepairInputError(`--site ${host.site}: finding the newest ${host.provider} snapshot is not built; give its resource id with --snapshot <id> (Azure: the disk snapshot's ARM id)`);
    },
    openStack: (customer) => openReplaceStack(projectDir, customer),
  };
}
