/**
 * The policy pack. Each rule in ./rules.ts is a mandatory stack policy reporting its errors;
 * one advisory policy reports the warnings, so advice never blocks an update.
 */
import { PolicyPack, type StackValidationPolicy } from '@pulumi/policy';
import { fromPack } from './adapter';
import { RULES } from './rules';

const mandatory: StackValidationPolicy[] = RULES.map((rule) => ({
  name: `tandem-${rule.id}`,
  description: rule.description,
  enforcementLevel: 'mandatory',
  validateStack: (args, report) => {
    for (const f of rule.check(fromPack(args.resources))) if (f.severity === 'error') report(f.message, f.urn);
  },
}));

const advice: StackValidationPolicy = {
  name: 'tandem-advice',
  description: 'Warnings from the tandem rules (snapshots kept in one region, SSH opened on purpose).',
  enforcementLevel: 'advisory',
  validateStack: (args, report) => {
    const graph = fromPack(args.resources);
    for (const rule of RULES) for (const f of rule.check(graph)) if (f.severity === 'warning') report(`[${rule.id}] ${f.message}`, f.urn);
  },
};

new PolicyPack('tandem', { policies: [...mandatory, advice] });
