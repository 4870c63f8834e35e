import { fnmatchToRegExp } from '../distiller/python';
import { Trait, WinchesterEvent } from '../events/event';
import { Micros } from '../time/micros';
import { TimexError, TimexExpression } from '../timex';

/**
 * A trait of the event as Winchester's criteria see it: the event's traits plus its envelope
 * (`message_id`, `event_type` as text, `timestamp` as a datetime), as upstream's event dict had.
 */
export function eventTrait(event: WinchesterEvent, name: string): Trait | undefined {
  switch (name) {
    case 'timestamp':
      return { type: 'datetime', value: event.timestamp };
    case 'event_type':
      return { type: 'text', value: event.event_type };
    case 'message_id':
      return { type: 'text', value: event.message_id };
    default:
      return event.traits[name];
  }
}

/** The variables a criterion's time expression sees: `$timestamp` and every datetime trait. */
export function eventDatetimes(event: WinchesterEvent): (name: string) => Micros | undefined {
  return (name) => {
    if (name === 'timestamp') return event.timestamp;
    const trait = event.traits[name];
    return trait !== undefined && trait.type === 'datetime' ? trait.value : undefined;
  };
}

/** A reason the criterion does not hold, or null when it does. Reasons are short constant-ish strings. */
export type MismatchReason = string | null;

/** What a constant criterion compares with, by Python's `==`: text equals text, numbers equal numbers. */
export type ConstantValue =
  | { kind: 'text'; value: string }
  /** YAML ints, floats and booleans (True == 1, as in Python). */
  | { kind: 'number'; value: number }
  | { kind: 'datetime'; value: Micros }
  /** Something no trait value can equal (a date, a null, NaN); the loader warns about it. */
  | { kind: 'never'; shown: string };

export const COMPARISON_OPERATORS = ['=', '!=', '>', '<', '>=', '<='] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

function compare(op: ComparisonOperator, a: number, b: number): boolean {
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '<':
      return a < b;
    case '>=':
      return a >= b;
    case '<=':
      return a <= b;
  }
}

/** One entry of a criterion's `traits`. */
export abstract class TraitCriterion {
  constructor(readonly trait: string) {}

  abstract test(event: WinchesterEvent): MismatchReason;

  /** How the criterion reads, for summaries and debugging. */
  abstract describe(): string;
}

/** `os_distro: ubuntu`, `{string: ...}`, `{text: ...}`: equality with a constant. */
export class ConstantCriterion extends TraitCriterion {
  private readonly failure: string;

  constructor(
    trait: string,
    readonly expected: ConstantValue,
  ) {
    super(trait);
    this.failure = `${trait}: == failed`;
  }

  test(event: WinchesterEvent): MismatchReason {
    const actual = eventTrait(event, this.trait);
    if (actual === undefined) return `not '${this.trait}'`;
    const expected = this.expected;
    switch (expected.kind) {
      case 'text':
        return actual.type === 'text' && actual.value === expected.value ? null : this.failure;
      case 'number':
        return (actual.type === 'int' || actual.type === 'float') && actual.value === expected.value
          ? null
          : this.failure;
      case 'datetime':
        return actual.type === 'datetime' && actual.value === expected.value ? null : this.failure;
      case 'never':
        return this.failure;
    }
  }

  describe(): string {
    const e = this.expected;
    const shown =
      e.kind === 'text' ? JSON.stringify(e.value) : e.kind === 'never' ? e.shown : String(e.value);
    return `${this.trait} = ${shown}`;
  }
}

/** `{int: "> 4096"}`, `{float: "<= 2.5"}`: a number compared with the trait's int or float value. */
export class NumericCriterion extends TraitCriterion {
  private readonly failure: string;
  private readonly notNumber: string;

  constructor(
    trait: string,
    readonly numberType: 'int' | 'float',
    readonly op: ComparisonOperator,
    readonly value: number,
  ) {
    super(trait);
    this.failure = `${trait}: ${op} failed`;
    this.notNumber = `${trait}: not a number`;
  }

  test(event: WinchesterEvent): MismatchReason {
    const actual = eventTrait(event, this.trait);
    if (actual === undefined) return `not '${this.trait}'`;
    if (actual.type !== 'int' && actual.type !== 'float') return this.notNumber;
    return compare(this.op, actual.value, this.value) ? null : this.failure;
  }

  describe(): string {
    return `${this.trait} ${this.op} ${this.value} (${this.numberType})`;
  }
}

/** `{datetime: "day"}`: the trait's datetime lies in a time range computed from the event's datetimes. */
export class TimeCriterion extends TraitCriterion {
  private readonly missing: string;

  constructor(
    trait: string,
    readonly expression: TimexExpression,
  ) {
    super(trait);
    this.missing = `Time: not '${trait}'`;
  }

  test(event: WinchesterEvent): MismatchReason {
    const actual = eventTrait(event, this.trait);
    if (actual === undefined) return this.missing;
    if (actual.type !== 'datetime') return `Time: '${this.trait}' is not a datetime`;
    const verdict = evaluateContains(this.expression, event, actual.value);
    return verdict === true ? null : verdict === false ? 'Not in timerange' : verdict;
  }

  describe(): string {
    return `${this.trait} in ${this.expression.source}`;
  }
}

