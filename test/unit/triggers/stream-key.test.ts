import { encodeStreamKey } from '../../../src/triggers';
import { parseIso8601 } from '../../../src/time/micros';
import { dt, event, float, trigger } from './helpers';

describe('stream keys', () => {
  const t = trigger({
    name: 'by_value',
    expiration: '$last + 1h',
    fire_pipeline: 'p',
    distinguished_by: ['value'],
    match_criteria: [{}],
    fire_criteria: [{}],
  });
  const keyOf = (value: Parameters<typeof event>[0]['value']) => {
    const e = event({ event_type: 'x', value });
    return t.streamKey(e, t.match(e)!);
  };

  it('keeps int 5, float 5.0 and text "5" apart, as upstream kept their types', () => {
    const keys = [keyOf(5), keyOf(float(5)), keyOf('5'), keyOf(dt('1970-01-01T00:00:00.000005Z'))];
    expect(new Set(keys).size).toBe(4);
    expect(keys).toEqual([
      '["by_value",["value","int",5]]',
      '["by_value",["value","float","5.0"]]',
      '["by_value",["value","text","5"]]',
      '["by_value",["value","datetime","1970-01-01T00:00:00.000005Z"]]',
    ]);
  });

  it('is the same for the same values whatever the order of distinguished_by or of the traits', () => {
    const a = trigger({
      name: 'tr',
      expiration: '$last + 1h',
      fire_pipeline: 'p',
      distinguished_by: ['tenant_id', 'instance_id'],
      match_criteria: [{}],
      fire_criteria: [{}],
    });
    const b = trigger({
      name: 'tr',
      expiration: '$last + 1h',
      fire_pipeline: 'p',
      distinguished_by: ['instance_id', 'tenant_id'],
      match_criteria: [{}],
      fire_criteria: [{}],
    });
    const e1 = event({ event_type: 'x', instance_id: 'i', tenant_id: 't' });
    const e2 = event({ event_type: 'y', tenant_id: 't', instance_id: 'i', other: 1 });
    const keys = [a.streamKey(e1, a.match(e1)!), b.streamKey(e2, b.match(e2)!)];
    expect(keys[0]).toBe(keys[1]);
    expect(keys[0]).toBe('["tr",["instance_id","text","i"],["tenant_id","text","t"]]');
  });

  it('cannot be forged by separators inside names or values', () => {
    const one = encodeStreamKey('a', { b: { type: 'text', value: 'c","d' } });
    const two = encodeStreamKey('a', { b: { type: 'text', value: 'c' }, d: { type: 'text', value: '' } });
    expect(one).not.toBe(two);
    expect(JSON.parse(one)).toEqual(['a', ['b', 'text', 'c","d']]);
  });

  it('encodes ranges by begin and end, to the microsecond', () => {
    const begin = parseIso8601('2014-08-01T00:00:00Z')!;
    expect(encodeStreamKey('t', { timestamp: { begin, end: begin + 86_400_000_000 } })).toBe(
      '["t",["timestamp","range","2014-08-01T00:00:00.000000Z","2014-08-02T00:00:00.000000Z"]]',
    );
    expect(encodeStreamKey('t', { timestamp: { begin, end: begin + 1 } })).not.toBe(
      encodeStreamKey('t', { timestamp: { begin, end: begin + 2 } }),
    );
  });

  it('writes floats canonically: -0.0 is 0.0 (equal in Python), NaN and infinities survive', () => {
    expect(keyOf(float(-0))).toBe(keyOf(float(0)));
    expect(keyOf(float(NaN))).toBe('["by_value",["value","float","nan"]]');
    expect(keyOf(float(-Infinity))).toBe('["by_value",["value","float","-inf"]]');
    expect(keyOf(float(0.1))).toBe('["by_value",["value","float","0.1"]]');
    expect(keyOf(float(1e21))).toBe('["by_value",["value","float","1e+21"]]');
  });

  it('keeps a trait named __proto__ as data', () => {
    const p = trigger({
      name: 'p',
      expiration: '$last + 1h',
      fire_pipeline: 'p',
      distinguished_by: ['__proto__'],
      match_criteria: [{}],
      fire_criteria: [{}],
    });
    const e = event({ event_type: 'x' });
    e.traits['__proto__'] = { type: 'text', value: 'v' };
    const found = p.matchStream(e)!;
    expect(found.key).toBe('["p",["__proto__","text","v"]]');
    expect(Object.keys(found.distinguished)).toEqual(['__proto__']);
  });
});
