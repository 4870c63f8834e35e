/**
 * Time is an integer count of microseconds since the Unix epoch, held in a JS number.
 * Doubles represent integers exactly up to 2^53 µs (year 2255), so no precision is lost
 * and arithmetic stays cheap. Everything is UTC.
 */
export type Micros = number;

export const MICROS_PER_SECOND = 1_000_000;
export const MICROS_PER_MINUTE = 60 * MICROS_PER_SECOND;
export const MICROS_PER_HOUR = 60 * MICROS_PER_MINUTE;
export const MICROS_PER_DAY = 24 * MICROS_PER_HOUR;

/** Calendar fields of a UTC instant; `microsecond` is 0..999999. */
export interface CivilTime {
  year: number;
  month: number; // 1..12
  day: number; // 1..31
  hour: number;
  minute: number;
  second: number;
  microsecond: number;
}

export function toCivil(t: Micros): CivilTime {
  const ms = Math.floor(t / 1000);
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    microsecond: t - Math.floor(t / MICROS_PER_SECOND) * MICROS_PER_SECOND,
  };
}

export function fromCivil(c: CivilTime): Micros {
  const d = new Date(0);
  d.setUTCFullYear(c.year, c.month - 1, c.day);
  d.setUTCHours(c.hour, c.minute, c.second, 0);
  return d.getTime() * 1000 + c.microsecond;
}

