/** jsonpath-rw 1.4's dialect: grammar, match order, full paths and the cases where it raises. */
import {
  compilePaths,
  evaluateJsonPath,
  findUnsupported,
  formatJsonPath,
  JsonPathSyntaxError,
  parseJsonPath,
  PathFailure,
  PathNode,
} from '../../../src/distiller/jsonpath';

const compile = (...paths: string[]) => compilePaths(paths.map(parseJsonPath));
const first = (path: string, body: unknown) => compile(path).first(body);
const matches = (path: string, body: unknown) => compile(path).matches(body);
/** The first non-null value by the general evaluator, even for paths that compile to plain key reads. */
const generic = (path: string, value: unknown) =>
  evaluateJsonPath(parseJsonPath(path), value).find(([, v]) => v !== null && v !== undefined)?.[1];

const body = {
  publisher_id: 'compute.host-1',
  payload: {
    a: { b: 'AB', c: 'AC' },
    'dotted.key': 'DK',
    "it's": 'quoted',
    image_meta: { 'org.openstack__1__architecture': 'x64' },
    wild: { n: null, x: 'X', y: 'Y' },
    nested: { x: [{ deep: null }, { deep: 'D0' }], more: { deep: 'D1' } },
    list: [10, 20, 30, 40],
    word: 'héllo',
    objects: [{ name: 'n0', flag: false }, { name: 'n1' }, { name: 'n2', flag: null }],
    none: null,
    value: 'V',
    where: 'W',
  },
};

describe('parsing', () => {
  it('builds the tree of jsonpath-rw, where `|` binds tighter than `.` and `..` looser', () => {
    expect(formatJsonPath(parseJsonPath('a.b|c.d'))).toBe('a.(b)|(c).d');
    expect(formatJsonPath(parseJsonPath('(a.b)|(c.d)'))).toBe('(a.b)|(c.d)');
    expect(formatJsonPath(parseJsonPath('a.b..c.d'))).toBe('a.b..c.d');
    expect(parseJsonPath('a..b.c')).toEqual({
      kind: 'descendants',
      left: { kind: 'fields', names: ['a'] },
      right: {
        kind: 'child',
        left: { kind: 'fields', names: ['b'] },
        right: { kind: 'fields', names: ['c'] },
      },
    });
    expect(parseJsonPath('a where b.c')).toEqual({
      kind: 'child',
      left: {
        kind: 'where',
        left: { kind: 'fields', names: ['a'] },
        right: { kind: 'fields', names: ['b'] },
      },
      right: { kind: 'fields', names: ['c'] },
    });
  });

  it('applies a bracket to the step before it', () => {
    const tree: PathNode = parseJsonPath('a.b[0]');
    expect(tree).toEqual({
      kind: 'child',
      left: { kind: 'fields', names: ['a'] },
      right: { kind: 'child', left: { kind: 'fields', names: ['b'] }, right: { kind: 'index', index: 0 } },
    });
  });

  it('reads every bracket form', () => {
    expect(parseJsonPath('[0]')).toEqual({ kind: 'index', index: 0 });
    expect(parseJsonPath('[-1]')).toEqual({ kind: 'index', index: -1 });
    expect(parseJsonPath('[*]')).toEqual({ kind: 'slice', start: null, end: null });
    expect(parseJsonPath('[1:3]')).toEqual({ kind: 'slice', start: 1, end: 3 });
    expect(parseJsonPath('[:2]')).toEqual({ kind: 'slice', start: null, end: 2 });
    expect(parseJsonPath('[1:]')).toEqual({ kind: 'slice', start: 1, end: null });
    expect(parseJsonPath('[a,b]')).toEqual({ kind: 'fields', names: ['a', 'b'] });
    expect(parseJsonPath("['a.b']")).toEqual({ kind: 'fields', names: ['a.b'] });
  });

  it('reads quoted names with escapes, ids with - and @, and named operators', () => {
    expect(parseJsonPath(`'it\\'s'`)).toEqual({ kind: 'fields', names: ["it's"] });
    expect(parseJsonPath('"a.b"')).toEqual({ kind: 'fields', names: ['a.b'] });
    expect(parseJsonPath('host-name@x')).toEqual({ kind: 'fields', names: ['host-name@x'] });
    expect(parseJsonPath('$')).toEqual({ kind: 'root' });
    expect(parseJsonPath('`this`')).toEqual({ kind: 'this' });
    expect(parseJsonPath('`parent`')).toEqual({ kind: 'parent' });
    expect(parseJsonPath(' a . b ')).toEqual(parseJsonPath('a.b'));
  });

  it.each([
    ['', 'unexpected end of the path', 0],
    ['payload.', 'unexpected end of the path', 8],
    ['payload.[', 'unexpected end of the path', 9],
    ['payload.where', 'unexpected "where"', 8],
    ['payload.0', 'unexpected "0"', 8],
    ['payload..', 'unexpected end of the path', 9],
    ["payload.'open", 'unexpected end of the path in a quoted name', 8],
    ['payload.`grandparent`', 'unknown named operator `grandparent`', 8],
    ['payload.é', 'unexpected character "é"', 8],
    ['a b', 'unexpected "b"', 2],
    ['a[1:2:3]', 'unexpected ":"', 5],
    ['-', 'unexpected character "-"', 0],
  ])('%j does not parse: %s', (path, message, offset) => {
    expect(() => parseJsonPath(path)).toThrow(JsonPathSyntaxError);
    try {
      parseJsonPath(path);
    } catch (error) {
      expect((error as JsonPathSyntaxError).message).toBe(message);
      expect((error as JsonPathSyntaxError).offset).toBe(offset);
    }
  });

  it('flags `&`, which jsonpath-rw parses but cannot evaluate', () => {
    expect(findUnsupported(parseJsonPath('a&b'))).toMatch(/intersection/);
    expect(findUnsupported(parseJsonPath('a.b|c'))).toBeUndefined();
  });
});

