import { isIndexKey, KEY_ORDER, PyNumber, pyFloatRepr } from './python';

/** Deeper nesting is refused, as Python's json refuses it (RecursionError): the parser recurses. */
export const EXACT_JSON_MAX_DEPTH = 1000;

/**
 * Parses JSON text as Python's `json.loads` sees it, for the rare notification whose result
 * depends on what JSON.parse loses: a float with an integral value (`5.0`) stays a float, an
 * integer beyond 2^53 keeps its digits (both as `PyNumber`), and an object whose keys JS would
 * reorder ("10" before "b") records their JSON order under `KEY_ORDER`. Objects have no
 * prototype, so `__proto__` is plain data. The text must already have passed JSON.parse.
 *
 * One function on purpose: its inner scanners share the cursor `i` and `depth` as closure
 * variables, the usual shape of a recursive-descent parser; split apart they would pass the
 * cursor back and forth.
 */
export function parseJsonExact(text: string): unknown {
  let i = 0;
  let depth = 0;
  const n = text.length;
  const skipSpace = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else return;
    }
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${i}`);
  };

  const parseString = (): string => {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 34) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c !== 92) {
        i++;
        continue;
      }
      out += text.slice(start, i);
      const e = text[i + 1];
      i += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const code = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(code)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(code, 16));
          i += 4;
          break;
        }
        default:
          fail('bad escape');
      }
      start = i;
    }
  };

  const parseNumber = (): unknown => {
    const start = i;
    let isFloat = false;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c === 46 || c === 101 || c === 69) isFloat = true;
      else if (!((c >= 48 && c <= 57) || c === 45 || c === 43)) break;
    }
    const lexeme = text.slice(start, i);
    const value = Number(lexeme);
    if (Number.isNaN(value)) fail('bad number');
    if (isFloat) {
      // An integral float would read back as an int; a non-integral one is unambiguous.
      return Number.isInteger(value) ? new PyNumber(value, true, pyFloatRepr(value)) : value;
    }
    if (Number.isSafeInteger(value)) return value === 0 ? 0 : value;
    return new PyNumber(value, false, BigInt(lexeme).toString());
  };

  const parseValue = (): unknown => {
    skipSpace();
    const c = text.charCodeAt(i);
    if ((c === 123 || c === 91) && depth >= EXACT_JSON_MAX_DEPTH) {
      fail(`nested deeper than ${EXACT_JSON_MAX_DEPTH} levels`);
    }
    if (c === 123) {
      i++;
      const object = Object.create(null) as Record<string | symbol, unknown>;
      let order: string[] | undefined;
      const keys: string[] = [];
      skipSpace();
      if (text.charCodeAt(i) === 125) {
        i++;
        return object;
      }
      for (;;) {
        skipSpace();
        if (text.charCodeAt(i) !== 34) fail('expected a key');
        const key = parseString();
        skipSpace();
        if (text.charCodeAt(i) !== 58) fail("expected ':'");
        i++;
        const value = parseChild();
        if (!(key in object)) {
          keys.push(key);
          if (isIndexKey(key)) order = keys;
        }
        object[key] = value;
        skipSpace();
        const d = text.charCodeAt(i++);
        if (d === 125) break;
        if (d !== 44) fail("expected ',' or '}'");
      }
      if (order && order.length > 1) {
        Object.defineProperty(object, KEY_ORDER, { value: order, enumerable: false });
      }
      return object;
    }
    if (c === 91) {
      i++;
      const array: unknown[] = [];
      skipSpace();
      if (text.charCodeAt(i) === 93) {
        i++;
        return array;
      }
      for (;;) {
        array.push(parseChild());
        skipSpace();
        const d = text.charCodeAt(i++);
        if (d === 93) break;
        if (d !== 44) fail("expected ',' or ']'");
      }
      return array;
    }
    if (c === 34) return parseString();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    return parseNumber();
  };

  /** A value inside a container: one level deeper. */
  const parseChild = (): unknown => {
    depth++;
    const value = parseValue();
    depth--;
    return value;
  };

  const value = parseValue();
  skipSpace();
  if (i !== n) fail('unexpected text after the value');
  return value;
}
