/**
 * Python's semantics where StackDistiller's results depend on them: `str()`, `int()`,
 * `float()`, `==`, `str.split()` and `fnmatch`. Values are notification JSON as parsed by
 * JSON.parse, or by `parseJsonExact` (which keeps what JSON.parse loses: whether `5.0` was a
 * float, the digits of integers beyond 2^53, and the order of keys such as "10" and "2").
 */

import { Trait } from '../events/event';
import { Micros, toCivil } from '../time/micros';

/** State of a number that JSON.parse could not represent exactly; read through symbols so paths never see it. */
const PY_VALUE = Symbol('python number value');
const PY_TEXT = Symbol('python number text');
const PY_FLOAT = Symbol('python number is a float');

/**
 * A number from `parseJsonExact` that a JS number would misrepresent: a float with an integral
 * value (`5.0`, `1e16`, `-0.0`) or an integer beyond ±2^53. Other numbers stay JS numbers: an
 * integral one is then a Python int, any other a float.
 */
export class PyNumber {
  readonly [PY_VALUE]: number;
  readonly [PY_TEXT]: string;
  readonly [PY_FLOAT]: boolean;
  constructor(value: number, isFloat: boolean, text: string) {
    this[PY_VALUE] = value;
    this[PY_FLOAT] = isFloat;
    this[PY_TEXT] = text;
  }
  static value(n: PyNumber): number {
    return n[PY_VALUE];
  }
  static isFloat(n: PyNumber): boolean {
    return n[PY_FLOAT];
  }
  /** Python's `str()` of it. */
  static text(n: PyNumber): string {
    return n[PY_TEXT];
  }
}

/** The keys of an object from `parseJsonExact` in their JSON order, when JS would enumerate them differently. */
export const KEY_ORDER = Symbol('JSON key order');

/**
 * Thrown (never escapes the distiller) when a result would depend on what JSON.parse loses:
 * the distiller then parses the text again with `parseJsonExact` and starts over.
 */
export class NeedExactJson {
  static readonly instance = new NeedExactJson();
}

/**
 * How the distiller is reading the notification at hand. `fast`: JSON.parse output with the text
 * at hand, so where JSON.parse may have lost something (an integral number may have been a
 * float) ask for the exact parse. `exact`: `parseJsonExact` output. Neither: JS values taken at
 * face value (an integral number is an int, keys in JS order).
 */
export const numberReading = { fast: false, exact: false };

/** A conversion that fails as it does in Python; the message is Python's. */
export class ConversionFailure {
  constructor(readonly reason: string) {}
}

export function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof PyNumber);
}

/** An array index ("0", "17"): JS enumerates such keys first, Python keeps insertion order. */
export function isIndexKey(key: string): boolean {
  const n = key.length;
  if (n === 0 || n > 10) return false;
  const c = key.charCodeAt(0);
  if (c < 48 || c > 57 || (c === 48 && n > 1)) return false;
  for (let i = 1; i < n; i++) {
    const d = key.charCodeAt(i);
    if (d < 48 || d > 57) return false;
  }
  return Number(key) < 4294967295;
}

/** Keys of a dict in Python's order; in fast mode, asks for the exact parse when JS's order may differ. */
export function dictKeys(d: Record<string, unknown>): string[] {
  const order = (d as { [KEY_ORDER]?: string[] })[KEY_ORDER];
  if (order) return order;
  const keys = Object.keys(d);
  if (numberReading.fast && keys.length > 1 && isIndexKey(keys[0])) throw NeedExactJson.instance;
  return keys;
}

export function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (v instanceof PyNumber) return PyNumber.isFloat(v) ? 'float' : 'int';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

/** Python's `repr()` of a float. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() gives the shortest round-tripping digits, as Python's repr does.
  const text = x.toExponential();
  const e = text.indexOf('e');
  const negative = text.charCodeAt(0) === 45;
  const digits = text.slice(negative ? 1 : 0, e).replace('.', '');
  const exponent = Number(text.slice(e + 1));
  const point = exponent + 1; // value = 0.<digits> × 10^point
  let body: string;
  if (point > 16 || point <= -4) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  } else if (point <= 0) {
    body = `0.${'0'.repeat(-point)}${digits}`;
  } else if (point >= digits.length) {
    body = `${digits}${'0'.repeat(point - digits.length)}.0`;
  } else {
    body = `${digits.slice(0, point)}.${digits.slice(point)}`;
  }
  return negative ? `-${body}` : body;
}

/** Python's `str.isprintable()` is false for these categories (the space excepted). */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/** Python's `repr()` of a str; with `limit`, its first `limit` characters (printf's `%.200R`). */
export function pyReprString(s: string, limit = Infinity): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (out.length >= limit) return out.slice(0, limit);
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x7f || !NOT_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return (out + quote).slice(0, limit);
}

