/** distill(): events, drops and typed errors; never an exception for the caller. */
import {
  DistillDropped,
  DistillError,
  DistillResult,
  isDistillError,
  isDropped,
  isEvent,
  parseEventDefinitions,
} from '../../../src/distiller';
import { toCanonicalJson, WinchesterEvent } from '../../../src/events/event';
import { DistillFunction } from '../../../src/topology/distiller-role';
import { parseIso8601Python } from '../../../src/time/micros';

const DEFINITIONS = `
- event_type: compute.instance.*
  traits: &instance
    instance_id:
      fields: payload.instance_id
    memory_mb:
      type: int
      fields: payload.memory_mb
    ratio:
      type: float
      fields: payload.ratio
    launched_at:
      type: datetime
      fields: payload.launched_at
    label:
      fields: payload.label
    host:
      fields: publisher_id
      plugin:
        name: split
        parameters:
          segment: 1
          max_split: 1
    first_ip:
      fields: payload.fixed_ips[0].address
- event_type: compute.instance.exists
  traits:
    <<: *instance
    audit_period_ending:
      type: datetime
      fields: payload.audit_period_ending
- event_type: quiet.*
  traits:
    nothing:
      fields: payload.nothing
`;

const NOW = parseIso8601Python('2030-01-01T00:00:00Z') as number;
const distiller = () => parseEventDefinitions(DEFINITIONS, 'defs.yaml', { now: () => NOW });

const notification = (extra: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) => ({
  event_type: 'compute.instance.update',
  message_id: 'msg-1',
  timestamp: '2026-11-01 00:10:58.869000',
  publisher_id: 'compute.host-1.example.org',
  _context_request_id: 'req-1',
  payload: { instance_id: 'inst-1', tenant_id: 'tenant-1', memory_mb: 512, ...payload },
  ...extra,
});

const asEvent = (result: DistillResult): WinchesterEvent => {
  if (!isEvent(result)) throw new Error(`expected an event, got ${JSON.stringify(result)}`);
  return result;
};
const asError = (result: DistillResult): DistillError => {
  if (!isDistillError(result)) throw new Error(`expected an error, got ${JSON.stringify(result)}`);
  return result;
};
const values = (event: WinchesterEvent) =>
  Object.fromEntries(Object.entries(event.traits).map(([k, t]) => [k, t.value]));

