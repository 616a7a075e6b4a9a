/** Exit codes of the tandem command. */
export const EXIT = {
  ok: 0,
  /** Something failed while running (a host unreachable, a command that failed). */
  failed: 1,
  /** Bad input: invalid stack config, bad flags. */
  usage: 2,
  /** Checks not met: `status` DEGRADED, `plan` policy errors (a monitor or CI can act on it). */
  degraded: 3,
} as const;

/**
 * Thrown by command handlers to end with a given exit code. `message` is printed to stderr
 * unless empty (when the handler already printed everything a person needs).
 */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}
