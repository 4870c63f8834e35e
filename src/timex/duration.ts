import { MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_MINUTE, MICROS_PER_SECOND } from '../time/micros';

/** Units from the largest down: the order upstream compares durations in. */
export const DURATION_UNITS = ['year', 'month', 'day', 'hour', 'minute', 'second', 'microsecond'] as const;
export type DurationUnit = (typeof DURATION_UNITS)[number];

/**
 * A duration as written: a count per unit, absent units unset (`1d 2h` has day and hour).
 * `unknown` holds a bare number (`day @ 2`), whose unit a range chooses from its length.
 */
export type Duration = { readonly [unit in DurationUnit | 'unknown']?: number };

/** The words upstream's lexer reads as units. */
export const UNIT_WORDS: Readonly<Record<string, DurationUnit>> = {
  us: 'microsecond',
  s: 'second',
  sec: 'second',
  m: 'minute',
  min: 'minute',
  h: 'hour',
  hr: 'hour',
  d: 'day',
  mo: 'month',
  y: 'year',
  yr: 'year',
};

const SHORT_NAMES: Record<DurationUnit, string> = {
  year: 'y',
  month: 'mo',
  day: 'd',
  hour: 'h',
  minute: 'm',
  second: 's',
  microsecond: 'us',
};

export function isAmbiguous(duration: Duration): boolean {
  return duration.unknown !== undefined;
}

/** Ganged durations add unit by unit (`1h 2h` is `3h`). */
export function sumDurations(a: Duration, b: Duration): Duration {
  const out: { [unit in DurationUnit | 'unknown']?: number } = { ...a };
  for (const [unit, value] of Object.entries(b) as [DurationUnit | 'unknown', number][]) {
    out[unit] = (out[unit] ?? 0) + value;
  }
  return out;
}

/**
 * Upstream's `Duration.__lt__`: walks the units from years down and decides at the first
 * unit either side sets. Both set: compare the counts; only `a` sets it: not less; only `b`:
 * less. So `25h < 1d` (no day on the left) and `1d 1h < 1d` is false. The bare number is
 * not compared. This decides whether a pinned range wraps.
 */
export function durationLess(a: Duration, b: Duration): boolean {
  for (const unit of DURATION_UNITS) {
    const ours = a[unit];
    const theirs = b[unit];
    if (ours !== undefined && theirs !== undefined) return ours < theirs;
    if (ours !== undefined) return false;
    if (theirs !== undefined) return true;
  }
  return false;
}

/** Upstream's unit sizes for choosing the unit of a bare number: a month counts 28 days, a year 365. */
const UNIT_THRESHOLDS: ReadonlyArray<[micros: number, unit: DurationUnit]> = [
  [365 * MICROS_PER_DAY, 'month'],
  [28 * MICROS_PER_DAY, 'day'],
  [MICROS_PER_DAY, 'hour'],
  [MICROS_PER_HOUR, 'minute'],
  [MICROS_PER_MINUTE, 'second'],
];

/**
 * A bare number on a range takes the unit one below the range's length: a range of a day or
 * more (less than 28 days) takes hours, of an hour or more takes minutes, and so on; under a
 * minute, microseconds. Added to that unit's count when the duration also sets it.
 */
export function resolveAmbiguous(duration: Duration, rangeLengthMicros: number): Duration {
  if (duration.unknown === undefined) return duration;
  const length = Math.abs(rangeLengthMicros);
  let unit: DurationUnit = 'microsecond';
  for (const [threshold, candidate] of UNIT_THRESHOLDS) {
    if (length >= threshold) {
      unit = candidate;
      break;
    }
  }
  const { unknown, ...rest } = duration;
  return { ...rest, [unit]: (rest[unit] ?? 0) + unknown };
}

/** The fixed-length part (days and smaller) in microseconds. */
export function fixedMicros(duration: Duration): number {
  return (
    (duration.day ?? 0) * MICROS_PER_DAY +
    (duration.hour ?? 0) * MICROS_PER_HOUR +
    (duration.minute ?? 0) * MICROS_PER_MINUTE +
    (duration.second ?? 0) * MICROS_PER_SECOND +
    (duration.microsecond ?? 0)
  );
}

/** `1d 2h`, `6` for a bare number: how the duration reads in messages. */
export function formatDuration(duration: Duration): string {
  const parts = DURATION_UNITS.filter((u) => duration[u] !== undefined).map(
    (u) => `${duration[u]}${SHORT_NAMES[u]}`,
  );
  if (duration.unknown !== undefined) parts.push(String(duration.unknown));
  return parts.join(' ');
}
