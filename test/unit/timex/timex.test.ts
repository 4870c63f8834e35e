import {
  parseTimex,
  TimexEvaluationError,
  TimexParseError,
  TimexRange,
  TimexVariableError,
} from '../../../src/timex';
import { formatMicros, Micros, parseIso8601 } from '../../../src/time/micros';

const t = (iso: string): Micros => parseIso8601(iso)!;
const show = (value: { isRange: boolean; begin: Micros; end: Micros; timestamp: Micros }) =>
  value.isRange ? [formatMicros(value.begin), formatMicros(value.end)] : formatMicros(value.timestamp);

function parseError(source: string): TimexParseError {
  try {
    parseTimex(source);
  } catch (error) {
    if (error instanceof TimexParseError) return error;
    throw error;
  }
  throw new Error(`"${source}" parsed`);
}

describe('timex parsing', () => {
  it('reports the expression and the offending position', () => {
    const error = parseError('$last + 1 hour');
    expect(error.expression).toBe('$last + 1 hour');
    expect(error.position).toBe(10);
    expect(error.message).toBe(
      `expected a unit (y mo d h m s us, or yr hr min sec) after 1, but found 'hour' at column 11 of "$last + 1 hour"`,
    );
    expect(error.pointer()).toBe('$last + 1 hour\n          ^');
  });

  it.each([
    ['$last +', 7, 'expected a duration such as 1h'],
    ['day(', 4, 'expected $variable'],
    ['day($a', 3, "this '(' is never closed"],
    ['(', 1, 'expected $variable'],
    ['$', 1, "expected a variable name after '$'"],
    ['', 0, 'the time expression is empty'],
    ['$a * 2', 3, 'unexpected character "*"'],
    ['$a to $b to $c', 9, "a range cannot be the start of another 'to'"],
    ['day to $b', 4, "'to' needs a timestamp on its left"],
    ['$a to day', 6, "'to' needs a timestamp on its right"],
    ['day(day)', 4, 'day() takes a timestamp, not a range'],
    ['$a + 6', 5, 'a bare number needs a unit'],
    ['$a $b', 3, "expected an operator ('+', '-', '@' or 'to')"],
  ])('%j fails at %i: %s', (source, position, reason) => {
    const error = parseError(source);
    expect(error.position).toBe(position);
    expect(error.reason).toContain(reason);
    expect(error.kind).toBe('parse');
  });

  it('rejects unknown function names when parsing, not when evaluating', () => {
    const error = parseError('dya + 6h');
    expect(error.position).toBe(0);
    expect(error.message).toContain("unknown function 'dya'");
  });

  it('knows the variables an expression reads, the default $timestamp included', () => {
    expect([...parseTimex('$first to $last + 1h').variables].sort()).toEqual(['first', 'last']);
    expect([...parseTimex('day @ 6h').variables]).toEqual(['timestamp']);
    expect([...parseTimex('month($launched_at)').variables]).toEqual(['launched_at']);
  });

  it('knows from the syntax whether the result is a range', () => {
    expect(parseTimex('$a + 1h').isRange).toBe(false);
    expect(parseTimex('($a to $b) @ 6h').isRange).toBe(true);
    expect(parseTimex('(day + 1h) - 30m').isRange).toBe(true);
  });

  it('takes unit words as variable names after $ (upstream could not read $d or $min)', () => {
    expect(show(parseTimex('$d + 1h').evaluate({ d: t('2014-08-01T00:00:00Z') }))).toBe(
      '2014-08-01T01:00:00.000000Z',
    );
  });
});