describe('matching', () => {
  it.each([
    ['payload.a.b', 'AB'],
    ['payload[a][b]', 'AB'],
    ["payload['dotted.key']", 'DK'],
    ['payload."dotted.key"', 'DK'],
    ["payload.'it\\'s'", 'quoted'],
    ["payload.image_meta.'org.openstack__1__architecture'", 'x64'],
    ['$.payload.a.b', 'AB'],
    ['`this`.payload.a.b', 'AB'],
    ['payload.a.b.`parent`.c', 'AC'],
    ['payload.wild.*', 'X'],
    ['payload..deep', 'D0'],
    ['payload.list[1]', 20],
    ['payload.list[-1]', 40],
    ['payload.list[9]', undefined],
    ['payload.word[1]', 'é'],
    ['payload.objects[*].name', 'n0'],
    ['payload.list[1:3]', 20],
    ['payload.list[-2:]', 30],
    ['payload.word[*]', 'héllo'],
    ['payload.a[*].b', 'AB'],
    ['payload.none|a.b', 'AB'],
    ['payload.none,value', 'V'],
    ['payload[none,value]', 'V'],
    ["payload.'where'", 'W'],
    ['(payload.objects[*] where flag).name', 'n0'],
    ['payload.objects..name', 'n0'],
    ['payload.list.length', undefined],
    ['payload.word.length', undefined],
    ['payload.constructor', undefined],
    ['payload.toString', undefined],
    ['payload.__proto__', undefined],
    ['payload.none', undefined],
    ['payload.none.x', undefined],
    ['payload.value.x', undefined],
    ['nothing.here', undefined],
  ])('%s → %p', (path, value) => {
    expect(first(path, body)).toEqual(value);
    // The general evaluator agrees with the compiled chains.
    expect(generic(path, body)).toEqual(value);
  });

  it('yields every non-null match in jsonpath-rw order, with its full path as plugins see it', () => {
    expect(matches('payload.wild.*', body)).toEqual([
      ['payload.wild.x', 'X'],
      ['payload.wild.y', 'Y'],
    ]);
    expect(matches('payload.list[*]', body)).toEqual([
      ['payload.list.[0]', 10],
      ['payload.list.[1]', 20],
      ['payload.list.[2]', 30],
      ['payload.list.[3]', 40],
    ]);
    expect(matches('payload.list[-1]', body)).toEqual([['payload.list.[-1]', 40]]);
    expect(matches('payload..deep', body)).toEqual([
      ['payload.nested.x.[1].deep', 'D0'],
      ['payload.nested.more.deep', 'D1'],
    ]);
    expect(matches('$.payload.a.b', body)).toEqual([['payload.a.b', 'AB']]);
    expect(matches('payload.a.b.`parent`.c', body)).toEqual([['payload.a.c', 'AC']]);
    expect(compile('payload.none', 'payload.value', 'publisher_id').matches(body)).toEqual([
      ['payload.value', 'V'],
      ['publisher_id', 'compute.host-1'],
    ]);
    expect(matches('payload.word[*]', body)).toEqual([['payload.word.[0]', 'héllo']]);
  });

  it('keeps matches whose value is null for `where`, as jsonpath-rw does', () => {
    const names = matches('payload.objects[*] where flag', body).map(([, v]) => (v as { name: string }).name);
    expect(names).toEqual(['n0', 'n2']);
  });

  it('tries a list of paths in order and takes the first non-null value', () => {
    const paths = compile('payload.none', 'payload.missing', 'payload.value', 'publisher_id');
    expect(paths.first(body)).toBe('V');
    expect(paths.chains).toEqual([
      ['payload', 'none'],
      ['payload', 'missing'],
      ['payload', 'value'],
      ['publisher_id'],
    ]);
    expect(compile('payload.none').first(body)).toBeUndefined();
  });

  it('reads own properties only: keys such as __proto__ and constructor are plain data', () => {
    const notification = JSON.parse(
      '{"payload": {"__proto__": "P", "constructor": "C", "hasOwnProperty": 1}}',
    );
    expect(first('payload.__proto__', notification)).toBe('P');
    expect(first('payload.constructor', notification)).toBe('C');
    expect(first('payload.hasOwnProperty', notification)).toBe(1);
    expect(first('payload.valueOf', notification)).toBeUndefined();
    expect(matches('payload.*', notification).map(([p]) => p)).toEqual([
      'payload.__proto__',
      'payload.constructor',
      'payload.hasOwnProperty',
    ]);
  });

  it.each([
    ['payload.none[0]', { payload: { none: null } }, "object of type 'NoneType' has no len()"],
    ['payload.n[0]', { payload: { n: 5 } }, "object of type 'int' has no len()"],
    ['payload.d[0]', { payload: { d: { a: 1 } } }, 'KeyError: 0 (an index applied to a dict)'],
    ['payload.l[-1]', { payload: { l: [] } }, 'IndexError: index -1 out of range'],
    ['payload.f[*]', { payload: { f: 1.5 } }, "object of type 'float' has no len()"],
    ['payload.none[*]', { payload: { none: null } }, "object of type 'NoneType' has no len()"],
    ['`parent`', {}, '`parent` of the root'],
  ])('%s raises as jsonpath-rw does', (path, notification, reason) => {
    const compiled = compile(path);
    expect(compiled.canFail).toBe(true);
    expect(() => compiled.first(notification)).toThrow(PathFailure);
    try {
      compiled.first(notification);
    } catch (error) {
      expect((error as PathFailure).reason).toBe(reason);
    }
  });

  it('does not raise for an index past the end of a list or dict, or on a short string', () => {
    expect(first('payload.d[3]', { payload: { d: { a: 1 } } })).toBeUndefined();
    expect(first('payload.l[0]', { payload: { l: [] } })).toBeUndefined();
    expect(first('payload.s[5]', { payload: { s: 'abc' } })).toBeUndefined();
  });

  it('evaluates a failing later path even when an earlier one matched (upstream evaluates the union in full)', () => {
    const paths = compile('payload.value', 'payload.none[0]');
    expect(() => paths.first({ payload: { value: 'V', none: null } })).toThrow(PathFailure);
  });
});

