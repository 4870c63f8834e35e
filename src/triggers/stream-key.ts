import { DistinguishedValue, DistinguishedValues } from '../streams/model';
import { formatMicros } from '../time/micros';

/**
 * A stream's identity as one string: the trigger and its distinguishing values, canonical so
 * that any two processes compute the same key for the same stream and different keys for
 * different streams. It is JSON: `["trigger",["name","type",value…],…]`, values sorted by
 * name (so reordering `distinguished_by` keeps the streams), each with its type: int 5,
 * float 5.0 and text "5" are three streams, as upstream kept them apart. Ranges are
 * (begin, end); datetimes and range ends are written `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
 */
export function encodeStreamKey(trigger: string, values: DistinguishedValues): string {
  const parts: unknown[] = [trigger];
  for (const name of Object.keys(values).sort()) parts.push(encodeValue(name, values[name]));
  return JSON.stringify(parts);
}

function encodeValue(name: string, value: DistinguishedValue): unknown[] {
  if ('begin' in value) return [name, 'range', formatMicros(value.begin), formatMicros(value.end)];
  switch (value.type) {
    case 'text':
      return [name, 'text', value.value];
    case 'int':
      return [name, 'int', value.value];
    case 'float':
      return [name, 'float', canonicalFloat(value.value as number)];
    case 'datetime':
      return [name, 'datetime', formatMicros(value.value as number)];
  }
}

/** Floats as text, so NaN and infinities survive JSON; -0.0 is 0.0 (Python: -0.0 == 0.0). */
function canonicalFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return '0.0';
  const text = String(x);
  return Number.isInteger(x) && !text.includes('e') ? `${text}.0` : text;
}
