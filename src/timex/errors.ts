/**
 * What can go wrong with a time expression. Callers tell the three apart: a parse error is a
 * configuration mistake, a missing variable means "this event cannot be judged" (Winchester
 * treats it as no match), an evaluation error is an impossible date computation.
 */
export type TimexErrorKind = 'parse' | 'variable' | 'eval';

export abstract class TimexError extends Error {
  abstract readonly kind: TimexErrorKind;
}

/** The text is not a time expression; `position` is the 0-based offset of the offending token. */
export class TimexParseError extends TimexError {
  readonly kind = 'parse';

  constructor(
    readonly expression: string,
    readonly position: number,
    readonly reason: string,
  ) {
    // A pathological expression is cut in the message; the column still says where.
    const shown = expression.length > 200 ? `${expression.slice(0, 200)}…` : expression;
    super(`${reason} at column ${position + 1} of "${shown}"`);
    this.name = 'TimexParseError';
  }

  /** The expression with a caret under the offending position, for terminals. */
  pointer(): string {
    return `${this.expression}\n${' '.repeat(this.position)}^`;
  }
}

/** The expression names a variable that was not given. */
export class TimexVariableError extends TimexError {
  readonly kind = 'variable';

  constructor(readonly variable: string) {
    super(`variable $${variable} is not defined`);
    this.name = 'TimexVariableError';
  }
}

/** A date computation that has no answer: `@ 25h`, a date beyond year 9999, an empty range to wrap. */
export class TimexEvaluationError extends TimexError {
  readonly kind = 'eval';

  constructor(message: string) {
    super(message);
    this.name = 'TimexEvaluationError';
  }
}
