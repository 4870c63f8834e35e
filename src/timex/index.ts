/**
 * timex: Winchester's time-expression language, e.g. `$last + 1h`, `day($launched_at)`,
 * `($start to $end) @ 0h`. Pure: parse once, evaluate many times against variables.
 *
 *   const expiry = parseTimex('$last + 1h');
 *   expiry.evaluate({ last: event.timestamp }).timestamp;
 *   parseTimex('day').evaluate({ timestamp: t }).contains(other);
 *
 * Semantics are upstream's (openstack/stacktach-timex) where it has an answer; where it
 * crashes, see docs/trigger-language.md and the notes in values.ts.
 */
export { parseTimex, TimexExpression, DEFAULT_VARIABLE } from './expression';
export type { TimexVariables } from './expression';
export { TimexError, TimexParseError, TimexVariableError, TimexEvaluationError } from './errors';
export type { TimexErrorKind } from './errors';
export {
  TimexTimestamp,
  TimexRange,
  PIN_UNITS,
  applyOperation,
  pinnedRange,
  shiftInstant,
  replaceInstant,
} from './values';
export type { TimexValue, Pin, PinUnit, Operator } from './values';
export {
  DURATION_UNITS,
  UNIT_WORDS,
  durationLess,
  formatDuration,
  isAmbiguous,
  resolveAmbiguous,
  sumDurations,
} from './duration';
export type { Duration, DurationUnit } from './duration';
export type { TimexNode } from './parser';
