import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { CommandError, EXIT } from './errors';

/**
 * The file of the command argv names, when it names one by its file name (`failover` ->
 * commands/failover.ts). Only that file is loaded then: each command file pulls in its own
 * modules, and transpiling every command's on each start cost more than the failover's own path
 * (tandem --help loaded 13 command files; a failover needs one). Anything else (no command, an
 * alias, a typo for recommendCommands, --help) loads them all.
 */
function commandFile(argv: string[]): string | null {
  const name = argv[0];
  if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) return null;
  for (const ext of ['.ts', '.js']) {
    const f = path.join(__dirname, 'commands', `${name}${ext}`);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

function withCommands(y: Argv, argv: string[]): Argv {
  const one = commandFile(argv);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (one) return y.command(require(one) as CommandModule);
  return y.commandDir('commands', { extensions: ['ts', 'js'], exclude: /\.(d|test)\.ts$/ });
}

/**
 * Builds the parser; tests call this with real argv. The one command registry: every file in
 * ./commands is a command (and every file in ./lab/commands a `lab` subcommand), found by commandDir,
 * so a new command is a new file and nothing else.
 */
export function parser(argv: string[]) {
  return withCommands(yargs(argv).scriptName('tandem'), argv)
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