/** Python's `repr()` of a JSON value (what `str()` shows for items of a list or dict). */
function pyRepr(v: unknown, seen: Set<unknown>): string {
  if (typeof v === 'string') return pyReprString(v);
  if (Array.isArray(v) || isDict(v)) {
    if (seen.has(v)) return Array.isArray(v) ? '[...]' : '{...}';
    seen.add(v);
    let out: string;
    if (Array.isArray(v)) {
      out = `[${v.map((item) => pyRepr(item, seen)).join(', ')}]`;
    } else {
      const parts = dictKeys(v).map((k) => `${pyReprString(k)}: ${pyRepr(v[k], seen)}`);
      out = `{${parts.join(', ')}}`;
    }
    seen.delete(v);
    return out;
  }
  return pyStr(v);
}

/** Python's `str()` of a JSON value: `True`, `None`, `5`, `5.0`, `1e+16`, `['a', 1]`, `{'k': None}`. */
export function pyStr(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'True' : 'False';
    case 'number':
      if (Number.isInteger(v)) {
        if (numberReading.fast) throw NeedExactJson.instance;
        return Number.isSafeInteger(v) ? String(v === 0 ? 0 : v) : BigInt(v).toString();
      }
      return pyFloatRepr(v);
    case 'bigint':
      return v.toString();
    case 'undefined':
      return 'None';
  }
  if (v === null) return 'None';
  if (v instanceof PyNumber) return PyNumber.text(v);
  if (Array.isArray(v) || isDict(v)) {
    if (numberReading.fast) throw NeedExactJson.instance;
    return pyRepr(v, new Set());
  }
  return String(v);
}

/** Python's `str.isspace()` characters (what `str.split()` splits on). */
// eslint-disable-next-line no-control-regex -- \x1c-\x1f are whitespace to Python
const PY_SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const UNICODE_DIGIT = /\p{Nd}/u;
const NON_ASCII = /[\u0080-\uffff]/;

/** The value of a Unicode decimal digit: they come in runs of ten, from 0 to 9. */
function unicodeDigitValue(cp: number): number {
  let run = 0;
  while (run < 100 && UNICODE_DIGIT.test(String.fromCodePoint(cp - run - 1))) run++;
  return run % 10;
}

/**
 * What `int()` and `float()` do first: non-ASCII digits become ASCII digits and non-ASCII spaces
 * plain spaces (ASCII is kept: `\x1c` is whitespace to `str.split` but not to `int`).
 */
function toAsciiNumberText(s: string): string {
  if (!NON_ASCII.test(s)) return s;
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) out += ch;
    else if (PY_SPACE.test(ch)) out += ' ';
    else if (UNICODE_DIGIT.test(ch)) out += String(unicodeDigitValue(cp));
    else out += '?';
  }
  return out;
}

const INT_TEXT = /^[ \t\n\v\f\r]*([+-]?)([0-9](?:_?[0-9])*)[ \t\n\v\f\r]*$/;
const FLOAT_TEXT =
  /^[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)?$/;
const FLOAT_SPECIAL = /^[+-]?(?:inf|infinity|nan)$/i;
const TRIM_SPACE = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g;

function checkedInt(value: number, shown: string): number {
  if (!Number.isSafeInteger(value)) {
    throw new ConversionFailure(`int value ${shown} is out of the supported range (±2^53)`);
  }
  return value === 0 ? 0 : value;
}

