import {
  addMonths,
  civilToMicros,
  daysInMonth,
  Micros,
  MICROS_PER_DAY,
  MICROS_PER_HOUR,
  toCivil,
} from '../time/micros';
import {
  Duration,
  durationLess,
  fixedMicros,
  formatDuration,
  isAmbiguous,
  resolveAmbiguous,
} from './duration';
import { TimexEvaluationError } from './errors';

/** The pinned-range functions. */
export const PIN_UNITS = ['hour', 'day', 'month', 'year'] as const;
export type PinUnit = (typeof PIN_UNITS)[number];

export function isPinUnit(name: string): name is PinUnit {
  return (PIN_UNITS as readonly string[]).includes(name);
}

/**
 * Results must be exact to the microsecond: a JS number holds that within ±2^53 µs of the epoch
 * (about 1684 to 2255). Upstream's datetime reaches years 1 to 9999; beyond our window, as beyond
 * its, the computation is an error rather than a silently rounded date.
 */
function inRange(t: Micros): Micros {
  if (!Number.isSafeInteger(t)) {
    throw new TimexEvaluationError(
      'date out of range: timex computes datetimes from 1684 to 2255, to the microsecond',
    );
  }
  return t;
}

/** A single instant. `begin`, `end` and `timestamp` are all that instant; it contains only itself. */
export class TimexTimestamp {
  readonly isRange = false;

  constructor(readonly timestamp: Micros) {}

  get begin(): Micros {
    return this.timestamp;
  }

  get end(): Micros {
    return this.timestamp;
  }

  contains(t: Micros): boolean {
    return t === this.timestamp;
  }
}

/** Where a pinned range comes from: `day($x)` remembers `$x` so that shifting it keeps `$x` inside. */
export interface Pin {
  readonly at: Micros;
  readonly unit: PinUnit;
}

/** From `begin` (inclusive) to `end` (exclusive); `timestamp` is `begin`. */
export class TimexRange {
  readonly isRange = true;

  constructor(
    readonly begin: Micros,
    readonly end: Micros,
    readonly pin?: Pin,
  ) {}

  get timestamp(): Micros {
    return this.begin;
  }

  get lengthMicros(): number {
    return this.end - this.begin;
  }

  contains(t: Micros): boolean {
    return t >= this.begin && t < this.end;
  }
}

export type TimexValue = TimexTimestamp | TimexRange;

export type Operator = '+' | '-' | '@';

/** `t` plus (sign 1) or minus (sign -1) a duration: days and smaller first, then months and years. */
export function shiftInstant(t: Micros, duration: Duration, sign: 1 | -1): Micros {
  let out = inRange(t + sign * fixedMicros(duration));
  const months = (duration.month ?? 0) + 12 * (duration.year ?? 0);
  if (months !== 0) out = inRange(addMonths(out, sign * months));
  return out;
}

const REPLACE_LIMITS: ReadonlyArray<[keyof Duration, number, number, string]> = [
  ['year', 1, 9999, 'year must be in 1..9999'],
  ['month', 1, 12, 'month must be in 1..12'],
  ['hour', 0, 23, 'hour must be in 0..23'],
  ['minute', 0, 59, 'minute must be in 0..59'],
  ['second', 0, 59, 'second must be in 0..59'],
  ['microsecond', 0, 999_999, 'microsecond must be in 0..999999'],
];

/** Python's `datetime.replace` with the duration's components: `@ 6h` sets the hour to 6. */
export function replaceInstant(t: Micros, duration: Duration): Micros {
  const c = toCivil(t);
  const fields = {
    year: duration.year ?? c.year,
    month: duration.month ?? c.month,
    day: duration.day ?? c.day,
    hour: duration.hour ?? c.hour,
    minute: duration.minute ?? c.minute,
    second: duration.second ?? c.second,
    microsecond: duration.microsecond ?? c.microsecond,
  };
  for (const [unit, min, max, message] of REPLACE_LIMITS) {
    const value = fields[unit as keyof typeof fields];
    if (value < min || value > max)
      throw new TimexEvaluationError(`cannot replace (@ ${formatDuration(duration)}): ${message}`);
  }
  const lastDay = daysInMonth(fields.year, fields.month);
  if (fields.day < 1 || fields.day > lastDay) {
    throw new TimexEvaluationError(
      `cannot replace (@ ${formatDuration(duration)}): day ${fields.day} is out of range for ` +
        `${fields.year}-${String(fields.month).padStart(2, '0')}, which has ${lastDay} days`,
    );
  }
  return inRange(
    civilToMicros(
      fields.year,
      fields.month,
      fields.day,
      fields.hour,
      fields.minute,
      fields.second,
      fields.microsecond,
    ),
  );
}

