import * as pulumi from '@pulumi/pulumi';

export interface OffcloudSiteArgs {
  /** Address tandem reaches the box at (IP or host name). */
  readonly address: string;
  /** The box's pinned host key, `ssh-ed25519 AAAA...`. */
  readonly hostKey: string;
}

/**
 * An off-cloud box: nothing to create, but it is part of the stack's tree so the plan, the
 * policies and the inventory see every site the same way.
 */
export class OffcloudSite extends pulumi.ComponentResource {
  public readonly address: pulumi.Output<string>;
  public readonly hostKey: pulumi.Output<string>;

  constructor(name: string, args: OffcloudSiteArgs, opts?: pulumi.ComponentResourceOptions) {
    super('tandem:offcloud:Site', name, {}, opts);
    this.address = pulumi.output(args.address);
    this.hostKey = pulumi.output(args.hostKey);
    this.registerOutputs({ address: this.address, hostKey: this.hostKey });
  }
}