/** Python's `int()` of a JSON value, limited to integers a JS number holds exactly. */
export function pyInt(v: unknown): number {
  if (typeof v === 'number') {
    if (Number.isNaN(v)) throw new ConversionFailure('cannot convert float NaN to integer');
    if (!Number.isFinite(v)) throw new ConversionFailure('cannot convert float infinity to integer');
    const whole = Math.trunc(v);
    // JSON.parse rounded the digits of so large a number: the exact reading names the ones sent.
    if (!Number.isSafeInteger(whole) && numberReading.fast) throw NeedExactJson.instance;
    return checkedInt(whole, Number.isSafeInteger(whole) ? String(whole) : BigInt(whole).toString());
  }
  if (typeof v === 'string') {
    const m = INT_TEXT.exec(toAsciiNumberText(v));
    if (!m) {
      // CPython: "invalid literal for int() with base %d: %.200R", so a huge text is not copied.
      throw new ConversionFailure(`invalid literal for int() with base 10: ${pyReprString(v, 200)}`);
    }
    const digits = m[2].replace(/_/g, '');
    const value = Number(m[1] + digits);
    return checkedInt(value, value === 0 ? '0' : `${m[1] === '-' ? '-' : ''}${digits.replace(/^0+/, '')}`);
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof PyNumber) {
    const value = PyNumber.value(v);
    if (PyNumber.isFloat(v)) return pyInt(value);
    return checkedInt(value, PyNumber.text(v));
  }
  throw new ConversionFailure(
    `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(v)}'`,
  );
}

/** Python's `float()` of a JSON value. */
export function pyFloat(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const text = toAsciiNumberText(v).replace(TRIM_SPACE, '');
    if (FLOAT_TEXT.test(text)) return Number(text.replace(/_/g, ''));
    if (FLOAT_SPECIAL.test(text)) return /nan/i.test(text) ? NaN : text[0] === '-' ? -Infinity : Infinity;
    // Cut where the distiller's reasons are cut anyway, so a huge text is not copied.
    throw new ConversionFailure(`could not convert string to float: ${pyReprString(v, 1000)}`);
  }
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof PyNumber) return PyNumber.value(v);
  throw new ConversionFailure(`float() argument must be a string or a real number, not '${pyTypeName(v)}'`);
}

/** The number behind a Python int, float or bool, or undefined for anything else. */
function pyNumeric(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof PyNumber) return PyNumber.value(v);
  return undefined;
}

/**
 * Python's `==` between a notification value and a YAML value (YAML mappings are `Map`s):
 * `True == 1 == 1.0`, containers compare item by item, a YAML timestamp equals no JSON value.
 */
export function pyEquals(json: unknown, yaml: unknown): boolean {
  const a = pyNumeric(json);
  const b = pyNumeric(yaml);
  if (a !== undefined || b !== undefined) return a !== undefined && a === b;
  if (typeof json === 'string' || typeof yaml === 'string') return json === yaml;
  if (json === null || json === undefined) return yaml === null || yaml === undefined;
  if (Array.isArray(json)) {
    return (
      Array.isArray(yaml) && json.length === yaml.length && json.every((item, i) => pyEquals(item, yaml[i]))
    );
  }
  if (isDict(json) && yaml instanceof Map) {
    const keys = Object.keys(json);
    return keys.length === yaml.size && keys.every((k) => yaml.has(k) && pyEquals(json[k], yaml.get(k)));
  }
  return false;
}

const isPySpace = (s: string, i: number) => PY_SPACE.test(s[i]);

/** Python's `s.split(separator, maxsplit)`: the last piece keeps the rest; `null` splits on whitespace runs. */
export function pySplit(s: string, separator: string | null, maxsplit: number): string[] {
  const limit = maxsplit < 0 ? Infinity : maxsplit;
  const out: string[] = [];
  if (separator === null) {
    let i = 0;
    const n = s.length;
    let splits = 0;
    while (splits++ < limit) {
      while (i < n && isPySpace(s, i)) i++;
      if (i === n) break;
      const start = i++;
      while (i < n && !isPySpace(s, i)) i++;
      out.push(s.slice(start, i));
    }
    if (i < n) {
      while (i < n && isPySpace(s, i)) i++;
      if (i !== n) out.push(s.slice(i));
    }
    return out;
  }
  let start = 0;
  for (let splits = 0; splits < limit; splits++) {
    const at = s.indexOf(separator, start);
    if (at < 0) break;
    out.push(s.slice(start, at));
    start = at + separator.length;
  }
  out.push(s.slice(start));
  return out;
}