function applyToInstant(t: Micros, op: Operator, duration: Duration): Micros {
  switch (op) {
    case '+':
      return shiftInstant(t, duration, 1);
    case '-':
      return shiftInstant(t, duration, -1);
    case '@':
      return replaceInstant(t, duration);
  }
}

const UNIT_DURATION: Record<PinUnit, Duration> = {
  hour: { hour: 1 },
  day: { day: 1 },
  month: { month: 1 },
  year: { year: 1 },
};

/**
 * Applies `+`, `-` or `@` to a value. A range applies it to both ends, a bare number taking
 * its unit from the range's length. A pinned range then wraps, by steps of its own length, so
 * that it still contains the instant it is pinned to — when the duration compares as smaller
 * than the pin's unit (upstream's comparison: `day + 25h` wraps, `day + 1d` does not). When it
 * does not, upstream crashed; we return the shifted range, no longer pinned.
 */
export function applyOperation(value: TimexValue, op: Operator, duration: Duration): TimexValue {
  if (!value.isRange) {
    if (isAmbiguous(duration)) {
      throw new TimexEvaluationError(
        `a bare number (${formatDuration(duration)}) needs a unit on a timestamp`,
      );
    }
    return new TimexTimestamp(applyToInstant(value.timestamp, op, duration));
  }
  const resolved = resolveAmbiguous(duration, value.lengthMicros);
  const shifted = new TimexRange(
    applyToInstant(value.begin, op, resolved),
    applyToInstant(value.end, op, resolved),
  );
  const pin = value.pin;
  if (!pin || !durationLess(duration, UNIT_DURATION[pin.unit])) return shifted;
  return wrapAround(shifted, pin);
}

/** Upstream's `_pin_adjust`: step the range back or forward by its length until it holds the pin. */
function wrapAround(range: TimexRange, pin: Pin): TimexRange {
  if (range.contains(pin.at)) return new TimexRange(range.begin, range.end, pin);
  const length = range.lengthMicros;
  if (length <= 0) {
    throw new TimexEvaluationError(
      `cannot wrap the empty ${pin.unit} range around its pinned time (the replace made begin and end meet)`,
    );
  }
  let steps: number;
  if (range.begin > pin.at) steps = -Math.ceil((range.begin - pin.at) / length);
  else steps = Math.floor((pin.at - range.end) / length) + 1;
  return new TimexRange(inRange(range.begin + steps * length), inRange(range.end + steps * length), pin);
}

/** `hour`, `day`, `month`, `year` of an instant: the calendar unit containing it, pinned to it. */
export function pinnedRange(unit: PinUnit, t: Micros): TimexRange {
  let begin: Micros;
  let end: Micros;
  switch (unit) {
    case 'hour':
      begin = Math.floor(t / MICROS_PER_HOUR) * MICROS_PER_HOUR;
      end = begin + MICROS_PER_HOUR;
      break;
    case 'day':
      begin = Math.floor(t / MICROS_PER_DAY) * MICROS_PER_DAY;
      end = begin + MICROS_PER_DAY;
      break;
    case 'month': {
      const c = toCivil(t);
      begin = civilToMicros(c.year, c.month, 1, 0, 0, 0, 0);
      end = addMonths(begin, 1);
      break;
    }
    case 'year': {
      const c = toCivil(t);
      begin = civilToMicros(c.year, 1, 1, 0, 0, 0, 0);
      end = civilToMicros(c.year + 1, 1, 1, 0, 0, 0, 0);
      break;
    }
  }
  return new TimexRange(begin, inRange(end), { at: t, unit });
}
