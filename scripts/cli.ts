import yargs from 'yargs';
import { CommandError, EXIT } from './errors';

/** Builds the parser; tests call this with real argv. Commands are one file each in ./commands. */
export function parser(argv: string[]) {
  return yargs(argv)
    .scriptName('tandem')
    .commandDir('commands', { extensions: ['ts', 'js'], exclude: /\.(d|test)\.ts$/ })
    .demandCommand(1, 'name a command; see tandem --help')
    .strict()
    .recommendCommands()
    .help()
    .version(false)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? new CommandError(`${msg}\nRun "tandem --help" for usage.`, EXIT.usage);
    });
}

/** Runs the command line; resolves to the exit code (the entry file exits with it). */
export async function main(argv: string[]): Promise<number> {
  try {
    await parser(argv).parseAsync();
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommandError) {
      if (e.message) process.stderr.write(`${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`tandem: ${(e as Error)?.stack ?? String(e)}\n`);
    return EXIT.failed;
  }
}
