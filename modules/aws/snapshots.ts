import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

export interface SnapshotPolicyArgs {
  /** Value of the `tandem:snapshots` tag on the volumes to snapshot. */
  readonly snapshotKey: string;
  /** KMS key of the volumes (the copy role decrypts with it). */
  readonly sourceKeyArn: pulumi.Input<string>;
  /** Region snapshots are copied to, with the KMS key there; null = no copy. */
  readonly copyTo: { readonly region: string; readonly keyArn: pulumi.Input<string> } | null;
  /** Hours between snapshots. @default 4 */
  readonly everyHours?: number;
  /** Snapshots kept in the site's own region. @default 42 (one week at 4 h) */
  readonly keep?: number;
  /** Days copies are kept in the other region. @default 7 */
  readonly copyKeepDays?: number;
  /** Tags on every resource. */
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Data Lifecycle Manager: scheduled snapshots of a site's data volume, copied (encrypted with the
 * target site's key) to another site's region, with the IAM role DLM runs as.
 */
export class SnapshotPolicy extends pulumi.ComponentResource {
  public readonly policyArn: pulumi.Output<string>;

  constructor(name: string, args: SnapshotPolicyArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:aws:SnapshotPolicy', name, {}, opts);
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: `DLM snapshots for ${args.snapshotKey}`,
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'dlm.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
        tags: args.tags,
      },
      { parent: this },
    );
    new aws.iam.RolePolicyAttachment(
      `${name}-role-dlm`,
      {
        role: role.name,
        policyArn: 'arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole',
      },
      { parent: role },
    );
    const keys = args.copyTo ? [args.sourceKeyArn, args.copyTo.keyArn] : [args.sourceKeyArn];
    new aws.iam.RolePolicy(
      `${name}-kms`,
      {
        role: role.id,
        policy: pulumi.output(keys).apply((arns) =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
                Resource: arns,
              },
              {
                Effect: 'Allow',
                Action: 'kms:CreateGrant',
                Resource: arns,
                Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
              },
            ],
          }),
        ),
      },
      { parent: role },
    );

    const every = args.everyHours ?? 4;
    const policy = new aws.dlm.LifecyclePolicy(
      `${name}-dlm`,
      {
        description: `tandem ${args.snapshotKey} data volume`,
        executionRoleArn: role.arn,
        state: 'ENABLED',
        policyDetails: {
          resourceTypes: ['VOLUME'],
          targetTags: { 'tandem:snapshots': args.snapshotKey },
          schedules: [
            {
              name: `every ${every} h`,
              createRule: { interval: every, intervalUnit: 'HOURS', times: '00:00' },
              retainRule: { count: args.keep ?? 42 },
              copyTags: true,
              crossRegionCopyRules: args.copyTo
                ? [
                    {
                      target: args.copyTo.region,
                      encrypted: true,
                      cmkArn: args.copyTo.keyArn,
                      copyTags: true,
                      retainRule: { interval: args.copyKeepDays ?? 7, intervalUnit: 'DAYS' },
                    },
                  ]
                : [],
            },
          ],
        },
        tags: args.tags,
      },
      { parent: this },
    );
    this.policyArn = policy.arn;
    this.registerOutputs({ policyArn: this.policyArn });
  }
}
