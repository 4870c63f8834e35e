import { Trait } from '../../events/event';
import { Micros, parseIso8601 } from '../../time/micros';
import { pyDatetimeText, pyTraitText } from '../../distiller/python';

/** Upstream's handlers see traits as plain Python values; these helpers read ours the same way. */

/** Python's `str()` of a naive datetime: `2014-12-31 01:00:00`, `.ffffff` only when non-zero. */
export const pyDatetimeStr = (t: Micros): string => pyDatetimeText(t, ' ');

/** `%s` of a trait's value in upstream's messages and templates; an absent trait is `None`. */
export function traitText(trait: Trait | undefined): string {
  return trait ? pyTraitText(trait, ' ') : 'None';
}

/** Python truthiness of a trait value: absent, `''` and `0` are false; a datetime is always true. */
export function traitTruthy(trait: Trait | undefined): boolean {
  if (!trait) return false;
  if (trait.type === 'text') return trait.value !== '';
  if (trait.type === 'datetime') return true;
  return trait.value !== 0;
}

/** A trait as an instant: a datetime trait, or text holding an ISO-8601 time; else undefined. */
export function traitInstant(trait: Trait | undefined): Micros | undefined {
  if (!trait) return undefined;
  if (trait.type === 'datetime') return trait.value;
  if (trait.type === 'text') return parseIso8601(trait.value);
  return undefined;
}

/** Python's `==` between two trait values: `5 == 5.0`, but text never equals a number or a datetime. */
export function traitsEqual(a: Trait | undefined, b: Trait | undefined): boolean {
  if (!a || !b) return a === b;
  const numeric = (t: Trait) => t.type === 'int' || t.type === 'float';
  if (numeric(a) && numeric(b)) return a.value === b.value;
  return a.type === b.type && a.value === b.value;
}
