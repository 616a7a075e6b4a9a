/**
 * One way for the benchmarks to read their flags: yargs (the command's own parser), strict, so
 * a mistyped flag (`--phase=` for `--phases=`) is refused with its name instead of being
 * ignored and the run silently measuring something else. `--help` lists each script's flags.
 */
import yargs, { type Options } from 'yargs';

export function benchFlags<T extends Record<string, Options>>(usage: string, options: T) {
  return yargs(process.argv.slice(2)).usage(usage).options(options).strict().version(false).help().parseSync();
}
