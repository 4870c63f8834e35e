import {
  MICROS_PER_DAY,
  Micros,
  PYTHON_MAX_MICROS,
  PYTHON_MIN_MICROS,
  civilToMicros,
  formatMicros,
} from '../time/micros';

/**
 * Timestamps cross the wire as text, `YYYY-MM-DD HH:MM:SS.ffffff`, both ways: a JS Date
 * would keep milliseconds only. The store holds naive UTC `timestamp(6)` values; the pool
 * runs every session in UTC (client.ts).
 */

/**
 * The instants the store accepts: Python's datetime range (years 1 to 9999, to its last
 * whole second, as src/time/micros.ts has it). Every integer
 * a double holds in it is written and read back exactly (beyond ±2^53 µs, 1685 to 2255,
 * those are whole multiples of a power of two: seconds are, odd microseconds are not).
 */
export const MIN_STORABLE_MICROS: Micros = PYTHON_MIN_MICROS;
export const MAX_STORABLE_MICROS: Micros = PYTHON_MAX_MICROS;

export function isStorableMicros(t: unknown): t is Micros {
  return Number.isInteger(t) && (t as number) >= MIN_STORABLE_MICROS && (t as number) <= MAX_STORABLE_MICROS;
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` for a storable instant. */
export function toPgTimestamp(t: Micros): string {
  const iso = formatMicros(t);
  return `${iso.slice(0, 10)} ${iso.slice(11, 26)}`;
}

/**
 * A bound for comparing with stored timestamps: outside the storable range every stored
 * value is on one side of it, which PostgreSQL's `±infinity` say exactly.
 */
export function pgTimestampBound(t: Micros): string {
  if (!Number.isInteger(t)) throw new RangeError(`timestamp ${t} is not a whole number of microseconds`);
  if (t < MIN_STORABLE_MICROS) return '-infinity';
  if (t > MAX_STORABLE_MICROS) return 'infinity';
  return toPgTimestamp(t);
}

const PG_TIMESTAMP = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;

/** PostgreSQL's text for a timestamp (no trailing zeros in the fraction) back to microseconds. */
export function fromPgTimestamp(text: string): Micros {
  const m = PG_TIMESTAMP.exec(text);
  if (!m) throw new Error(`unexpected timestamp from PostgreSQL: ${JSON.stringify(text)}`);
  const micros = m[7] ? Number(m[7].padEnd(6, '0')) : 0;
  return civilToMicros(+m[1], +m[2], +m[3], +m[4], +m[5], +m[6], micros);
}

/** Days since the epoch: the daily partition an instant belongs to. */
export function dayOf(t: Micros): number {
  return Math.floor(t / MICROS_PER_DAY);
}

/** `YYYY-MM-DD` of a day number. */
export function dayText(day: number): string {
  return toPgTimestamp(day * MICROS_PER_DAY).slice(0, 10);
}