/** Python's `seq[i]` for a list: negative indexes count from the end; undefined for IndexError. */
export function pyIndex<T>(items: readonly T[], index: number): T | undefined {
  const i = index < 0 ? items.length + index : index;
  return i >= 0 && i < items.length ? items[i] : undefined;
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

/** A `*` among the translated pieces of a pattern. */
const STAR = Symbol('*');

/**
 * Python's `fnmatch.translate` (3.11) as a JS regular expression: `*`, `?`, `[seq]`, `[!seq]`,
 * whole-string, case-sensitive (POSIX `normcase` is the identity).
 */
export function fnmatchToRegExp(pattern: string): RegExp {
  const chars = [...pattern];
  const n = chars.length;
  const pieces: (string | typeof STAR)[] = [];
  let i = 0;
  while (i < n) {
    const c = chars[i++];
    if (c === '*') {
      if (pieces[pieces.length - 1] !== STAR) pieces.push(STAR);
    } else if (c === '?') {
      pieces.push('[\\s\\S]');
    } else if (c === '[') {
      let j = i;
      if (j < n && chars[j] === '!') j++;
      if (j < n && chars[j] === ']') j++;
      while (j < n && chars[j] !== ']') j++;
      if (j >= n) {
        pieces.push('\\[');
        continue;
      }
      let stuff: string;
      const body = chars.slice(i, j).join('');
      if (!body.includes('-')) {
        stuff = body.replace(/\\/g, '\\\\');
      } else {
        const chunks: string[] = [];
        let k = chars[i] === '!' ? i + 2 : i + 1;
        let from = i;
        for (;;) {
          k = chars.indexOf('-', k);
          if (k < 0 || k >= j) break;
          chunks.push(chars.slice(from, k).join(''));
          from = k + 1;
          k = k + 3;
        }
        const chunk = chars.slice(from, j).join('');
        if (chunk) chunks.push(chunk);
        else chunks[chunks.length - 1] += '-';
        for (let m = chunks.length - 1; m > 0; m--) {
          const prev = [...chunks[m - 1]];
          const cur = [...chunks[m]];
          if (prev.length && cur.length && prev[prev.length - 1].codePointAt(0)! > cur[0].codePointAt(0)!) {
            chunks[m - 1] = prev.slice(0, -1).join('') + cur.slice(1).join('');
            chunks.splice(m, 1);
          }
        }
        stuff = chunks.map((s) => s.replace(/\\/g, '\\\\').replace(/-/g, '\\-')).join('-');
      }
      i = j + 1;
      stuff = stuff.replace(/\]/g, '\\]');
      if (!stuff) pieces.push('(?!)');
      else if (stuff === '!') pieces.push('[\\s\\S]');
      else if (stuff[0] === '!') pieces.push(`[^${stuff.slice(1)}]`);
      else if (stuff[0] === '^' || stuff[0] === '[') pieces.push(`[\\${stuff}]`);
      else pieces.push(`[${stuff}]`);
    } else {
      pieces.push(c.replace(REGEX_SPECIAL, '\\$&'));
    }
  }
  // As Python does since 3.9: the fixed text between two stars matches lazily and atomically,
  // (?=(?<g>[\s\S]*?fixed))\k<g> (JS has no atomic groups), so `*a*a*a*b` cannot backtrack
  // exponentially on a long event type. Fixed pieces all match one character each, so the
  // leftmost match of each is the one a backtracking search would keep.
  let out = '';
  let k = 0;
  while (k < pieces.length && pieces[k] !== STAR) out += pieces[k++] as string;
  let group = 0;
  while (k < pieces.length) {
    k++; // a star
    let fixed = '';
    while (k < pieces.length && pieces[k] !== STAR) fixed += pieces[k++] as string;
    if (k === pieces.length) out += `[\\s\\S]*${fixed}`;
    else out += `(?=(?<g${++group}>[\\s\\S]*?${fixed}))\\k<g${group}>`;
  }
  return new RegExp(`^(?:${out})$`, 'u');
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * Python's text of a naive UTC datetime: `str()` with `sep` ' ', `isoformat()` with 'T';
 * the six fraction digits only when there are microseconds.
 */
export function pyDatetimeText(t: Micros, sep: ' ' | 'T'): string {
  const c = toCivil(t);
  const base =
    `${pad(c.year, 4)}-${pad(c.month, 2)}-${pad(c.day, 2)}${sep}` +
    `${pad(c.hour, 2)}:${pad(c.minute, 2)}:${pad(c.second, 2)}`;
  return c.microsecond ? `${base}.${pad(c.microsecond, 6)}` : base;
}

/** A trait's value as Python prints it: the text, str() of an int, repr() of a float, a datetime as above. */
export function pyTraitText(trait: Trait, datetimeSep: ' ' | 'T'): string {
  switch (trait.type) {
    case 'text':
      return trait.value;
    case 'int':
      return String(trait.value);
    case 'float':
      return pyFloatRepr(trait.value);
    case 'datetime':
      return pyDatetimeText(trait.value, datetimeSep);
  }
}