describe('events', () => {
  it('flattens a notification into typed traits with the default traits', () => {
    const event = asEvent(
      distiller().distillText(
        JSON.stringify(notification({}, { launched_at: '2026-01-01T21:56:18.543000', ratio: '0.5' })),
      ),
    );
    expect(toCanonicalJson(event)).toBe(
      '{"message_id":"msg-1","event_type":"compute.instance.update","timestamp":"2026-11-01T00:10:58.869000Z",' +
        '"host":"host-1.example.org","instance_id":"inst-1","launched_at":"2026-01-01T21:56:18.543000Z",' +
        '"memory_mb":512,"ratio":0.5,"request_id":"req-1","service":"compute.host-1.example.org","tenant_id":"tenant-1"}',
    );
    expect(event.traits.memory_mb).toEqual({ type: 'int', value: 512 });
    expect(Object.getPrototypeOf(event.traits)).toBeNull();
  });

  it('uses the last matching definition in the file', () => {
    const d = distiller();
    const exists = asEvent(
      d.distill(
        notification({ event_type: 'compute.instance.exists' }, { audit_period_ending: '2026-11-02' }),
      ),
    );
    expect(values(exists).audit_period_ending).toBe(parseIso8601Python('2026-11-02'));
    expect(d.definitionFor('compute.instance.exists')?.index).toBe(1);
    expect(d.definitionFor('compute.instance.update')?.index).toBe(0);
  });

  it('stores no trait for null, and none for "" unless the trait is text', () => {
    const event = asEvent(
      distiller().distill(notification({}, { memory_mb: '', launched_at: '', label: '', ratio: null })),
    );
    expect(values(event)).not.toHaveProperty('memory_mb');
    expect(values(event)).not.toHaveProperty('launched_at');
    expect(values(event)).not.toHaveProperty('ratio');
    expect(values(event).label).toBe('');
  });

  it('converts as Python does: int(" 42") is 42, int(12.7) is 12, str(True) is "True"', () => {
    const event = asEvent(distiller().distill(notification({}, { memory_mb: ' 42', label: true, ratio: 3 })));
    expect(values(event)).toMatchObject({ memory_mb: 42, label: 'True', ratio: 3 });
    expect(values(asEvent(distiller().distill(notification({}, { memory_mb: 12.7 }))))).toMatchObject({
      memory_mb: 12,
    });
  });

  it('reads a float from the text exactly: 5.0 as text is "5.0", 1e16 is "1e+16"', () => {
    const d = distiller();
    const text =
      '{"event_type": "compute.instance.update", "message_id": "m", "timestamp": "2026-11-01 00:00:00", ' +
      '"payload": {"label": 5.0, "memory_mb": 5.0, "ratio": 1e16}}';
    expect(values(asEvent(d.distillText(text)))).toEqual({ label: '5.0', memory_mb: 5, ratio: 1e16 });
    expect(values(asEvent(d.distillText(text.replace('5.0,', '1e16,'))))).toMatchObject({ label: '1e+16' });
    // From an already parsed object the lexeme is gone: an integral number is an int.
    expect(values(asEvent(d.distill(JSON.parse(text))))).toMatchObject({ label: '5' });
  });

  it('shows a dict distilled as text as Python does, keys in JSON order', () => {
    const text = JSON.stringify(notification()).replace(
      '"payload":{',
      '"payload":{"label":{"b":1,"10":[true,null],"a":"it\'s"},',
    );
    expect(values(asEvent(distiller().distillText(text))).label).toBe(
      "{'b': 1, '10': [True, None], 'a': \"it's\"}",
    );
  });

  it('keeps microseconds and converts zones to UTC', () => {
    const event = asEvent(
      distiller().distill(
        notification(
          { timestamp: '2026-11-01T01:00:00.000001+01:00' },
          { launched_at: '2026-11-01 10:00:00.123456789' },
        ),
      ),
    );
    expect(event.timestamp).toBe(parseIso8601Python('2026-11-01T00:00:00.000001Z'));
    expect(values(event).launched_at).toBe(parseIso8601Python('2026-11-01T10:00:00.123456Z'));
  });

  it('takes the time from timestamp, else _context_timestamp, else now', () => {
    const d = distiller();
    const base = notification();
    delete (base as Record<string, unknown>).timestamp;
    expect(asEvent(d.distill({ ...base, _context_timestamp: '2026-11-01 12:00:00' })).timestamp).toBe(
      parseIso8601Python('2026-11-01 12:00:00'),
    );
    expect(asEvent(d.distill(base)).timestamp).toBe(NOW);
    expect(
      asEvent(
        d.distill({ ...base, timestamp: '2026-11-01 10:00:00', _context_timestamp: '2026-11-01 12:00:00' }),
      ).timestamp,
    ).toBe(parseIso8601Python('2026-11-01 10:00:00'));
  });

  it('counts a trait named like an envelope field but keeps the envelope value', () => {
    const d = parseEventDefinitions(
      '- event_type: x\n  traits:\n    message_id: {fields: payload.id}\n',
      'defs.yaml',
    );
    const event = asEvent(
      d.distill({ event_type: 'x', message_id: 'real', timestamp: '2026-11-01', payload: { id: 'fake' } }),
    );
    expect(event.message_id).toBe('real');
    expect(Object.keys(event.traits)).toEqual([]);
  });
});

describe('drops', () => {
  it('drops a notification no definition matches, and one with no trait at all, and counts them', () => {
    const d = distiller();
    const unmatched = d.distill(notification({ event_type: 'image.upload' }));
    expect(unmatched).toEqual(new DistillDropped('unmatched', 'msg-1', 'image.upload'));
    const empty = d.distill({
      event_type: 'quiet.thing',
      message_id: 'q',
      timestamp: '2026-11-01',
      payload: {},
    });
    expect(isDropped(empty) && empty.reason).toBe('no-traits');
    expect(d.stats.dropped).toEqual({ unmatched: 1, 'no-traits': 1 });
    expect(d.stats.distilled).toBe(0);
  });
});

