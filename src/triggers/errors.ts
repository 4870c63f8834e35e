import { ConfigurationError } from '../config/environment';

/**
 * One thing wrong (or suspicious) in a configuration file, with where it is: the file, the
 * 1-based line of the offending node, and the trigger or pipeline it belongs to.
 */
export interface ConfigProblem {
  severity: 'error' | 'warning';
  file: string;
  /** 1-based; 0 when the file as a whole is at fault (it cannot be read). */
  line: number;
  trigger?: string;
  pipeline?: string;
  message: string;
}

/** `file:line: trigger 'name': message`, as `winchester check` prints it. */
export function formatProblem(problem: ConfigProblem): string {
  const where = problem.line > 0 ? `${problem.file}:${problem.line}` : problem.file;
  const subject =
    problem.trigger !== undefined
      ? ` trigger '${problem.trigger}':`
      : problem.pipeline !== undefined
        ? ` pipeline '${problem.pipeline}':`
        : '';
  const severity = problem.severity === 'warning' ? ' warning:' : '';
  return `${where}:${severity}${subject} ${problem.message}`;
}

/**
 * A configuration that cannot be used. Carries every error found (not just the first), each
 * with file, line and trigger; `file`, `line`, `trigger` and `reason` describe the first.
 */
export class TriggerConfigError extends ConfigurationError {
  readonly file: string;
  readonly line: number;
  readonly trigger: string | undefined;
  readonly reason: string;

  constructor(
    readonly problems: readonly ConfigProblem[],
    readonly warnings: readonly ConfigProblem[] = [],
  ) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'TriggerConfigError';
    const first = problems[0];
    this.file = first?.file ?? '';
    this.line = first?.line ?? 0;
    this.trigger = first?.trigger;
    this.reason = first?.message ?? '';
  }
}
