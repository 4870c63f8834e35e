import { ConfigProblem, ConfigurationError, formatProblem } from '../config/errors';

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
