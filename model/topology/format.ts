/** Issues and durations as text for people: the "2 errors, 1 warning" heading, the issue list, "5 min". */
import type { Issue } from './types';

export function countIssues(issues: readonly Issue[]): string {
  const e = issues.filter((i) => i.severity === 'error').length;
  const w = issues.length - e;
  const parts = [`${e} error${e === 1 ? '' : 's'}`];
  if (w) parts.push(`${w} warning${w === 1 ? '' : 's'}`);
  return parts.join(', ');
}

export function describeIssues(source: string, issues: readonly Issue[]): string {
  const lines = [`${source}: ${countIssues(issues)}`];
  for (const i of issues) lines.push(`  ${i.severity === 'error' ? 'error  ' : 'warning'} ${i.message}`);
  return lines.join('\n');
}

export function fmtDuration(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
