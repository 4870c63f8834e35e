/** Datetime traits (Python's iso8601, to the microsecond) and the canonical event JSON. */
import { newTraits, toCanonicalJson, Trait, WinchesterEvent } from '../../../src/events/event';
import {
  civilToMicros,
  daysFromCivil,
  formatMicros,
  parseIso8601,
  parseIso8601Python,
  PYTHON_MAX_MICROS,
  PYTHON_MIN_MICROS,
} from '../../../src/time/micros';

const iso = (text: string) => {
  const t = parseIso8601Python(text);
  return typeof t === 'number' ? formatMicros(t) : `error: ${t}`;
};

describe("parseIso8601Python: Python's iso8601.parse_date, then UTC", () => {
  it.each([
    ['2026-11-01 00:10:58.869000', '2026-11-01T00:10:58.869000Z'],
    ['2026-11-01T10:20:30Z', '2026-11-01T10:20:30.000000Z'],
    ['2026-11-01 10:20:30.123456789', '2026-11-01T10:20:30.123456Z'],
    ['2026-11-01T10:20:30.5', '2026-11-01T10:20:30.500000Z'],
    ['2026-11-01T10:20:30,5', '2026-11-01T10:20:30.500000Z'],
    ['2026-11-01T10:20:30+02:00', '2026-11-01T08:20:30.000000Z'],
    ['2026-11-01T10:20:30-0530', '2026-11-01T15:50:30.000000Z'],
    ['2026-11-01T10:20:30+01', '2026-11-01T09:20:30.000000Z'],
    ['2026-11-01T00:00:00.000001+01:00', '2026-10-31T23:00:00.000001Z'],
    ['20261101T102030', '2026-11-01T10:20:30.000000Z'],
    ['20261101', '2026-11-01T00:00:00.000000Z'],
    ['2026-11-01', '2026-11-01T00:00:00.000000Z'],
    ['2026-11', '2026-11-01T00:00:00.000000Z'],
    ['2026-1-5', '2026-01-05T00:00:00.000000Z'],
    ['2026', '2026-01-01T00:00:00.000000Z'],
    ['2026-11-01T10', '2026-11-01T10:00:00.000000Z'],
    ['2026-11-01T1020', '2026-11-01T10:20:00.000000Z'],
    ['2026-11-01T10:5', '2026-11-01T10:00:05.000000Z'],
    ['2026-11-01T10:20:30.5\n', '2026-11-01T10:20:30.500000Z'],
    ['2024-02-29 23:59:59.999999', '2024-02-29T23:59:59.999999Z'],
    ['9999-12-31T23:59:59', '9999-12-31T23:59:59.000000Z'],
    ['1200-06-01T12:00:00+05:00', '1200-06-01T07:00:00.000000Z'],
    ['0001-01-01T00:00:00', '0001-01-01T00:00:00.000000Z'],
  ])('%j → %s', (text, expected) => expect(iso(text)).toBe(expected));

  it.each([
    ['yesterday', "error: Unable to parse date string 'yesterday'"],
    [' 2026-11-01', "error: Unable to parse date string ' 2026-11-01'"],
    ['2026-11-01t10:00', "error: Unable to parse date string '2026-11-01t10:00'"],
    ['2026-11-01T10:20:30z', "error: Unable to parse date string '2026-11-01T10:20:30z'"],
    ['202611', "error: Unable to parse date string '202611'"],
    ['2026-11-01T10:20:30.', "error: Unable to parse date string '2026-11-01T10:20:30.'"],
    ['', "error: Unable to parse date string ''"],
    ['2026-13-01', 'error: month must be in 1..12'],
    ['2026-02-29', 'error: day is out of range for month'],
    ['2026-11-01 25:00', 'error: hour must be in 0..23'],
    ['2026-11-01 10:60', 'error: minute must be in 0..59'],
    ['2026-11-01 10:00:60', 'error: second must be in 0..59'],
    ['0000-01-01', 'error: year 0 is out of range'],
    ['0001-01-01T00:00:00+01:00', 'error: date value out of range'],
    [
      '9999-12-31T23:59:59.999999',
      'error: microseconds of a datetime before 1685 or after 2255 cannot be held exactly',
    ],
    [
      '1200-01-01T00:00:00.5',
      'error: microseconds of a datetime before 1685 or after 2255 cannot be held exactly',
    ],
    [
      '2026-11-01T10:20:30+24:00',
      'error: offset must be a timedelta strictly between -timedelta(hours=24) and timedelta(hours=24)',
    ],
  ])('%j fails: %s', (text, expected) => expect(iso(text)).toBe(expected));

  it('leaves the lenient parseIso8601 as it was', () => {
    expect(parseIso8601(' 2026-11-01T10:20:30z ')).toBe(parseIso8601Python('2026-11-01T10:20:30Z'));
    expect(parseIso8601('nonsense')).toBeUndefined();
  });

  it('computes civil times by arithmetic, as Date does, over the whole Python range', () => {
    for (let year = 100; year <= 9999; year += 37) {
      for (const [month, day] of [
        [1, 1],
        [2, 28],
        [3, 1],
        [12, 31],
      ]) {
        expect(daysFromCivil(year, month, day) * 86_400_000).toBe(Date.UTC(year, month - 1, day));
      }
    }
    expect(civilToMicros(1970, 1, 1, 0, 0, 0, 1)).toBe(1);
    expect(formatMicros(PYTHON_MIN_MICROS)).toBe('0001-01-01T00:00:00.000000Z');
    expect(formatMicros(PYTHON_MAX_MICROS)).toBe('9999-12-31T23:59:59.000000Z');
    expect(formatMicros(parseIso8601Python('2255-06-01T00:00:00.000001') as number)).toBe(
      '2255-06-01T00:00:00.000001Z',
    );
  });
});

