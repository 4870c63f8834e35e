import { pythonJson } from '../../../src/api/panko/python-json';
import { literalEval } from '../../../src/api/panko/python-literal';

/** The Python behaviours the /v2 API reproduces; expected values are Python 3.8's. */

describe("pythonJson: Python's json.dumps defaults", () => {
  test('separators, nesting, escapes (ensure_ascii), float repr', () => {
    expect(
      pythonJson({ a: [1, 2.5, null, true], é: 'xé\u{1F600}\u007f\u0001\n\t"\\/', m: 1e-7, b: 1e21 }),
    ).toBe(
      '{"a": [1, 2.5, null, true], "\\u00e9": "x\\u00e9\\ud83d\\ude00\\u007f\\u0001\\n\\t\\"\\\\/", ' +
        '"m": 1e-07, "b": 1000000000000000000000}',
    );
    expect([pythonJson([]), pythonJson({}), pythonJson('\u2028'), pythonJson(false)]).toEqual([
      '[]',
      '{}',
      '"\\u2028"',
      'false',
    ]);
  });

  test('undefined members are left out, as JSON.stringify does', () => {
    expect(pythonJson({ a: undefined, b: 1 })).toBe('{"b": 1}');
  });
});

describe('literalEval: what ast.literal_eval makes of a text', () => {
  // [text, Python's outcome: 'str' with its value, 'other' with its type, or 'none' (no literal)].
  // Every row has three items: jest reads a longer parameter list as a `done` callback.
  const VECTORS: [string, 'str' | 'other' | 'none', string][] = [
    ['5', 'other', 'int'],
    [' 5', 'none', ''],
    ['5 ', 'other', 'int'],
    ['(5)', 'other', 'int'],
    ["'a' 'b'", 'str', 'ab'],
    ["u'x'", 'str', 'x'],
    ["r'\\n'", 'str', '\\n'],
    ["b'x'", 'other', 'bytes'],
    ["f'x'", 'none', ''],
    ['...', 'other', 'ellipsis'],
    ['1+2j', 'other', 'complex'],
    ['-5', 'other', 'int'],
    ['--5', 'none', ''],
    ['[1,', 'none', ''],
    ['{}', 'other', 'dict'],
    ['set()', 'none', ''],
    ['0x10', 'other', 'int'],
    ['1_0', 'other', 'int'],
    ["'a'#c", 'str', 'a'],
    ['True', 'other', 'bool'],
    ['None', 'other', 'NoneType'],
    ['1 + 2', 'none', ''],
    ['(1,)', 'other', 'tuple'],
    ['()', 'other', 'tuple'],
    ["'''x'''", 'str', 'x'],
    ['not 1', 'none', ''],
    ['-(1)', 'other', 'int'],
    ['1.', 'other', 'float'],
    ['.5', 'other', 'float'],
    ['07', 'none', ''],
    ['00', 'other', 'int'],
    ['07.5', 'other', 'float'],
    ["'\\x41'", 'str', 'A'],
    ["'\\101'", 'str', 'A'],
    ["'\\q'", 'str', '\\q'],
    ["'\\x4'", 'none', ''],
    ["'\\U0010ffff'", 'str', '\u{10ffff}'],
    ["'\\U00110000'", 'none', ''],
    ["{'a': [1, (2,)]}", 'other', 'dict'],
    ['{1, 2}', 'other', 'set'],
    ["'a' + 'b'", 'none', ''],
    ['hello', 'none', ''],
    ['hello world', 'none', ''],
    ["'it''s'", 'str', 'its'],
    ["b'\\u00e9'", 'other', 'bytes'],
    ["b'é'", 'none', ''],
    ['1,', 'other', 'tuple'],
    ['1,,', 'none', ''],
    ['{1: 2, 3}', 'none', ''],
    ['{**a}', 'none', ''],
    ['1x', 'none', ''],
    ['1__0', 'none', ''],
    ['-True', 'none', ''],
    ['1+2j+3j', 'none', ''],
    ['(1)+2j', 'other', 'complex'],
    ["'a' b'b'", 'none', ''],
    ['[1,\n 2]', 'other', 'list'],
    ['1,\n2', 'none', ''],
    ["'a'\n'b'", 'none', ''],
    ["('a'\n 'b')", 'str', 'ab'],
    ["'''a\nb'''", 'str', 'a\nb'],
    ["'a\\\nb'", 'str', 'ab'],
    [' \n5', 'other', 'int'],
    ['', 'none', ''],
    ['# c', 'none', ''],
  ];

  test.each(VECTORS)('%j', (text, kind, value) => {
    const outcome = literalEval(text);
    if (kind === 'none') expect(outcome).toBeUndefined();
    else if (kind === 'str') expect(outcome).toEqual({ kind: 'str', value });
    else expect(outcome).toEqual({ kind: 'other', type: value });
  });
});
