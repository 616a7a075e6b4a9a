/** Plain-text tables for people (status, lab status, fleet summaries), and how unknown looks in them. */

/** What every table (and message) shows for a value that cannot be told: one marker everywhere. */
export const UNKNOWN = '-';

/**
 * Columns padded to their widest cell, two spaces apart; the last column is not padded (it holds
 * free text such as an error) and no line ends in spaces. Returns the lines, head first.
 */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}