describe('compiled key chains agree with the general evaluator', () => {
  const KEYS = ['a', 'b', '0', '10', '__proto__', 'constructor', 'length', 'toString'];
  // A small deterministic generator (LCG): the same cases on every run.
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const value = (depth: number): unknown => {
    const r = random();
    if (depth > 3 || r < 0.3) return pick([null, '', 0, 'x', 1.5, true]);
    if (r < 0.45) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
    const out: Record<string, unknown> = {};
    for (const k of KEYS) {
      if (random() < 0.4)
        Object.defineProperty(out, k, { value: value(depth + 1), enumerable: true, writable: true });
    }
    return out;
  };

  it('on 2,000 random documents and paths', () => {
    for (let i = 0; i < 2000; i++) {
      const document = value(0);
      const paths = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
        Array.from({ length: 1 + Math.floor(random() * 3) }, () => `'${pick(KEYS)}'`).join('.'),
      );
      const compiled = compile(...paths);
      expect(compiled.chains).toBeDefined();
      const union = paths.map((p) => `(${p})`).join('|');
      expect(compiled.first(document)).toEqual(generic(union, document));
      expect(compiled.matches(document)).toEqual(
        evaluateJsonPath(parseJsonPath(union), document).filter(([, v]) => v !== null && v !== undefined),
      );
    }
  });
});
