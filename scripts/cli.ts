import yargs from 'yargs';
import { CommandError, EXIT } from './errors';

/**
 * Builds the parser; tests call this with real argv. The one command registry: every file in
 * ./commands is a command (and every file in ./lab/commands a `lab` subcommand), found by commandDir,
 * so a new command is a new file and nothing else.
 */
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
      if (err instanceof CommandError) throw err;
      // yargs passes a message for what it judged (its own checks and every .check, thrown or
      // returned): bad input, exit 2. A handler that failed arrives with an error and no message.
      if (msg) throw new CommandError(`${msg}\nRun "tandem --help" for usage.`, EXIT.usage);
      throw err;
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
