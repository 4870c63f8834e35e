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

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
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