describe('errors: typed, with message id, event type, trait and reason; never thrown', () => {
  const cases: [string, string | unknown, string, Partial<DistillError>][] = [
    ['invalid JSON', '{"event_type": ', 'invalid-json', {}],
    [
      'an array',
      '[1, 2]',
      'invalid-notification',
      { detail: 'a notification must be a JSON object, found a list' },
    ],
    ['null', 'null', 'invalid-notification', {}],
    [
      'no event_type',
      { message_id: 'm' },
      'invalid-notification',
      { messageId: 'm', detail: 'event_type must be a non-empty string, found nothing (missing)' },
    ],
    ['a numeric event_type', { event_type: 5, message_id: 'm' }, 'invalid-notification', { messageId: 'm' }],
    [
      'no message_id',
      { event_type: 'compute.instance.update' },
      'invalid-notification',
      {
        eventType: 'compute.instance.update',
        detail: 'message_id must be a non-empty string, found nothing (missing)',
      },
    ],
    [
      'an empty message_id',
      notification({ message_id: '' }),
      'invalid-notification',
      { detail: 'message_id must be a non-empty string, found an empty string' },
    ],
    [
      'an empty timestamp',
      notification({ timestamp: '' }),
      'invalid-timestamp',
      { messageId: 'msg-1', detail: 'timestamp is present but empty' },
    ],
    [
      'a null timestamp',
      notification({ timestamp: null }),
      'invalid-timestamp',
      { detail: 'timestamp is present but empty' },
    ],
    [
      'a bad timestamp',
      notification({ timestamp: 'soon' }),
      'invalid-timestamp',
      { detail: `timestamp "soon": Unable to parse date string 'soon'` },
    ],
    [
      'a numeric timestamp',
      notification({ timestamp: 1700000000 }),
      'invalid-timestamp',
      { detail: 'timestamp must be a string, found an int' },
    ],
    [
      'an int that is not one',
      notification({}, { memory_mb: '12.5' }),
      'conversion',
      {
        trait: 'memory_mb',
        messageId: 'msg-1',
        eventType: 'compute.instance.update',
        detail: "trait memory_mb (int): invalid literal for int() with base 10: '12.5'",
      },
    ],
    [
      'a bad datetime',
      notification({}, { launched_at: '2026-13-01' }),
      'conversion',
      { trait: 'launched_at', detail: 'trait launched_at (datetime): month must be in 1..12' },
    ],
    [
      'a non-finite float',
      notification({}, { ratio: 'inf' }),
      'conversion',
      { trait: 'ratio', detail: 'trait ratio (float): float value inf is not finite' },
    ],
    [
      'an index into null',
      notification({}, { fixed_ips: null }),
      'path',
      {
        trait: 'first_ip',
        detail: "trait first_ip: fields payload.fixed_ips[0].address: object of type 'NoneType' has no len()",
      },
    ],
  ];

  it.each(cases)('%s', (_, input, category, fields) => {
    const d = distiller();
    const result = typeof input === 'string' ? d.distillText(input) : d.distill(input);
    const error = asError(result);
    expect(error.category).toBe(category);
    expect(error).toMatchObject(fields);
    expect(error.reason).toBe(`${category}: ${error.detail}`);
    expect(d.stats.errors[category as DistillError['category']]).toBe(1);
  });

  it('reports a failing `now` clock as an internal error instead of throwing', () => {
    const d = parseEventDefinitions(DEFINITIONS, 'defs.yaml', {
      now: () => {
        throw new Error('clock broke');
      },
    });
    const base = notification();
    delete (base as Record<string, unknown>).timestamp;
    expect(asError(d.distill(base))).toMatchObject({ category: 'internal', detail: 'clock broke' });
  });
});