describe('canonical event JSON', () => {
  const event = (traits: Record<string, Trait>): WinchesterEvent => {
    const t = newTraits();
    Object.assign(t, traits);
    return {
      message_id: 'm-1',
      event_type: 'compute.instance.exists',
      timestamp: parseIso8601Python('2026-11-01T00:05:00.000001Z') as number,
      traits: t,
    };
  };

  it('is one flat object: envelope first, then traits in name order, typed', () => {
    const json = toCanonicalJson(
      event({
        vcpus: { type: 'int', value: 2 },
        audit_period_ending: { type: 'datetime', value: parseIso8601Python('2026-11-02') as number },
        instance_type: { type: 'text', value: '512MB "Standard"\n' },
        ratio: { type: 'float', value: 0.25 },
      }),
    );
    expect(json).toBe(
      '{"message_id":"m-1","event_type":"compute.instance.exists","timestamp":"2026-11-01T00:05:00.000001Z",' +
        '"audit_period_ending":"2026-11-02T00:00:00.000000Z","instance_type":"512MB \\"Standard\\"\\n",' +
        '"ratio":0.25,"vcpus":2}',
    );
    expect(JSON.parse(json)).toMatchObject({ vcpus: 2, ratio: 0.25 });
  });

  it('writes floats so they read back as floats', () => {
    const float = (value: number) =>
      JSON.parse(toCanonicalJson(event({ f: { type: 'float', value } })).slice(0, -1) + '}');
    const text = (value: number) =>
      /"f":(.*)}$/.exec(toCanonicalJson(event({ f: { type: 'float', value } })))![1];
    expect(text(5)).toBe('5.0');
    expect(text(-0)).toBe('-0.0');
    expect(text(1e16)).toBe('10000000000000000.0');
    expect(text(123456789012345680000)).toBe('123456789012345680000.0');
    expect(text(1e21)).toBe('1e+21');
    expect(text(1.5e-7)).toBe('1.5e-7');
    expect(text(0.1)).toBe('0.1');
    expect(float(5).f).toBe(5);
  });

  it('leaves out traits named like the envelope: the envelope wins', () => {
    const json = toCanonicalJson(
      event({
        message_id: { type: 'text', value: 'other' },
        timestamp: { type: 'datetime', value: 0 },
        x: { type: 'text', value: 'y' },
      }),
    );
    expect(JSON.parse(json)).toEqual({
      message_id: 'm-1',
      event_type: 'compute.instance.exists',
      timestamp: '2026-11-01T00:05:00.000001Z',
      x: 'y',
    });
  });
});
