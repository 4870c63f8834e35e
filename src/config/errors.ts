/**
 * Errors of configuration, at the bottom of the layers: the distiller, the trigger language,
 * the pipeline loader and the command line all report through these.
 */

/** A configuration that cannot be used; its message names the file and line when known. */
export class ConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigurationError';
  }
}

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
