/** Python semantics the distiller reproduces; expected values are what CPython 3.11 prints. */
import { parseJsonExact } from '../../../src/distiller/exact-json';
import {
  ConversionFailure,
  fnmatchToRegExp,
  isIndexKey,
  KEY_ORDER,
  NeedExactJson,
  numberReading,
  pyEquals,
  pyFloat,
  pyFloatRepr,
  pyIndex,
  pyInt,
  PyNumber,
  pyReprString,
  pySplit,
  pyStr,
} from '../../../src/distiller/python';

const failure = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConversionFailure) return error.reason;
    throw error;
  }
  throw new Error('expected a ConversionFailure');
};

describe("repr() of a float (Python's shortest round-trip form)", () => {
  it.each([
    [1, '1.0'],
    [1.5, '1.5'],
    [1e16, '1e+16'],
    [1e15, '1000000000000000.0'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [-0, '-0.0'],
    [1e22, '1e+22'],
    [1.2345e20, '1.2345e+20'],
    [123.456, '123.456'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [0.1 + 0.2, '0.30000000000000004'],
    [100, '100.0'],
    [-1.5e-7, '-1.5e-07'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
  ])('%p → %s', (x, text) => expect(pyFloatRepr(x)).toBe(text));
});

describe("repr() of a str (Python's quoting and escapes)", () => {
  it.each([
    ['plain', "'plain'"],
    ['é', "'é'"],
    ['\u00a0', "'\\xa0'"],
    ['\u200b', "'\\u200b'"],
    ['\t\n\r', "'\\t\\n\\r'"],
    ['\u0007\u007f', "'\\x07\\x7f'"],
    ['😀', "'😀'"],
    ['\ud800', "'\\ud800'"],
    ["it's", '"it\'s"'],
    ['say "hi"', '\'say "hi"\''],
    ['both \'"', "'both \\'\"'"],
    ['\\', "'\\\\'"],
    ['\u{e0001}', "'\\U000e0001'"],
  ])('%j → %s', (s, text) => expect(pyReprString(s)).toBe(text));
});

describe('str() of a JSON value', () => {
  afterEach(() => {
    numberReading.fast = false;
    numberReading.exact = false;
  });

  it('is Python str(): True, None-free containers in repr form, ints and floats as Python prints them', () => {
    expect(pyStr('text')).toBe('text');
    expect(pyStr(true)).toBe('True');
    expect(pyStr(false)).toBe('False');
    expect(pyStr(42)).toBe('42');
    expect(pyStr(-0)).toBe('0');
    expect(pyStr(1.5)).toBe('1.5');
    expect(pyStr(1e-7)).toBe('1e-07');
    expect(pyStr(1e20)).toBe('100000000000000000000');
    expect(pyStr([1, 'a', null, true, { k: 'v' }, []])).toBe("[1, 'a', None, True, {'k': 'v'}, []]");
  });

  it('in fast mode asks for the exact parse where JSON.parse lost the lexeme', () => {
    numberReading.fast = true;
    expect(pyStr(1.5)).toBe('1.5');
    expect(pyStr('s')).toBe('s');
    expect(() => pyStr(5)).toThrow(NeedExactJson);
    expect(() => pyStr({ a: 1 })).toThrow(NeedExactJson);
    expect(() => pyStr([])).toThrow(NeedExactJson);
  });

  it('reads the exact parse: 5.0 stays a float, big ints keep their digits, keys keep JSON order', () => {
    const parsed = parseJsonExact(
      '{"f": 5.0, "e": 1e16, "z": -0.0, "i": 5, "big": 12345678901234567891, "o": {"b": 1, "10": 2.50, "2": 3}}',
    ) as Record<string, unknown>;
    expect(parsed.f).toBeInstanceOf(PyNumber);
    expect(pyStr(parsed.f)).toBe('5.0');
    expect(pyStr(parsed.e)).toBe('1e+16');
    expect(pyStr(parsed.z)).toBe('-0.0');
    expect(pyStr(parsed.i)).toBe('5');
    expect(pyStr(parsed.big)).toBe('12345678901234567891');
    expect(pyStr(parsed.o)).toBe("{'b': 1, '10': 2.5, '2': 3}");
    expect((parsed.o as Record<symbol, unknown>)[KEY_ORDER]).toEqual(['b', '10', '2']);
    expect(Object.getPrototypeOf(parsed)).toBeNull();
  });

  it('the exact parser keeps __proto__ as data and decodes escapes', () => {
    const parsed = parseJsonExact(
      '{"__proto__": {"x": 1}, "s": "a\\u00e9\\n\\"\\\\\\/", "l": [true, false, null]}',
    ) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__proto__', 's', 'l']);
    expect(parsed.s).toBe('aé\n"\\/');
    expect(parsed.l).toEqual([true, false, null]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(() => parseJsonExact('{"a": 1} x')).toThrow(SyntaxError);
  });

  it('knows array-index keys, which JS enumerates first', () => {
    expect(['0', '10', '4294967294'].every(isIndexKey)).toBe(true);
    expect(['', '01', '-1', '1.5', 'a', '4294967295'].some(isIndexKey)).toBe(false);
  });
});

describe('int()', () => {
  it.each([
    [' 42 ', 42],
    ['+7', 7],
    ['-7', -7],
    ['4_2', 42],
    ['007', 7],
    ['\u0661\u0662', 12],
    ['\uff18', 8],
    [' \u2003 8 ', 8],
    ['\u00855', 5],
    ['-0', 0],
    [12.7, 12],
    [-12.7, -12],
    [true, 1],
    [false, 0],
    [9007199254740991, 9007199254740991],
  ])('%j → %p', (v, n) => expect(pyInt(v)).toBe(n));

  it.each([
    ['12.5', "invalid literal for int() with base 10: '12.5'"],
    ['0x10', "invalid literal for int() with base 10: '0x10'"],
    ['', "invalid literal for int() with base 10: ''"],
    ['4__2', "invalid literal for int() with base 10: '4__2'"],
    ['_42', "invalid literal for int() with base 10: '_42'"],
    ['\u001c5', "invalid literal for int() with base 10: '\\x1c5'"],
    [[1], "int() argument must be a string, a bytes-like object or a real number, not 'list'"],
    [{ a: 1 }, "int() argument must be a string, a bytes-like object or a real number, not 'dict'"],
    [Infinity, 'cannot convert float infinity to integer'],
    [NaN, 'cannot convert float NaN to integer'],
    [1e20, 'int value 100000000000000000000 is out of the supported range (±2^53)'],
    ['99999999999999999999', 'int value 99999999999999999999 is out of the supported range (±2^53)'],
  ])('%j fails: %s', (v, reason) => expect(failure(() => pyInt(v))).toBe(reason));
});

describe('float()', () => {
  it.each([
    ['1e3', 1000],
    [' 2.5 ', 2.5],
    ['1_0.5', 10.5],
    ['.5', 0.5],
    ['5.', 5],
    ['-0', -0],
    ['\uff11.\uff15', 1.5],
    ['inf', Infinity],
    ['-Infinity', -Infinity],
    [3, 3],
    [true, 1],
  ])('%j → %p', (v, x) => expect(pyFloat(v)).toBe(x));

  it('reads nan', () => expect(pyFloat('NaN')).toBeNaN());

  it.each([
    ['abc', "could not convert string to float: 'abc'"],
    ['1e', "could not convert string to float: '1e'"],
    ['0x10', "could not convert string to float: '0x10'"],
    ['1_.5', "could not convert string to float: '1_.5'"],
    ['', "could not convert string to float: ''"],
    [[1.0], "float() argument must be a string or a real number, not 'list'"],
  ])('%j fails: %s', (v, reason) => expect(failure(() => pyFloat(v))).toBe(reason));
});

describe('str.split(sep, maxsplit)', () => {
  it.each([
    ['compute.host-1.example.org', '.', 1, ['compute', 'host-1.example.org']],
    ['compute.host-1.example.org', '.', -1, ['compute', 'host-1', 'example', 'org']],
    ['a..b', '.', -1, ['a', '', 'b']],
    ['', '.', -1, ['']],
    ['abc', 'abc', -1, ['', '']],
    ['a,b,c', ',', 0, ['a,b,c']],
    ['  alpha   beta  gamma ', null, 1, ['alpha', 'beta  gamma ']],
    ['  alpha   beta  gamma ', null, -1, ['alpha', 'beta', 'gamma']],
    ['   ', null, -1, []],
    ['a\u001cb', null, -1, ['a', 'b']],
    ['a b', null, 0, ['a b']],
    ['  a b', null, 0, ['a b']],
  ])('%j.split(%j, %p)', (s, sep, max, parts) => expect(pySplit(s, sep, max)).toEqual(parts));

  it("keeps the remainder where JS's split(sep, limit) drops it", () => {
    expect('compute.host-1.example.org'.split('.', 2)).toEqual(['compute', 'host-1']);
    expect(pyIndex(pySplit('compute.host-1.example.org', '.', 1), 1)).toBe('host-1.example.org');
  });

  it('indexes like Python: negative from the end, out of range is nothing', () => {
    expect(pyIndex(['a', 'b'], -1)).toBe('b');
    expect(pyIndex(['a', 'b'], -3)).toBeUndefined();
    expect(pyIndex(['a', 'b'], 2)).toBeUndefined();
  });
});

describe('== between notification JSON and YAML values', () => {
  it('compares numbers and booleans numerically, like Python', () => {
    expect(pyEquals(true, 1)).toBe(true);
    expect(pyEquals(1, true)).toBe(true);
    expect(pyEquals(1, 1.0)).toBe(true);
    expect(pyEquals(new PyNumber(5, true, '5.0'), 5)).toBe(true);
    expect(pyEquals(false, 0)).toBe(true);
    expect(pyEquals('1', 1)).toBe(false);
    expect(pyEquals(NaN, NaN)).toBe(false);
  });

  it('compares strings exactly and containers item by item (YAML mappings are Maps)', () => {
    expect(pyEquals('active', 'active')).toBe(true);
    expect(pyEquals('Active', 'active')).toBe(false);
    expect(pyEquals([1, 'a'], [true, 'a'])).toBe(true);
    expect(pyEquals([1], [1, 2])).toBe(false);
    expect(pyEquals({ a: 1 }, new Map([['a', 1]]))).toBe(true);
    expect(pyEquals({ a: 1 }, new Map([['a', 2]]))).toBe(false);
    expect(pyEquals({ a: 1 }, { a: 1 })).toBe(false);
  });
});

describe('fnmatch (Python 3.11 translate)', () => {
  const names = [
    'compute.instance.exists',
    'compute.instance.create.start',
    'compute.instancex',
    'a.end',
    'abc',
    'acc',
    'adc',
    'aec',
    'a]c',
    'abz',
    'a[',
    'aXbYc',
    'dog',
    'x-y',
    'xay',
    'line\nbreak.end',
    '',
  ];
  it.each([
    ['compute.instance.*', ['compute.instance.exists', 'compute.instance.create.start']],
    ['compute.instance.?xists', ['compute.instance.exists']],
    ['*', names],
    ['*.end', ['a.end', 'line\nbreak.end']],
    ['a[!b]c', ['acc', 'adc', 'aec', 'a]c']],
    ['a[b-d]c', ['abc', 'acc', 'adc']],
    ['a[]]c', ['a]c']],
    ['a[!]]c', ['abc', 'acc', 'adc', 'aec']],
    ['a[c-a]z', []],
    ['a[', ['a[']],
    ['a*b*c', ['abc', 'aXbYc']],
    ['[!a-c]*', ['dog', 'x-y', 'xay', 'line\nbreak.end']],
    ['x[-]y', ['x-y']],
    ['x[a-]y', ['x-y', 'xay']],
  ])('%j matches what Python matches', (pattern, matched) => {
    const regex = fnmatchToRegExp(pattern);
    expect(names.filter((n) => regex.test(n))).toEqual(matched);
  });
});
