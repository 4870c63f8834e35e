/** Config YAML read as PyYAML's safe_load reads it (YAML 1.1), with source positions. */
import { loadYaml11, YamlSyntaxError, YamlTimestamp } from '../../../src/config/yaml11';
import { formatMicros } from '../../../src/time/micros';

const scalar = (text: string): unknown =>
  (loadYaml11(`v: ${text}\n`, 't.yaml').value as Map<string, unknown>).get('v');

describe('implicit types as PyYAML resolves them', () => {
  it.each([
    ['yes', true],
    ['Yes', true],
    ['ON', true],
    ['true', true],
    ['no', false],
    ['Off', false],
    ['FALSE', false],
    ['y', 'y'],
    ['n', 'n'],
    ['yEs', 'yEs'],
    ['~', null],
    ['null', null],
    ['', null],
    ['42', 42],
    ['-42', -42],
    ['1_000', 1000],
    ['010', 8],
    ['0x1F', 31],
    ['0b101', 5],
    ['1:30', 90],
    ['09', '09'],
    ['1.5', 1.5],
    ['1.0e+3', 1000],
    ['1e3', '1e3'],
    ['.5', 0.5],
    ['-.inf', -Infinity],
    ['1:30.5', 90.5],
    ["'yes'", 'yes'],
    ['"010"', '010'],
    ['!!str 42', '42'],
  ])('%s → %p', (text, value) => expect(scalar(text)).toEqual(value));

  it('reads .nan', () => expect(scalar('.nan')).toBeNaN());

  it('keeps timestamps to the microsecond, naive ones read as UTC', () => {
    const t = scalar('2014-01-01 10:00:00.123456789') as YamlTimestamp;
    expect(t).toBeInstanceOf(YamlTimestamp);
    expect(formatMicros(t.micros)).toBe('2014-01-01T10:00:00.123456Z');
    expect(t.naive).toBe(true);
    const zoned = scalar('2014-01-01T10:00:00+02:00') as YamlTimestamp;
    expect(formatMicros(zoned.micros)).toBe('2014-01-01T08:00:00.000000Z');
    expect(zoned.naive).toBe(false);
    expect((scalar('2014-01-01') as YamlTimestamp).dateOnly).toBe(true);
    expect(scalar('2014-1-1')).toBe('2014-1-1');
  });
});

describe('mappings, merge keys and duplicates', () => {
  const doc = loadYaml11(
    [
      '- base: &base',
      '    a: 1',
      '    b: 2',
      '  other: &other',
      '    b: 20',
      '    c: 30',
      '  merged:',
      '    <<: [*base, *other]',
      '    a: 100',
      '  dup: 1',
      '  dup: 2',
      '  yes: key',
      '',
    ].join('\n'),
    'm.yaml',
  );
  const top = (doc.value as unknown[])[0] as Map<unknown, unknown>;

  it('merges like PyYAML: explicit keys win, then the earlier merged mapping', () => {
    const merged = top.get('merged') as Map<string, unknown>;
    expect(Object.fromEntries(merged)).toEqual({ a: 100, b: 2, c: 30 });
  });

  it('keeps the last of duplicate keys and reports them', () => {
    expect(top.get('dup')).toBe(2);
    expect(doc.duplicateKeys).toEqual([{ key: 'dup', position: { line: 11, column: 3 } }]);
  });

  it('keeps typed keys: `yes` is the boolean true', () => {
    expect(top.get(true)).toBe('key');
  });

  it('locates keys, items and merged keys (at their anchor)', () => {
    expect(doc.locate([0, 'merged'])).toEqual({ line: 7, column: 3 });
    expect(doc.locate([0, 'merged', 'a'])).toEqual({ line: 9, column: 5 });
    expect(doc.locate([0, 'merged', 'c'])).toEqual({ line: 6, column: 5 });
    expect(doc.locate([0, 'base', 'nope'])).toEqual({ line: 1, column: 3 });
    expect(doc.locate([5])).toEqual({ line: 1, column: 1 });
  });
});

describe('errors', () => {
  it('names the file, line and column of a syntax error', () => {
    try {
      loadYaml11('a:\n  - 1\n  b: [2\n', 'bad.yaml');
      throw new Error('expected a syntax error');
    } catch (error) {
      expect(error).toBeInstanceOf(YamlSyntaxError);
      const e = error as YamlSyntaxError;
      expect([e.file, e.line]).toEqual(['bad.yaml', 3]);
      expect(e.message).toMatch(/^bad\.yaml:3:\d+: /);
    }
  });

  it('refuses several documents, as safe_load does', () => {
    expect(() => loadYaml11('a: 1\n---\nb: 2\n', 'two.yaml')).toThrow(/single document/);
  });

  it('reads an empty file as null', () => {
    expect(loadYaml11('', 'empty.yaml').value).toBeNull();
    expect(loadYaml11('# only a comment\n', 'empty.yaml').value).toBeNull();
  });
});