describe('timex evaluation', () => {
  const at = t('2014-08-01T02:10:23.000550Z');

  it('keeps microseconds', () => {
    expect(show(parseTimex('$t + 1us').evaluate({ t: at }))).toBe('2014-08-01T02:10:23.000551Z');
    expect(show(parseTimex('$t @ 999999us').evaluate({ t: at }))).toBe('2014-08-01T02:10:23.999999Z');
  });

  it('accepts variables as a record, a Map or a lookup function', () => {
    const expected = '2014-08-01T03:10:23.000550Z';
    expect(show(parseTimex('$t + 1h').evaluate({ t: at }))).toBe(expected);
    expect(show(parseTimex('$t + 1h').evaluate(new Map([['t', at]])))).toBe(expected);
    expect(show(parseTimex('$t + 1h').evaluate((name) => (name === 't' ? at : undefined)))).toBe(expected);
  });

  it('names a missing variable with its own error', () => {
    expect(() => parseTimex('$first + 1h').evaluate({ last: at })).toThrow(TimexVariableError);
    expect(() => parseTimex('day').evaluate({})).toThrow(new TimexVariableError('timestamp'));
    // a record's inherited properties are not variables
    expect(() => parseTimex('$constructor').evaluate({})).toThrow(TimexVariableError);
  });

  it('clamps a day the target month lacks to its last day', () => {
    const cases: Array<[string, string, string]> = [
      ['$t + 1mo', '2015-01-31T10:00:00Z', '2015-02-28T10:00:00.000000Z'],
      ['$t + 1mo', '2016-01-31T10:00:00Z', '2016-02-29T10:00:00.000000Z'],
      ['$t + 1y', '2016-02-29T00:00:00Z', '2017-02-28T00:00:00.000000Z'],
      ['$t - 1mo', '2015-03-31T00:00:00Z', '2015-02-28T00:00:00.000000Z'],
      ['$t + 2mo', '2015-12-31T00:00:00Z', '2016-02-29T00:00:00.000000Z'],
    ];
    for (const [source, from, expected] of cases) {
      expect(show(parseTimex(source).evaluate({ t: t(from) }))).toBe(expected);
    }
  });

  it('adds days and smaller first, then months and years', () => {
    // Jan 31 + 1 day = Feb 1, then + 1 month = Mar 1 (not Feb 28 + 1 day)
    expect(show(parseTimex('$t + 1mo 1d').evaluate({ t: t('2015-01-31T00:00:00Z') }))).toBe(
      '2015-03-01T00:00:00.000000Z',
    );
  });

  it('makes an impossible replace an evaluation error', () => {
    for (const source of ['$t @ 25h', '$t @ 60m', '$t @ 13mo', '$t @ 0d', '$t @ 30d 2mo']) {
      expect(() => parseTimex(source).evaluate({ t: at })).toThrow(TimexEvaluationError);
    }
    expect(() => parseTimex('$t @ 25h').evaluate({ t: at })).toThrow('hour must be in 0..23');
  });

  it('refuses dates it cannot hold to the microsecond', () => {
    expect(() => parseTimex('$t + 300y').evaluate({ t: at })).toThrow(TimexEvaluationError);
    expect(() => parseTimex('$t - 400y').evaluate({ t: at })).toThrow('date out of range');
  });

  it('wraps pinned ranges as upstream decides, and shifts them unpinned when it does not', () => {
    const ts = t('2014-08-15T13:45:30Z');
    const day25 = parseTimex('day + 25h').evaluate({ timestamp: ts }) as TimexRange;
    expect(show(day25)).toEqual(['2014-08-15T01:00:00.000000Z', '2014-08-16T01:00:00.000000Z']);
    expect(day25.pin?.unit).toBe('day');
    const day1d = parseTimex('day + 1d').evaluate({ timestamp: ts }) as TimexRange;
    expect(show(day1d)).toEqual(['2014-08-16T00:00:00.000000Z', '2014-08-17T00:00:00.000000Z']);
    expect(day1d.pin).toBeUndefined();
    // no longer pinned: a further shift no longer wraps back around $timestamp
    expect(show(parseTimex('day + 1d + 1h').evaluate({ timestamp: ts }))).toEqual([
      '2014-08-16T01:00:00.000000Z',
      '2014-08-17T01:00:00.000000Z',
    ]);
  });

  it('refuses to wrap a pinned range a replace emptied (upstream looped forever)', () => {
    expect(() => parseTimex('hour @ 0h').evaluate({ timestamp: t('2014-08-15T13:45:30Z') })).toThrow(
      'cannot wrap the empty hour range',
    );
  });

  it('chooses the unit of a bare number from the range length', () => {
    const ts = t('2014-08-15T13:45:30Z');
    expect(show(parseTimex('day @ 2').evaluate({ timestamp: ts }))).toEqual([
      '2014-08-15T02:00:00.000000Z',
      '2014-08-16T02:00:00.000000Z',
    ]);
    expect(show(parseTimex('($t to $t + 30s) + 5').evaluate({ t: ts }))).toEqual([
      '2014-08-15T13:45:30.000005Z',
      '2014-08-15T13:46:00.000005Z',
    ]);
    expect(show(parseTimex('year + 2').evaluate({ timestamp: ts }))).toEqual([
      '2014-03-01T00:00:00.000000Z',
      '2015-03-01T00:00:00.000000Z',
    ]);
  });

  it('gives ranges begin inclusive and end exclusive, timestamps only themselves', () => {
    const day = parseTimex('day').evaluate({ timestamp: at });
    expect(day.contains(t('2014-08-01T00:00:00Z'))).toBe(true);
    expect(day.contains(t('2014-08-01T23:59:59.999999Z'))).toBe(true);
    expect(day.contains(t('2014-08-02T00:00:00Z'))).toBe(false);
    expect(day.timestamp).toBe(day.begin);
    const stamp = parseTimex('$t').evaluate({ t: at });
    expect(stamp.contains(at)).toBe(true);
    expect(stamp.contains(at + 1)).toBe(false);
    expect([stamp.begin, stamp.end]).toEqual([at, at]);
  });
});
