/**
 * POSIX-shell quoting: the one place tandem makes a word safe for a shell, local or remote.
 */

/**
 * Always single-quoted, whatever it holds. For the scripts install writes to hosts: their text
 * is compared by hash, so it must not change with what a value happens to contain.
 */
export function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Each argument becomes one word, whatever it contains; plain words stay bare, for readable commands and errors. */
export function shellQuote(...args: readonly (string | number)[]): string {
  return args
    .map((a) => {
      const s = String(a);
      return s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : sq(s);
    })
    .join(' ');
}