describe('untrusted keys', () => {
  it('keeps __proto__ and constructor as plain data and pollutes nothing', () => {
    const d = parseEventDefinitions(
      `
- event_type: x
  traits:
    __proto__: {fields: payload.__proto__.v}
    constructor: {fields: payload.constructor}
    toString: {fields: payload.toString}
`,
      'defs.yaml',
    );
    const text =
      '{"event_type": "x", "message_id": "m", "timestamp": "2026-11-01", "__proto__": {"polluted": 1}, ' +
      '"payload": {"__proto__": {"v": "p", "polluted": 1}, "constructor": {"prototype": {"polluted": 1}}}}';
    const event = asEvent(d.distillText(text));
    expect(Object.keys(event.traits).sort()).toEqual(['__proto__', 'constructor']);
    expect(event.traits['__proto__']).toEqual({ type: 'text', value: 'p' });
    expect(event.traits[String('constructor')].value).toBe("{'prototype': {'polluted': 1}}");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(asEvent(d.distill(JSON.parse(text))).traits['__proto__'].value).toBe('p');
  });
});

describe("OpenStack's Kafka driver format", () => {
  const plain = notification({ _context_request_id: undefined });
  const withNestedContext = { ...plain, _context: { request_id: 'req-nested', tenant: 'ctx-tenant' } };
  delete (withNestedContext as Record<string, unknown>)._context_request_id;

  it('unwraps the oslo v2 envelope and flattens _context to _context_<key>', () => {
    const d = distiller();
    const envelope = JSON.stringify({
      'oslo.version': '2.0',
      'oslo.message': JSON.stringify(withNestedContext),
    });
    const event = asEvent(d.distillText(envelope));
    expect(values(event)).toMatchObject({ request_id: 'req-nested', instance_id: 'inst-1' });
    expect(toCanonicalJson(asEvent(d.distill(JSON.parse(envelope))))).toBe(toCanonicalJson(event));
  });

  it('flattens _context without an envelope too, keeps explicit _context_ keys, and leaves the input alone', () => {
    const d = distiller();
    const input = { ...withNestedContext, _context_request_id: 'req-explicit' };
    const event = asEvent(d.distill(input));
    expect(values(event).request_id).toBe('req-explicit');
    expect(input).not.toHaveProperty('_context_tenant');
  });

  it('reads the exact form of the inner message when it needs to', () => {
    const inner =
      '{"event_type": "compute.instance.update", "message_id": "m", "timestamp": "2026-11-01", "payload": {"label": 2.0}}';
    const event = asEvent(
      distiller().distillText(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': inner })),
    );
    expect(values(event).label).toBe('2.0');
  });

  it.each([
    [
      { 'oslo.version': '2.0', 'oslo.message': 42 },
      'invalid-notification',
      'oslo.message must be a JSON string, found an int',
    ],
    [
      { 'oslo.version': '1.0', 'oslo.message': '{}' },
      'invalid-notification',
      'unsupported oslo.version "1.0" (expected "2.0")',
    ],
    [{ 'oslo.version': '2.0', 'oslo.message': '{not json' }, 'invalid-json', undefined],
  ])('rejects a bad envelope %j', (envelope, category, detail) => {
    const error = asError(distiller().distillText(JSON.stringify(envelope)));
    expect(error.category).toBe(category);
    if (detail) expect(error.detail).toBe(detail);
  });
});

describe('the distiller role adapter', () => {
  it('tags outcomes the way the role consumes them', () => {
    const d = distiller();
    const distill: DistillFunction = (text) => d.outcome(text);
    const event = distill(JSON.stringify(notification()));
    expect(event.kind).toBe('event');
    expect(event.kind === 'event' && event.event.message_id).toBe('msg-1');
    expect(distill(JSON.stringify(notification({ event_type: 'nope' })))).toMatchObject({
      kind: 'dropped',
      reason: 'unmatched',
    });
    expect(distill('{')).toMatchObject({ kind: 'error', reason: expect.stringMatching(/^invalid-json: /) });
  });
});