/**
 * Whether `t` is in the expression evaluated over the event's datetimes: true, false, or the
 * reason it cannot be evaluated. A variable the event lacks means no match, as upstream; so
 * does an impossible date (upstream crashed), with its message as the reason.
 */
function evaluateContains(expression: TimexExpression, event: WinchesterEvent, t: Micros): boolean | string {
  const variables = eventDatetimes(event);
  for (const name of expression.variables) {
    if (variables(name) === undefined) return 'Time: no referenced trait';
  }
  try {
    return expression.evaluate(variables).contains(t);
  } catch (error) {
    if (error instanceof TimexError) return `Time: ${error.message}`;
    throw error;
  }
}

/** Event type globs (fnmatch: `* ? [seq] [!seq]`), `!` for exclusions; only exclusions include `*`. */
export class EventTypeFilter {
  readonly included: readonly string[];
  readonly excluded: readonly string[];
  private readonly includesAll: boolean;
  private readonly includedExact = new Set<string>();
  private readonly includedPatterns: RegExp[] = [];
  private readonly excludedExact = new Set<string>();
  private readonly excludedPatterns: RegExp[] = [];

  constructor(patterns: readonly string[] | null) {
    const included: string[] = [];
    const excluded: string[] = [];
    if (patterns === null) included.push('*');
    else
      for (const p of patterns)
        (p.startsWith('!') ? excluded : included).push(p.startsWith('!') ? p.slice(1) : p);
    if (excluded.length > 0 && included.length === 0) included.push('*');
    this.included = included;
    this.excluded = excluded;
    this.includesAll = included.includes('*');
    for (const [list, exact, regexps] of [
      [included, this.includedExact, this.includedPatterns],
      [excluded, this.excludedExact, this.excludedPatterns],
    ] as const) {
      for (const pattern of list) {
        if (/[*?[]/.test(pattern)) regexps.push(fnmatchToRegExp(pattern));
        else exact.add(pattern);
      }
    }
  }

  matches(eventType: string): boolean {
    if (
      !this.includesAll &&
      !this.includedExact.has(eventType) &&
      !this.includedPatterns.some((r) => r.test(eventType))
    ) {
      return false;
    }
    return !this.excludedExact.has(eventType) && !this.excludedPatterns.some((r) => r.test(eventType));
  }
}

export type CriteriaRole = 'match' | 'fire' | 'load';

/** The validated parts of one entry of match_criteria, fire_criteria or load_criteria. */
export interface CriteriaSpec {
  role: CriteriaRole;
  /** Position in its list, 0-based. */
  index: number;
  /** The 1-based line it starts on, for messages. */
  line: number;
  /** `event_type` as written (null when absent: every type). */
  eventTypes: readonly string[] | null;
  timestamp: TimexExpression | null;
  traits: readonly TraitCriterion[];
  number: number;
  mapDistinguishedBy: ReadonlyMap<string, string>;
}

/**
 * One criterion: event type, then `timestamp` (the event's time lies in the range computed from
 * its datetimes), then every trait criterion — upstream's order, and so upstream's first reason.
 */
export class Criteria {
  readonly role: CriteriaRole;
  readonly index: number;
  readonly line: number;
  readonly eventTypes: EventTypeFilter;
  readonly timestamp: TimexExpression | null;
  readonly traits: readonly TraitCriterion[];
  /** How many matching events a fire criterion needs (upstream's default 1). */
  readonly number: number;
  /** Distinguishing trait name → the event trait that supplies it, for events this criterion matches. */
  readonly mapDistinguishedBy: ReadonlyMap<string, string>;

  constructor(spec: CriteriaSpec) {
    this.role = spec.role;
    this.index = spec.index;
    this.line = spec.line;
    this.eventTypes = new EventTypeFilter(spec.eventTypes);
    this.timestamp = spec.timestamp;
    this.traits = spec.traits;
    this.number = spec.number;
    this.mapDistinguishedBy = spec.mapDistinguishedBy;
  }

  /** Null when the event satisfies this criterion, else upstream's reason. */
  test(event: WinchesterEvent): MismatchReason {
    if (!this.eventTypes.matches(event.event_type)) return 'Wrong event type';
    if (this.timestamp !== null) {
      const verdict = evaluateContains(this.timestamp, event, event.timestamp);
      if (verdict === false) return 'Not time yet.';
      if (verdict !== true) return verdict === 'Time: no referenced trait' ? 'No timestamp trait' : verdict;
    }
    for (const criterion of this.traits) {
      const reason = criterion.test(event);
      if (reason !== null) return reason;
    }
    return null;
  }

  matches(event: WinchesterEvent): boolean {
    return this.test(event) === null;
  }

  /** `match_criteria[0]`, how messages name it. */
  get label(): string {
    return `${this.role}_criteria[${this.index}]`;
  }

  describe(): string {
    const parts = [
      `event_type ${[...this.eventTypes.included, ...this.eventTypes.excluded.map((e) => `!${e}`)].join(' ')}`,
    ];
    if (this.timestamp) parts.push(`timestamp in ${this.timestamp.source}`);
    for (const t of this.traits) parts.push(t.describe());
    if (this.role === 'fire' && this.number !== 1) parts.push(`number ${this.number}`);
    for (const [name, source] of this.mapDistinguishedBy) parts.push(`${name} from ${source}`);
    return parts.join(', ');
  }
}