/** Days in a month of the proleptic Gregorian calendar (Date.UTC would read years 0–99 as 1900–1999). */
export function daysInMonth(year: number, month: number): number {
  return monthLength(year, month);
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ`, the canonical form of a datetime everywhere. */
export function formatMicros(t: Micros): string {
  const c = toCivil(t);
  return (
    `${pad(c.year, 4)}-${pad(c.month, 2)}-${pad(c.day, 2)}T${pad(c.hour, 2)}:${pad(c.minute, 2)}:` +
    `${pad(c.second, 2)}.${pad(c.microsecond, 6)}Z`
  );
}

const ISO_8601 =
  /^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses ISO-8601 as Python's iso8601 / datetime do for notification timestamps: date with
 * optional time (`T` or space), optional fraction (truncated to µs), optional zone; naive
 * means UTC. Returns undefined when the text is not such a datetime or a field is out of range.
 */
export function parseIso8601(text: string): Micros | undefined {
  const m = ISO_8601.exec(text.trim());
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hour = m[4] ? Number(m[4]) : 0;
  const minute = m[5] ? Number(m[5]) : 0;
  const second = m[6] ? Number(m[6]) : 0;
  const microsecond = m[7] ? Number(m[7].slice(0, 6).padEnd(6, '0')) : 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  return (
    fromCivil({ year, month, day, hour, minute, second, microsecond }) - offsetMinutes * MICROS_PER_MINUTE
  );
}

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil); any year. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** Calendar fields (UTC, not range-checked) to microseconds, by arithmetic: no Date object. */
export function civilToMicros(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  microsecond: number,
): Micros {
  return (
    daysFromCivil(year, month, day) * MICROS_PER_DAY +
    hour * MICROS_PER_HOUR +
    minute * MICROS_PER_MINUTE +
    second * MICROS_PER_SECOND +
    microsecond
  );
}

/**
 * The range of Python's datetime, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z (to the last
 * whole second: whole seconds are exact doubles across the range, microseconds only within
 * ±2^53 µs of the epoch, about 1685 to 2255).
 */
export const PYTHON_MIN_MICROS: Micros = civilToMicros(1, 1, 1, 0, 0, 0, 0);
export const PYTHON_MAX_MICROS: Micros = civilToMicros(9999, 12, 31, 23, 59, 59, 0);

const isLeapYear = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const monthLength = (y: number, m: number) => (m === 2 && isLeapYear(y) ? 29 : DAYS_IN_MONTH[m]);

/**
 * The regular expression of Python's iso8601 2.x `parse_date`, which StackDistiller uses for
 * datetime traits. Python's `$` also matches before a final newline, hence `\n?`.
 */
const PYTHON_ISO8601 = new RegExp(
  '^(?<year>[0-9]{4})(?:(?:-(?<monthdash>[0-9]{1,2})|(?<month>[0-9]{2})(?!\\n?$))' +
    '(?:(?:-(?<daydash>[0-9]{1,2})|(?<day>[0-9]{2}))' +
    '(?:[ T](?<hour>[0-9]{2})(?::?(?<minute>[0-9]{2}))?(?::?(?<second>[0-9]{1,2})(?:[.,](?<fraction>[0-9]+))?)?' +
    '(?<timezone>Z|(?<tzsign>[-+])(?<tzhour>[0-9]{2}):?(?<tzminute>[0-9]{2})?)?)?)?)?(?=\\n?$)',
);

const digit = (text: string, i: number) => text.charCodeAt(i) - 48;
const isDigitAt = (text: string, i: number) => {
  const c = text.charCodeAt(i);
  return c >= 48 && c <= 57;
};

/**
 * Parses a datetime exactly as StackDistiller does (Python's `iso8601.parse_date`, then UTC):
 * `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or `YYYYMMDD`, then optionally `T` or a space and a time with
 * optional seconds, fraction (`.` or `,`, truncated to µs) and zone (`Z`, `±HH`, `±HHMM`,
 * `±HH:MM`); no zone means UTC. Nothing else is accepted: no surrounding whitespace, no
 * lowercase `z`. Returns the instant, or a string saying why the text is not such a datetime
 * (Python's reason where it has one). `parseIso8601` above is the lenient parser for other uses.
 */
export function parseIso8601Python(text: string): Micros | string {
  const fast = parseCommonIso8601(text);
  if (fast !== undefined) return fast;
  const m = PYTHON_ISO8601.exec(text);
  if (!m) return `Unable to parse date string '${text}'`;
  const g = m.groups!;
  const year = Number(g.year);
  const month = Number(g.month ?? g.monthdash ?? 1);
  const day = Number(g.day ?? g.daydash ?? 1);
  const hour = Number(g.hour ?? 0);
  const minute = Number(g.minute ?? 0);
  const second = Number(g.second ?? 0);
  // Python: int(Decimal('0.' + fraction) * 1000000), i.e. truncated to microseconds.
  const microsecond = g.fraction ? Number(g.fraction.slice(0, 6).padEnd(6, '0')) : 0;
  let offsetMinutes = 0;
  if (g.tzsign) {
    offsetMinutes = Number(g.tzhour) * 60 + Number(g.tzminute ?? 0);
    if (offsetMinutes >= 24 * 60) {
      return 'offset must be a timedelta strictly between -timedelta(hours=24) and timedelta(hours=24)';
    }
    if (g.tzsign === '-') offsetMinutes = -offsetMinutes;
  }
  return checkedCivil(year, month, day, hour, minute, second, microsecond, offsetMinutes);
}

function checkedCivil(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  microsecond: number,
  offsetMinutes: number,
): Micros | string {
  if (year < 1) return `year ${year} is out of range`;
  if (month < 1 || month > 12) return 'month must be in 1..12';
  if (day < 1 || day > monthLength(year, month)) return 'day is out of range for month';
  if (hour > 23) return 'hour must be in 0..23';
  if (minute > 59) return 'minute must be in 0..59';
  if (second > 59) return 'second must be in 0..59';
  const whole = civilToMicros(year, month, day, hour, minute, second, 0) - offsetMinutes * MICROS_PER_MINUTE;
  if (whole < PYTHON_MIN_MICROS || whole > PYTHON_MAX_MICROS) return 'date value out of range';
  const t = whole + microsecond;
  if (microsecond !== 0 && !Number.isSafeInteger(t)) {
    return 'microseconds of a datetime before 1685 or after 2255 cannot be held exactly';
  }
  return t;
}

const COMMON_DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

/** `YYYY-MM-DD[T ]HH:MM:SS[.f+][Z]`, what OpenStack emits, without a regular expression. */
function parseCommonIso8601(text: string): Micros | string | undefined {
  const n = text.length;
  if (n < 19) return undefined;
  for (let k = 0; k < COMMON_DIGIT_POSITIONS.length; k++) {
    if (!isDigitAt(text, COMMON_DIGIT_POSITIONS[k])) return undefined;
  }
  const sep = text.charCodeAt(10);
  if (
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    (sep !== 84 && sep !== 32) ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58
  ) {
    return undefined;
  }
  let i = 19;
  let microsecond = 0;
  const point = text.charCodeAt(i);
  if (point === 46 || point === 44) {
    i++;
    const start = i;
    while (i < n && isDigitAt(text, i)) {
      if (i - start < 6) microsecond = microsecond * 10 + digit(text, i);
      i++;
    }
    if (i === start) return undefined;
    for (let k = Math.min(i - start, 6); k < 6; k++) microsecond *= 10;
  }
  if (i < n && text.charCodeAt(i) === 90) i++;
  if (i !== n) return undefined;
  const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3);
  const month = digit(text, 5) * 10 + digit(text, 6);
  const day = digit(text, 8) * 10 + digit(text, 9);
  const hour = digit(text, 11) * 10 + digit(text, 12);
  const minute = digit(text, 14) * 10 + digit(text, 15);
  const second = digit(text, 17) * 10 + digit(text, 18);
  return checkedCivil(year, month, day, hour, minute, second, microsecond, 0);
}

/**
 * `t` moved by whole calendar months (negative: back), keeping the time of day. A day the
 * target month lacks becomes its last day: Jan 31 + 1 month = Feb 28 (29 in a leap year),
 * Feb 29 + 12 months = Feb 28.
 */
export function addMonths(t: Micros, months: number): Micros {
  const c = toCivil(t);
  const index = c.year * 12 + (c.month - 1) + months;
  const year = Math.floor(index / 12);
  const month = index - year * 12 + 1;
  const day = Math.min(c.day, monthLength(year, month));
  return civilToMicros(year, month, day, c.hour, c.minute, c.second, c.microsecond);
}
