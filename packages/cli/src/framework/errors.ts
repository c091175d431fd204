/** Errors the CLI prints as `Error: <message>` plus an optional hint, then exits with `exitCode`. */

/** Docker's exit code for errors of the CLI itself (bad flags, daemon errors during run). */
export const EXIT_CLI = 125;

/**
 * Docker's exit code for a daemon error saying the container's command cannot be run: 127 when the image
 * lacks it, 126 when it cannot execute; undefined for any other error.
 */
export function cannotRunExitCode(detail: string): number | undefined {
  if (!/command cannot be run/.test(detail)) return undefined;
  return /permission denied/.test(detail) ? 126 : 127;
}

export class CliError extends Error {
  override readonly name = "CliError";
  readonly hint: string | undefined;
  readonly exitCode: number;
  constructor(message: string, options: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? EXIT_CLI;
  }
}

/** The daemon's socket is missing, refuses connections, or is not ours to open. */
export class DaemonUnreachableError extends Error {
  override readonly name = "DaemonUnreachableError";
  constructor(
    readonly address: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(
      code === "EACCES" || code === "EPERM"
        ? `permission denied on ${address}: run as root or as a member of group berth`
        : `cannot reach berthd at ${address}: is it running? start it with \`berth daemon start\` or \`berthd\``,
      options,
    );
  }
}
