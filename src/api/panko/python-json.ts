import { pyFloatRepr } from '../../distiller/python';

/**
 * JSON as Python's `json.dumps` writes it with its defaults, which is how Panko answers:
 * `", "` and `": "` between items, everything outside printable ASCII escaped as `\uXXXX`
 * (lower-case hex, surrogate pairs above U+FFFF), floats as `repr()` writes them. Clients and upstream's
 * gabbi tests compare bodies as text (`"base": "application/json"`), so the spacing counts.
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return pythonJsonString(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return pythonJsonNumber(value);
  }
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${pythonJsonString(k)}: ${pythonJson(v)}`).join(', ')}}`;
}

function pythonJsonNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  // A JS number does not say whether it was an int or a float; an integral one is shown as an int.
  if (Number.isInteger(x)) return Number.isSafeInteger(x) ? String(x) : BigInt(x).toString();
  return pyFloatRepr(x);
}

const SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

// eslint-disable-next-line no-control-regex -- control characters are what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/g;

function pythonJsonString(s: string): string {
  return `"${s.replace(
    NEEDS_ESCAPE,
    (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )}"`;
}
