import { parseIso8601 } from '../../../src/time/micros';
import { criteria, dt, event, float, trigger, triggerErrors } from './helpers';

/*
 * Upstream's tests/test_definition.py, case by case, on typed events. Each criterion is built
 * from config as upstream's are (`Criterion.get_from_expression`), since that is the only way
 * a criterion comes to exist here.
 */

const criterion = (traitCriterion: unknown) => criteria({ traits: { foo: traitCriterion } });

describe('Criterion (upstream TestCriterion)', () => {
  it('basic: a constant', () => {
    const c = criterion(3);
    expect(c.matches(event({ event_type: 'x', foo: 3 }))).toBe(true);
    expect(c.matches(event({ event_type: 'x', foo: 5 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', bar: 5 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 'booga' }))).toBe(false);
  });

  it('numeric: = > < on ints, errors on what is not a number', () => {
    let c = criterion({ int: '3' });
    expect(c.matches(event({ event_type: 'x', foo: 3 }))).toBe(true);
    expect(c.matches(event({ event_type: 'x', foo: 5 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', bar: 5 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 'booga' }))).toBe(false);
    c = criterion({ int: '> 3' });
    expect(c.matches(event({ event_type: 'x', foo: 3 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 5 }))).toBe(true);
    c = criterion({ int: '< 3' });
    expect(c.matches(event({ event_type: 'x', foo: 3 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 5 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 1 }))).toBe(true);
    expect(() => criterion({ int: 'zazz' })).toThrow(
      'invalid numeric criterion "zazz": \'zazz\' is not an int',
    );
    expect(() => criterion({ int: '' })).toThrow('invalid numeric criterion: it is empty');
  });

  it('float: = > < on floats', () => {
    let c = criterion({ float: '3.14' });
    expect(c.matches(event({ event_type: 'x', foo: 3.14 }))).toBe(true);
    expect(c.matches(event({ event_type: 'x', foo: 5.2 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', bar: 5.2 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 'booga' }))).toBe(false);
    c = criterion({ float: '> 3.14' });
    expect(c.matches(event({ event_type: 'x', foo: 3.14 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 5.2 }))).toBe(true);
    c = criterion({ float: '< 3.14' });
    expect(c.matches(event({ event_type: 'x', foo: 3.14 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 3.5 }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', foo: 3.02 }))).toBe(true);
    expect(() => criterion({ float: 'zazz' })).toThrow("'zazz' is not a float");
    expect(() => criterion({ float: '' })).toThrow('it is empty');
  });

  it('time: the trait lies in the range computed from the event datetimes', () => {
    const c = criterion({ datetime: 'day' });
    const ts = dt('2014-08-01T07:52:31.000002Z');
    expect(c.matches(event({ event_type: 'x', timestamp: ts, foo: dt('2014-08-01T01:02:00Z') }))).toBe(true);
    expect(c.matches(event({ event_type: 'x', timestamp: ts, foo: dt('2014-08-02T01:02:00Z') }))).toBe(false);
    expect(c.matches(event({ event_type: 'x', timestamp: ts, bar: dt('2014-08-01T01:02:00Z') }))).toBe(false);
    expect(
      c.matches(
        event({
          event_type: 'x',
          timestamp: ts,
          message_id: '1234-5678',
          quux: 4,
          foo: dt('2014-08-01T01:02:00Z'),
        }),
      ),
    ).toBe(true);
  });
});

describe('Criteria (upstream TestCriteria)', () => {
  it('defaults: every event type, number 1, no timestamp, no mapping, no traits', () => {
    const c = criteria({});
    expect(c.eventTypes.included).toEqual(['*']);
    expect(c.eventTypes.excluded).toEqual([]);
    expect(c.number).toBe(1);
    expect(c.timestamp).toBeNull();
    expect(c.mapDistinguishedBy.size).toBe(0);
    expect(c.traits).toHaveLength(0);
  });

  it('event_type configs: a glob, an exclusion alone (includes *), a list', () => {
    let c = criteria({ event_type: 'test.foo.bar' });
    expect([c.eventTypes.included, c.eventTypes.excluded]).toEqual([['test.foo.bar'], []]);
    c = criteria({ event_type: '!test.foo.bar' });
    expect([c.eventTypes.included, c.eventTypes.excluded]).toEqual([['*'], ['test.foo.bar']]);
    c = criteria({ event_type: ['test.foo.bar', '!test.wakka.wakka'] });
    expect([c.eventTypes.included, c.eventTypes.excluded]).toEqual([['test.foo.bar'], ['test.wakka.wakka']]);
  });

  it('match_type: globs and exclusions', () => {
    let c = criteria({ event_type: ['test.foo.bar', '!test.wakka.wakka'] });
    expect(c.eventTypes.matches('test.foo.bar')).toBe(true);
    expect(c.eventTypes.matches('test.wakka.wakka')).toBe(false);
    expect(c.eventTypes.matches('test.foo.baz')).toBe(false);
    c = criteria({ event_type: ['test.foo.*', '!test.wakka.*'] });
    expect(c.eventTypes.matches('test.foo.bar')).toBe(true);
    expect(c.eventTypes.matches('test.foo.baz')).toBe(true);
    expect(c.eventTypes.matches('test.wakka.wakka')).toBe(false);
  });

  it('fnmatch semantics: ? [seq] [!seq], whole string, case-sensitive', () => {
    const c = criteria({ event_type: ['compute.instance.?ed', 'image.[abc]*', 'net.[!x]y', '!image.b*'] });
    expect(c.eventTypes.matches('compute.instance.red')).toBe(true);
    expect(c.eventTypes.matches('compute.instance.reed')).toBe(false);
    expect(c.eventTypes.matches('image.active')).toBe(true);
    expect(c.eventTypes.matches('image.bad')).toBe(false);
    expect(c.eventTypes.matches('image.delete')).toBe(false);
    expect(c.eventTypes.matches('net.ay')).toBe(true);
    expect(c.eventTypes.matches('net.xy')).toBe(false);
    expect(c.eventTypes.matches('Compute.instance.red')).toBe(false);
    expect(criteria({ event_type: 'compute.*' }).eventTypes.matches('xcompute.a')).toBe(false);
  });

  it('match for type', () => {
    const c = criteria({ event_type: ['test.foo.*', '!test.wakka.*'] });
    expect(c.matches(event({ event_type: 'test.foo.zazz' }))).toBe(true);
    expect(c.matches(event({ event_type: 'test.wakka.zazz' }))).toBe(false);
    expect(c.matches(event({ event_type: 'test.boingy' }))).toBe(false);
  });

  it('match for timestamp: the event time in a range over its datetime traits', () => {
    const c = criteria({ timestamp: 'day($launched_at)' });
    const launched = dt('2014-08-01T01:02:03.000004Z');
    expect(
      c.matches(
        event({
          event_type: 'test.thing',
          timestamp: dt('2014-08-01T17:16:15.000014Z'),
          launched_at: launched,
        }),
      ),
    ).toBe(true);
    expect(
      c.matches(
        event({
          event_type: 'test.thing',
          timestamp: dt('2014-08-02T17:16:15.000014Z'),
          launched_at: launched,
        }),
      ),
    ).toBe(false);
    expect(c.test(event({ event_type: 'test.thing', timestamp: dt('2014-08-02T17:16:15.000014Z') }))).toBe(
      'No timestamp trait',
    );
  });

  it('match for traits: all of them must hold', () => {
    const c = criteria({
      traits: {
        some_trait: 'test',
        launched_at: { datetime: 'day' },
        memory_mb: { int: '> 2048' },
        test_weight: { float: '< 4.02' },
        other_trait: { string: 'text here' },
      },
    });
    const base = {
      event_type: 'test.thing',
      timestamp: dt('2014-08-01T17:16:15.000014Z'),
      launched_at: dt('2014-08-01T01:02:03.000004Z'),
      some_trait: 'test',
      other_trait: 'text here',
      memory_mb: 4096,
      test_weight: 3.1415,
    };
    expect(c.matches(event(base))).toBe(true);
    expect(c.matches(event({ ...base, some_trait: 'foo' }))).toBe(false);
    const { some_trait: _dropped, ...withoutSomeTrait } = base;
    expect(c.matches(event(withoutSomeTrait))).toBe(false);
    expect(c.matches(event({ ...base, launched_at: dt('2014-08-02T01:02:03.000004Z') }))).toBe(false);
    expect(c.matches(event({ ...base, memory_mb: 1024 }))).toBe(false);
    expect(c.matches(event({ ...base, test_weight: 6.283 }))).toBe(false);
  });

  it('accepts >= <= != besides upstream = > <', () => {
    const at = (op: string, value: number) =>
      criterion({ int: `${op} 4096` }).matches(event({ event_type: 'x', foo: value }));
    expect([
      at('>=', 4096),
      at('>=', 4095),
      at('<=', 4096),
      at('<=', 4097),
      at('!=', 1),
      at('!=', 4096),
    ]).toEqual([true, false, true, false, true, false]);
  });

  it('compares numbers across int and float traits, never text with numbers (Python ==)', () => {
    expect(criterion({ int: '5' }).matches(event({ event_type: 'x', foo: float(5) }))).toBe(true);
    expect(criterion(5).matches(event({ event_type: 'x', foo: '5' }))).toBe(false);
    expect(criterion('5').matches(event({ event_type: 'x', foo: 5 }))).toBe(false);
    expect(criterion(true).matches(event({ event_type: 'x', foo: 1 }))).toBe(true);
    expect(criterion({ int: '> 3' }).test(event({ event_type: 'x', foo: '9' }))).toBe('foo: not a number');
  });
});

describe('TriggerDefinition (upstream TestTriggerDefinition)', () => {
  const base = {
    name: 'test_trigger',
    expiration: '$last + 1d',
    fire_pipeline: 'test_pipeline',
    fire_criteria: [{ event_type: 'test.thing' }],
    match_criteria: [{ event_type: 'test.*' }],
  };

  it('config errors and defaults', () => {
    expect(triggerErrors({})).toEqual(
      expect.arrayContaining(["missing 'name'", expect.stringContaining("missing 'expiration'")]),
    );
    expect(triggerErrors({ name: 'test_trigger' })).toContainEqual(
      expect.stringContaining("missing 'expiration'"),
    );
    expect(triggerErrors({ name: 'test_trigger', expiration: '$last + 1d' })).toContain(
      "needs a 'fire_pipeline', an 'expire_pipeline', or both",
    );
    expect(
      triggerErrors({ name: 'test_trigger', expiration: '$last + 1d', fire_pipeline: 'test_pipeline' }),
    ).toEqual([
      "missing 'match_criteria' (a list of criteria)",
      "missing 'fire_criteria' (a list of criteria)",
    ]);
    expect(
      triggerErrors({
        name: 'test_trigger',
        expiration: '$last + 1d',
        fire_pipeline: 'test_pipeline',
        fire_criteria: [{ event_type: 'test.thing' }],
      }),
    ).toEqual(["missing 'match_criteria' (a list of criteria)"]);
    const t = trigger(base);
    expect(t.distinguishedBy).toHaveLength(0);
    expect(t.fireCriteria).toHaveLength(1);
    expect(t.matchCriteria).toHaveLength(1);
    expect(t.fireDelaySeconds).toBe(0);
    expect(t.loadCriteria).toHaveLength(0);
    expect(t.debugLevel).toBe(0);
    expect(t.expirePipeline).toBeNull();
  });

  it('match for criteria: the first that holds', () => {
    let t = trigger(base);
    expect(t.match(event({ event_type: 'test.thing' }))).toBe(t.matchCriteria[0]);
    expect(t.match(event({ event_type: 'other.thing' }))).toBeUndefined();
    t = trigger({ ...base, match_criteria: [{ event_type: 'test.*' }, { event_type: 'other.*' }] });
    expect(t.match(event({ event_type: 'test.thing' }))).toBe(t.matchCriteria[0]);
    expect(t.match(event({ event_type: 'other.thing' }))).toBe(t.matchCriteria[1]);
  });

  it('match for distinguished traits: every one must be present', () => {
    const t = trigger({ ...base, distinguished_by: ['instance_id'] });
    expect(t.match(event({ event_type: 'test.thing', instance_id: 'foo' }))).toBeDefined();
    expect(t.match(event({ event_type: 'test.thing' }))).toBeUndefined();
  });

  it('distinguishing traits', () => {
    const t = trigger({ ...base, distinguished_by: ['instance_id'] });
    const e = event({ event_type: 'test.thing', instance_id: 'foo' });
    expect({ ...t.distinguishingValues(e, t.match(e)!) }).toEqual({
      instance_id: { type: 'text', value: 'foo' },
    });
  });

  it('distinguishing traits with a time expression: the day of the timestamp', () => {
    const t = trigger({ ...base, distinguished_by: ['instance_id', { timestamp: 'day' }] });
    const e = event({
      event_type: 'test.thing',
      instance_id: 'foo',
      timestamp: dt('2014-08-01T20:04:23.000444Z'),
    });
    expect({ ...t.distinguishingValues(e, t.match(e)!) }).toEqual({
      instance_id: { type: 'text', value: 'foo' },
      timestamp: { begin: parseIso8601('2014-08-01T00:00:00Z'), end: parseIso8601('2014-08-02T00:00:00Z') },
    });
  });

  it('distinguishing traits with map_distinguished_by', () => {
    const t = trigger({
      ...base,
      distinguished_by: ['instance_id'],
      match_criteria: [{ event_type: 'test.*', map_distinguished_by: { instance_id: 'other_id' } }],
    });
    const e = event({ event_type: 'test.thing', instance_id: 'foo', other_id: 'bar' });
    expect({ ...t.distinguishingValues(e, t.match(e)!) }).toEqual({
      instance_id: { type: 'text', value: 'bar' },
    });
  });

  it('fire timestamp: ready time plus fire_delay seconds', () => {
    const ready = parseIso8601('2014-08-01T20:04:23.000444Z')!;
    expect(trigger(base).fireAt(ready)).toBe(ready);
    expect(trigger({ ...base, fire_delay: 3600 }).fireAt(ready)).toBe(
      parseIso8601('2014-08-01T21:04:23.000444Z'),
    );
  });

  it('should fire: every fire criterion reaches its number', () => {
    const events1 = [
      event({ event_type: 'test.foobar' }),
      event({ event_type: 'test.thing' }),
      event({ event_type: 'test.thing' }),
    ];
    const events2 = [event({ event_type: 'test.foobar' }), event({ event_type: 'test.thing' })];
    const events3 = [event({ event_type: 'test.foobar' }), event({ event_type: 'test.whatsit' })];
    const counters = (t: ReturnType<typeof trigger>, events: typeof events1) => {
      const c = new Array<number>(t.fireCriteria.length).fill(0);
      for (const e of events) for (const i of t.fireCounters(e)) c[i]++;
      return c;
    };
    let t = trigger(base);
    for (const [events, expected] of [
      [events1, true],
      [events2, true],
      [events3, false],
    ] as const) {
      expect(t.shouldFireRecompute(events)).toBe(expected);
      expect(t.shouldFire(counters(t, [...events]))).toBe(expected);
    }
    t = trigger({ ...base, fire_criteria: [{ event_type: 'test.thing', number: 2 }] });
    for (const [events, expected] of [
      [events1, true],
      [events2, false],
      [events3, false],
    ] as const) {
      expect(t.shouldFireRecompute(events)).toBe(expected);
      expect(t.shouldFire(counters(t, [...events]))).toBe(expected);
    }
  });
});

describe('TriggerDefinition beyond upstream', () => {
  const base = {
    name: 'audit',
    expiration: '$first + 1d 2h',
    fire_pipeline: 'p',
    distinguished_by: ['instance_id', { timestamp: 'day' }],
    match_criteria: [
      { event_type: ['compute.instance.*', '!compute.instance.exists'] },
      {
        event_type: 'compute.instance.exists',
        map_distinguished_by: { timestamp: 'audit_period_beginning' },
      },
    ],
    fire_criteria: [{ event_type: 'compute.instance.exists' }],
  };

  it('groups an exists event by its audit period, not its own time', () => {
    const t = trigger(base);
    const e = event({
      event_type: 'compute.instance.exists',
      instance_id: 'i-1',
      timestamp: dt('2014-08-02T00:05:00Z'),
      audit_period_beginning: dt('2014-08-01T00:00:00Z'),
    });
    const found = t.matchStream(e)!;
    expect(found.criterion.index).toBe(1);
    expect(found.key).toBe(
      '["audit",["instance_id","text","i-1"],["timestamp","range","2014-08-01T00:00:00.000000Z","2014-08-02T00:00:00.000000Z"]]',
    );
  });

  it('leaves an event whose mapped trait is missing to the next criterion, else unmatched (upstream crashed)', () => {
    const t = trigger({
      ...base,
      match_criteria: [
        {
          event_type: 'compute.instance.exists',
          map_distinguished_by: { timestamp: 'audit_period_beginning' },
        },
        { event_type: 'compute.*' },
      ],
    });
    const e = event({
      event_type: 'compute.instance.exists',
      instance_id: 'i-1',
      timestamp: dt('2014-08-02T00:05:00Z'),
    });
    expect(t.match(e)).toBe(t.matchCriteria[1]);
    const only = trigger({ ...base, match_criteria: [base.match_criteria[1]] });
    expect(only.match(e)).toBeUndefined();
    expect(only.explainMatch(e).attempts.map((a) => a.reason)).toEqual(["not 'audit_period_beginning'"]);
  });

  it('does not group by a time expression a trait that is not a datetime', () => {
    const t = trigger({
      ...base,
      match_criteria: [{ event_type: '*', map_distinguished_by: { timestamp: 'launched_at' } }],
    });
    const e = event({ event_type: 'compute.instance.update', instance_id: 'i-1', launched_at: 'yesterday' });
    expect(t.explainMatch(e).attempts[0].reason).toBe("'launched_at' is not a datetime");
  });

  it('computes expiration from $first, $last and $timestamp (the clock), a range giving its begin', () => {
    const first = parseIso8601('2014-08-01T10:00:00Z')!;
    const last = parseIso8601('2014-08-01T12:00:00Z')!;
    const now = parseIso8601('2014-08-05T00:00:00Z')!;
    expect(trigger(base).expireAt(first, last, now)).toBe(parseIso8601('2014-08-02T12:00:00Z'));
    expect(trigger({ ...base, expiration: '$timestamp + 1h' }).expireAt(first, last, now)).toBe(
      parseIso8601('2014-08-05T01:00:00Z'),
    );
    expect(trigger({ ...base, expiration: 'day($last) + 1d' }).expireAt(first, last, now)).toBe(
      parseIso8601('2014-08-02T00:00:00Z'),
    );
  });

  it('expires at $last when the expiration cannot be computed, and says why', () => {
    const t = trigger({ ...base, expiration: '$last @ 31d', debug_level: 1 });
    const last = parseIso8601('2014-02-10T00:00:00Z')!;
    expect(t.expireAt(last, last, last)).toBe(last);
    expect(t.lastExpirationError).toContain('day 31 is out of range');
    expect(t.debug.snapshot().counters).toEqual({ 'Expiration errors': 1 });
  });

  it('records match and fire checks by debug level, reasons only at level 2', () => {
    const events = [
      event({ event_type: 'compute.instance.update', instance_id: 'i' }),
      event({ event_type: 'image.x' }),
    ];
    const two = trigger({ ...base, debug_level: 2 });
    const one = trigger({ ...base, debug_level: 1 });
    const zero = trigger(base);
    for (const t of [two, one, zero]) {
      for (const e of events) t.match(e);
      t.shouldFire([0]);
    }
    expect(two.debug.snapshot().groups).toEqual({
      Match: { checks: 4, passed: 1, reasons: { 'Wrong event type': 2, 'No matching criteria': 1 } },
      Fire: { checks: 1, passed: 0, reasons: { 'Not enough matching criteria': 1 } },
    });
    expect(one.debug.snapshot().groups.Match).toEqual({ checks: 4, passed: 1, reasons: {} });
    expect(zero.debug.snapshot().groups).toEqual({});
    two.debug.reset();
    expect(two.debug.snapshot().groups).toEqual({});
  });

  it('treats a missing variable in a criterion as no match and an impossible date likewise', () => {
    const c = criteria({ traits: { foo: { datetime: '$launched_at @ 31d to $launched_at' } } });
    const e = event({
      event_type: 'x',
      foo: dt('2014-02-01T00:00:00Z'),
      launched_at: dt('2014-02-03T00:00:00Z'),
    });
    expect(c.test(e)).toContain('day 31 is out of range');
    expect(c.test(event({ event_type: 'x', foo: dt('2014-02-01T00:00:00Z') }))).toBe(
      'Time: no referenced trait',
    );
  });

  it('matches on envelope fields like upstream event dicts: event_type, message_id, timestamp', () => {
    const c = criteria({ traits: { event_type: 'compute.instance.create.end', message_id: 'abc' } });
    expect(c.matches(event({ event_type: 'compute.instance.create.end', message_id: 'abc' }))).toBe(true);
    expect(c.matches(event({ event_type: 'compute.instance.create.end', message_id: 'abd' }))).toBe(false);
  });
});
