import { Micros, MICROS_PER_DAY, MICROS_PER_SECOND, toCivil } from '../time/micros';

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** `YYYY-MM-DD ` by day number; a few days recur constantly (today, launch days), so cache them. */
const dayPrefixes = new Map<number, string>();

function dayPrefix(day: number): string {
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    const c = toCivil(day * MICROS_PER_DAY);
    prefix = `${String(c.year).padStart(4, '0')}-${pad2(c.month)}-${pad2(c.day)} `;
    if (dayPrefixes.size > 4096) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  return prefix;
}

/**
 * Python's `str(datetime)` of a naive UTC time, which is how nova writes notification times:
 * `2026-11-01 00:05:00.123456`, and without the fraction when the microseconds are zero.
 */
export function pyDatetime(t: Micros): string {
  const day = Math.floor(t / MICROS_PER_DAY);
  const inDay = t - day * MICROS_PER_DAY;
  const micro = inDay % MICROS_PER_SECOND;
  const seconds = (inDay - micro) / MICROS_PER_SECOND;
  const hh = Math.floor(seconds / 3600);
  const mm = Math.floor((seconds % 3600) / 60);
  const ss = seconds % 60;
  const clock = `${pad2(hh)}:${pad2(mm)}:${pad2(ss)}`;
  return dayPrefix(day) + (micro ? `${clock}.${String(micro).padStart(6, '0')}` : clock);
}

export const startOfDay = (t: Micros): Micros => Math.floor(t / MICROS_PER_DAY) * MICROS_PER_DAY;
