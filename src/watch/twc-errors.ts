import { ConfigurationError } from '../config/errors';

/**
 * Problems of watch configuration files (`.twc` and YAML), located like the rest of the
 * project's configuration errors: `file:line:column: message`, or `file: message` when the
 * file as a whole is at fault (it cannot be read).
 */

/** Where something was written: 1-based line and column; line 0 means "the whole file". */
export interface SourcePoint {
  line: number;
  column: number;
}

export interface WatchProblem extends SourcePoint {
  severity: 'error' | 'warning';
  file: string;
  message: string;
}

/** `file:line:column: message`, with `warning:` before the message of a warning. */
export function formatWatchProblem(problem: WatchProblem): string {
  const where =
    problem.line <= 0
      ? problem.file
      : problem.column > 0
        ? `${problem.file}:${problem.line}:${problem.column}`
        : `${problem.file}:${problem.line}`;
  return `${where}:${problem.severity === 'warning' ? ' warning:' : ''} ${problem.message}`;
}

/** A watch file that cannot be used. Its message is the formatted problem. */
export class WatchConfigError extends ConfigurationError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly reason: string;
  /** The file system's code (ENOENT, EACCES, ...) when the file could not be read at all. */
  readonly systemCode: string | undefined;

  constructor(file: string, at: SourcePoint, reason: string, systemCode?: string) {
    super(formatWatchProblem({ severity: 'error', file, line: at.line, column: at.column, message: reason }));
    this.name = 'WatchConfigError';
    this.file = file;
    this.line = at.line;
    this.column = at.column;
    this.reason = reason;
    this.systemCode = systemCode;
  }

  get problem(): WatchProblem {
    return { severity: 'error', file: this.file, line: this.line, column: this.column, message: this.reason };
  }
}

/** Raises errors and collects warnings for one file. */
export class WatchFileContext {
  readonly warnings: WatchProblem[] = [];

  constructor(readonly file: string) {}

  fail(at: SourcePoint, reason: string): never {
    throw new WatchConfigError(this.file, at, reason);
  }

  warn(at: SourcePoint, message: string): void {
    this.warnings.push({ severity: 'warning', file: this.file, line: at.line, column: at.column, message });
  }
}
