/** What a plan is, as `tandem plan --json` prints it and `fleet plan` collects it. */
import type { Finding } from '../../policy/rules';

export interface PlanResource {
  readonly type: string;
  readonly name: string;
  readonly parent: string | null;
  readonly region: string | null;
  readonly inputs: Record<string, unknown>;
}

export interface Plan {
  readonly resources: PlanResource[];
  readonly findings: Finding[];
}
