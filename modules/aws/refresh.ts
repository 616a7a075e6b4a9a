import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { refreshRate, START_INSTANCES_TARGET } from './decide';

export interface ColdRefreshArgs {
  /** The cold mirror's instance. */
  readonly instanceId: pulumi.Input<string>;
  readonly instanceArn: pulumi.Input<string>;
  /** The KMS key its volumes are encrypted with: starting the instance needs a grant on it. */
  readonly kmsKeyArn: pulumi.Input<string>;
  /** Hours between starts (whole hours, >= 1). */
  readonly everyHours: number;
  /** The schedule's description. */
  readonly description: string;
  /** Tags on the role. */
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * Keeps a cold mirror from going stale: an EventBridge Scheduler schedule calls EC2
 * StartInstances on it every N hours, through a role allowed to start that one instance. Powering
 * it off is the host's side: the inventory carries `coldRefreshH`, so its agent stops the machine
 * once it has caught up. A schedule, not an EventBridge rule: Scheduler calls the EC2 API itself
 * (universal target), with no Lambda or SSM document in between.
 */
export class ColdRefresh extends pulumi.ComponentResource {
  public readonly scheduleArn: pulumi.Output<string>;
  public readonly roleArn: pulumi.Output<string>;

  constructor(name: string, args: ColdRefreshArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:aws:ColdRefresh', name, {}, opts);
    const role = new aws.iam.Role(
      `${name}-role`,
      {
        description: args.description,
        assumeRolePolicy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'scheduler.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
        tags: args.tags,
      },
      { parent: this },
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-start`,
      {
        role: role.id,
        policy: pulumi.all([args.instanceArn, args.kmsKeyArn]).apply(([instanceArn, keyArn]) =>
          JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Action: 'ec2:StartInstances', Resource: instanceArn },
              // EC2 attaches the site-key-encrypted volumes on start with a grant made as the caller.
              { Effect: 'Allow', Action: 'kms:CreateGrant', Resource: keyArn, Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' } } },
            ],
          }),
        ),
      },
      { parent: role },
    );
    const schedule = new aws.scheduler.Schedule(
      `${name}-schedule`,
      {
        description: args.description,
        scheduleExpression: refreshRate(args.everyHours),
        // Stagger is harmless for a refresh and spreads the starts of many customers.
        flexibleTimeWindow: { mode: 'FLEXIBLE', maximumWindowInMinutes: 15 },
        target: {
          arn: START_INSTANCES_TARGET,
          roleArn: role.arn,
          input: pulumi.output(args.instanceId).apply((id) => JSON.stringify({ InstanceIds: [id] })),
          retryPolicy: { maximumRetryAttempts: 3, maximumEventAgeInSeconds: 3600 },
        },
      },
      { parent: this, dependsOn: [policy] },
    );
    this.scheduleArn = schedule.arn;
    this.roleArn = role.arn;
    this.registerOutputs({ scheduleArn: this.scheduleArn, roleArn: this.roleArn });
  }
}
