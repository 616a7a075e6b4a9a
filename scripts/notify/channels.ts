/**
 * The stack's notify channels (model/topology NotifySpec) with their secrets resolved from the
 * environment variables the topology names: what the sender (agent/src/notify.ts) needs, on the
 * operator's machine for announcements and in the agent config for alerts.
 */
import type { AgentNotify } from '../../agent/src/contract';
import type { NotifySpec } from '../../model/topology/types';

export class NotifyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotifyConfigError';
  }
}

/** Throws NotifyConfigError naming every variable that is unset (never a value). */
export function agentNotify(spec: NotifySpec, env: NodeJS.ProcessEnv = process.env): AgentNotify {
  const missing: string[] = [];
  const get = (name: string | null, field: string): string | null => {
    if (!name) return null;
    const v = env[name];
    if (v === undefined || v === '') {
      missing.push(`${field} names ${name}, which is not set in this environment; export ${name}=<secret> before running tandem`);
      return null;
    }
    return v;
  };
  const webhooks = spec.webhooks.map((w, i) => ({ url: w.url, token: get(w.tokenEnv, `notify.webhooks[${i}].tokenEnv`) }));
  const email = spec.email ? { smtp: spec.email.smtp, from: spec.email.from, to: [...spec.email.to], user: spec.email.user, password: get(spec.email.passwordEnv, 'notify.email.passwordEnv') } : null;
  if (missing.length) throw new NotifyConfigError(missing.join('\n'));
  return { webhooks, email, reminderMin: spec.reminderMin };
}
