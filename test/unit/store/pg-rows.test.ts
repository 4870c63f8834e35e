import { EventRow, batchDocuments, eventRow, traitsFromObject } from '../../../src/postgres/event-rows';
import {
  MAX_STORABLE_MICROS,
  MIN_STORABLE_MICROS,
  fromPgTimestamp,
  pgTimestampBound,
  toPgTimestamp,
} from '../../../src/postgres/timestamps';
import { StoredEvent } from '../../../src/store/model';
import { parseIso8601 } from '../../../src/time/micros';

/** The PostgreSQL driver's pure parts: timestamps as text, rows and their typed JSON, the batch documents. */
describe('timestamps as PostgreSQL text', () => {
  test.each([
    ['2024-02-29T23:59:59.999999Z', '2024-02-29 23:59:59.999999'],
    ['1969-12-31T23:59:59.000001Z', '1969-12-31 23:59:59.000001'],
    ['0001-01-01T00:00:00Z', '0001-01-01 00:00:00.000000'],
    ['9999-12-31T23:59:59Z', '9999-12-31 23:59:59.000000'],
  ])('%s is written as %s and read back exactly', (iso, text) => {
    const t = parseIso8601(iso)!;
    expect(toPgTimestamp(t)).toBe(text);
    expect(fromPgTimestamp(text)).toBe(t);
  });

  test("PostgreSQL's own output, without trailing zeros in the fraction, reads exactly", () => {
    expect(fromPgTimestamp('2024-01-01 00:00:00.5')).toBe(parseIso8601('2024-01-01T00:00:00.500000Z'));
    expect(fromPgTimestamp('2024-01-01 00:00:00')).toBe(parseIso8601('2024-01-01T00:00:00Z'));
    expect(() => fromPgTimestamp('2024-01-01T00:00:00')).toThrow(/unexpected timestamp/);
  });

  test('bounds outside the storable range become ±infinity; a fraction of a microsecond is refused', () => {
    expect(pgTimestampBound(MIN_STORABLE_MICROS - 1e9)).toBe('-infinity');
    expect(pgTimestampBound(MAX_STORABLE_MICROS + 1e9)).toBe('infinity');
    expect(pgTimestampBound(MIN_STORABLE_MICROS)).toBe('0001-01-01 00:00:00.000000');
    expect(pgTimestampBound(MAX_STORABLE_MICROS)).toBe('9999-12-31 23:59:59.000000');
    expect(() => pgTimestampBound(1.5)).toThrow(/not a whole number of microseconds/);
  });
});

describe('event rows', () => {
  const T = parseIso8601('2025-01-01T00:00:00.000001Z')!;
  const event = (traits: StoredEvent['traits'], raw: unknown = null): StoredEvent => ({
    message_id: 'm',
    event_type: 'x',
    generated: T,
    traits,
    raw,
  });

  test('traits go into the row object under type letter and name, every value exact, and come back by name then type', () => {
    const traits: StoredEvent['traits'] = [
      { name: 'z', trait: { type: 'float', value: -0 } },
      { name: 'a', trait: { type: 'datetime', value: T } },
      { name: 'n', trait: { type: 'float', value: NaN } },
      { name: 'i', trait: { type: 'int', value: 2 ** 62 } },
      { name: 's', trait: { type: 'text', value: '"quoted" \\ é' } },
      { name: 'i', trait: { type: 'text', value: 'also i' } },
    ];
    const row = eventRow(event(traits));
    if ('problem' in row) throw new Error(row.problem);
    expect(row.traits).toEqual({
      'f:z': '-0',
      'd:a': '2025-01-01 00:00:00.000001',
      'f:n': 'NaN',
      'i:i': 2 ** 62,
      't:s': '"quoted" \\ é',
      't:i': 'also i',
    });
    const back = traitsFromObject(JSON.parse(JSON.stringify(row.traits)));
    expect(back.map((t) => [t.name, t.trait.type])).toEqual([
      ['a', 'datetime'],
      ['i', 'text'],
      ['i', 'int'],
      ['n', 'float'],
      ['s', 'text'],
      ['z', 'float'],
    ]);
    expect(Object.is(back[5].trait.value, -0)).toBe(true);
    expect(back[3].trait.value).toBeNaN();
    expect(back[0].trait.value).toBe(T);
    expect(row).toMatchObject({ project: null, hasText: true });
  });

  test('the batch documents: short keys per event, and the trait keys of each distinct shape once', () => {
    const rows = [
      event([{ name: 'project_id', trait: { type: 'text', value: 'p1' } }]),
      { ...event([{ name: 'project_id', trait: { type: 'text', value: 'p2' } }]), message_id: 'm2' },
      { ...event([{ name: 'n', trait: { type: 'int', value: 1 } }], { a: 1 }), message_id: 'm3' },
    ].map((e) => eventRow(e) as EventRow);
    const [events, shapes] = batchDocuments(rows).map((text) => JSON.parse(text));
    expect(events).toEqual([
      {
        m: 'm',
        e: 'x',
        g: '2025-01-01 00:00:00.000001',
        t: { 't:project_id': 'p1' },
        r: null,
        p: 'p1',
        h: true,
        s: 1,
      },
      {
        m: 'm2',
        e: 'x',
        g: '2025-01-01 00:00:00.000001',
        t: { 't:project_id': 'p2' },
        r: null,
        p: 'p2',
        h: true,
        s: 1,
      },
      {
        m: 'm3',
        e: 'x',
        g: '2025-01-01 00:00:00.000001',
        t: { 'i:n': 1 },
        r: { a: 1 },
        p: null,
        h: false,
        s: 2,
      },
    ]);
    expect(shapes).toEqual([
      { shape: 1, type: 1, name: 'project_id' },
      { shape: 2, type: 2, name: 'n' },
    ]);
  });

  test.each([
    [
      { name: 'i', trait: { type: 'int', value: 2 ** 63 } },
      /^trait i = 9223372036854776000 is not an integer/,
    ],
    [{ name: 'i', trait: { type: 'int', value: -(2 ** 63) - 4096 } }, /is not an integer a bigint can hold/],
    [{ name: 'f', trait: { type: 'float', value: '1' } }, /^trait f = 1 is not a number$/],
    [{ name: 'd', trait: { type: 'datetime', value: 0.5 } }, /^trait d = 0.5 is not a whole microsecond/],
    [{ name: 's', trait: { type: 'text', value: 'a\u0000' } }, /^trait s contains a NUL character/],
    [{ name: 's', trait: { type: 'text', value: '\uDC00' } }, /^trait s is not valid Unicode/],
    [{ name: 's', trait: { type: 'bool', value: true } }, /^trait s has the unknown type "bool"$/],
  ])('%j is refused', (trait, reason) => {
    const row = eventRow(event([trait as StoredEvent['traits'][0]]));
    expect('problem' in row && row.problem).toMatch(reason);
  });

  test('the lowest bigint is stored; raw that JSON cannot write is refused', () => {
    expect(eventRow(event([{ name: 'i', trait: { type: 'int', value: -(2 ** 63) } }]))).not.toHaveProperty(
      'problem',
    );
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(eventRow(event([], cyclic))).toEqual({ problem: expect.stringMatching(/^raw is not JSON: /) });
    expect(eventRow(event([], undefined))).toMatchObject({ raw: null });
  });
});
