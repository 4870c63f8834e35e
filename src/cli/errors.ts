import { CommanderError } from 'commander';
import { ConfigurationError } from '../config/errors';
import { KafkaAuthorizationError } from '../kafka/authorization';

/**
 * Exit codes, as the README documents them: 2 when the command line or the configuration is
 * wrong (fix the invocation), 1 when something failed while running (a service unreachable,
 * input unreadable or empty).
 */
export const EXIT_USAGE = 2;
export const EXIT_FAILURE = 1;

/** The user asked for something the command cannot do as asked. */
export class UsageError extends Error {
  readonly exitCode = EXIT_USAGE;
}

/** A failure with a message written for the user; no stack trace is needed to act on it. */
export class CommandFailure extends Error {
  readonly exitCode = EXIT_FAILURE;
}

export interface ErrorReport {
  message: string;
  exitCode: number;
  /** Whether the stack could help (an unexpected error), shown with LOG_LEVEL=debug. */
  unexpected: boolean;
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
};

function systemErrorReport(error: NodeJS.ErrnoException): ErrorReport | undefined {
  const code = error.code ?? '';
  const path = (error as { path?: string }).path;
  if (FILE_ERRORS[code] && path) {
    return { message: `${path}: ${FILE_ERRORS[code]}`, exitCode: EXIT_FAILURE, unexpected: false };
  }
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    const { address, port } = error as { address?: string; port?: number };
    return {
      message:
        `cannot listen on ${address ?? ''}:${port ?? '?'}: ${code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'} ` +
        '(another process on this host?); choose another port, or 0 for any free one',
      exitCode: EXIT_FAILURE,
      unexpected: false,
    };
  }
  return undefined;
}

/** What to tell the user about an error that ended a command, and with which exit code. */
export function reportFor(error: unknown): ErrorReport {
  if (error instanceof UsageError || error instanceof ConfigurationError) {
    return { message: error.message, exitCode: EXIT_USAGE, unexpected: false };
  }
  if (error instanceof CommandFailure)
    return { message: error.message, exitCode: error.exitCode, unexpected: false };
  if (error instanceof CommanderError)
    return { message: error.message, exitCode: EXIT_USAGE, unexpected: false };
  if (error instanceof KafkaAuthorizationError)
    return { message: error.message, exitCode: EXIT_FAILURE, unexpected: false };
  if (error instanceof Error && 'code' in error) {
    const report = systemErrorReport(error as NodeJS.ErrnoException);
    if (report) return report;
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: message.split('\n')[0] || 'unexpected error', exitCode: EXIT_FAILURE, unexpected: true };
}

/** A positive number (or integer) from an option, or a usage error naming the option. */
export function positiveNumber(option: string, text: string, integer = false): number {
  const value = Number(text);
  if (!text.trim() || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(
      `${option} ${JSON.stringify(text)}: expected a positive ${integer ? 'integer' : 'number'}`,
    );
  }
  return value;
}

/** A TCP port from an option: 0 asks the system for a free one. */
export function portNumber(option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value > 65535) {
    throw new UsageError(
      `${option} ${JSON.stringify(text)}: expected a port number 0–65535 (0: any free port)`,
    );
  }
  return value;
}
