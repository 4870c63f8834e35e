import { readFileSync } from 'node:fs';
import { newTraits, WinchesterEvent } from '../../../src/events/event';
import { WireFormatError } from '../../../src/events/wire';
import { CompletionRecord } from '../../../src/pipeline/stream-run';
import { StreamRecord } from '../../../src/streams/model';
import { encodeStreamRecord } from '../../../src/topology/records';
import { isAvroRecord, jsonSerializers } from '../../../src/topology/serialization';
import {
  fromAvroCompletion,
  fromAvroEvent,
  fromAvroStreamRecord,
  schemaFile,
  toAvroCompletion,
  toAvroEvent,
  toAvroStreamRecord,
} from '../../../src/topology/serialization-avro';

const T0 = 1_790_000_000_123_457;

function hostileEvent(): WinchesterEvent {
  const traits = newTraits();
  traits.__proto__ = { type: 'text', value: 'data, not a prototype' };
  traits.five = { type: 'float', value: 5 };
  traits.count = { type: 'int', value: 5 };
  traits.when = { type: 'datetime', value: T0 + 1 };
  traits.empty = { type: 'text', value: '' };
  return { message_id: 'm-1', event_type: 'compute.instance.exists', timestamp: T0, traits, hops: 3 };
}

function streamRecord(): StreamRecord {
  const distinguished_by = Object.create(null) as StreamRecord['distinguished_by'];
  distinguished_by.__proto__ = { type: 'text', value: 'i-1' };
  distinguished_by.memory = { type: 'int', value: 512 };
  distinguished_by.when = { type: 'datetime', value: T0 };
  distinguished_by.audit_period = { begin: T0 - 86_400_000_000, end: T0 };
  return {
    stream_id: '3.5f0c',
    partition: 3,
    trigger: 'usage',
    kind: 'expired',
    pipeline: null,
    distinguished_by,
    first: T0,
    last: T0 + 7,
    expire: T0 + 3_600_000_000,
    serial: 4,
    events: [hostileEvent(), { ...hostileEvent(), message_id: 'm-2', hops: undefined }],
  };
}

function completion(error?: string): CompletionRecord {
  const record = streamRecord();
  return {
    stream_id: record.stream_id,
    trigger: record.trigger,
    kind: 'fired',
    pipeline: 'usage_pipeline',
    serial: 4,
    outcome: error ? 'error' : 'completed',
    message_ids: ['m-1', 'm-2'],
    new_event_ids: ['n-1'],
    ...(error ? { error } : {}),
    distinguished_by: record.distinguished_by,
    first: record.first,
    last: record.last,
  };
}

/** Types and microseconds matter: an int 5 is not a float 5, a datetime is not its text. */
const typed = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? `${v}:${Number.isInteger(v)}` : v));

const schema = (name: string) => JSON.parse(readFileSync(schemaFile(name), 'utf8')) as AvroRecordSchema;

interface AvroRecordSchema {
  name: string;
  fields: Array<{ name: string; type: unknown }>;
}

/** The record schema a field holds, through arrays and ["null", …] unions. */
function recordOf(type: unknown): AvroRecordSchema {
  if (Array.isArray(type)) return recordOf(type.find((t) => t !== 'null'));
  const t = type as { type: string; items?: unknown };
  return t.type === 'array' ? recordOf(t.items) : (type as AvroRecordSchema);
}

const fieldNames = (record: AvroRecordSchema) => record.fields.map((f) => f.name).sort();
const field = (record: AvroRecordSchema, name: string) => record.fields.find((f) => f.name === name)!.type;

describe('Avro forms of events, stream records and completion records', () => {
  test('an event keeps its trait types, microseconds, hops and a __proto__ trait', () => {
    const event = hostileEvent();
    const back = fromAvroEvent(toAvroEvent(event));
    expect(typed(back)).toBe(typed(event));
    expect(Object.getPrototypeOf(back.traits)).toBeNull();
    expect(back.traits.__proto__).toEqual({ type: 'text', value: 'data, not a prototype' });
    expect(fromAvroEvent(toAvroEvent({ ...event, hops: undefined })).hops).toBeUndefined();
  });

  test('a stream record keeps its events and its distinguishing values, ranges too', () => {
    const record = streamRecord();
    const back = fromAvroStreamRecord(toAvroStreamRecord(record));
    expect(typed(back)).toBe(typed(record));
    expect(Object.getPrototypeOf(back.distinguished_by)).toBeNull();
    expect(back.distinguished_by.audit_period).toEqual(record.distinguished_by.audit_period);
    expect(back.events[1].hops).toBeUndefined();
  });

  test('a completion record reads back in its JSON field order, with error only on failure', () => {
    for (const record of [completion(), completion('notify: HTTP 503')]) {
      const back = fromAvroCompletion(toAvroCompletion(record));
      expect(JSON.stringify(back)).toBe(JSON.stringify(record));
      expect(typed(back)).toBe(typed(record));
    }
    expect('error' in fromAvroCompletion(toAvroCompletion(completion()))).toBe(false);
  });

  test('fields a newer writer added are ignored; hops a writer left out is 0', () => {
    const avro = { ...toAvroEvent(hostileEvent()), region: 'r1' } as Record<string, unknown>;
    delete avro.hops;
    expect(fromAvroEvent(avro)).toEqual({ ...hostileEvent(), hops: undefined });
    const rows = (avro.traits as Array<Record<string, unknown>>).map((t) => ({ ...t, unit: 'MB' }));
    expect(fromAvroEvent({ ...avro, traits: rows }).traits.count).toEqual({ type: 'int', value: 5 });
  });

  test('a record that does not fit fails with the field named', () => {
    const event = toAvroEvent(hostileEvent());
    const cases: Array<[unknown, string]> = [
      [null, 'event is not a record'],
      [{ ...event, message_id: '' }, 'event has no message_id'],
      [{ ...event, timestamp: 1.5 }, 'event: timestamp is not an integer'],
      [{ ...event, timestamp: 2 ** 60 }, 'event: timestamp is not an integer'],
      [
        { ...event, traits: [{ ...event.traits[1], float: null }] },
        'event m-1: trait five of type float has no value',
      ],
      [
        { ...event, traits: [{ ...event.traits[0], type: 'blob' }] },
        'event m-1: trait: type is not text or int',
      ],
    ];
    for (const [raw, message] of cases) {
      expect(() => fromAvroEvent(raw)).toThrow(WireFormatError);
      expect(() => fromAvroEvent(raw)).toThrow(message);
    }
    const record = toAvroStreamRecord(streamRecord());
    expect(() => fromAvroStreamRecord({ ...record, kind: 'exploded' })).toThrow(
      'stream record: kind is not fired or expired',
    );
    const range = { ...record.distinguished_by[3], end: null };
    expect(() => fromAvroStreamRecord({ ...record, distinguished_by: [range] })).toThrow(
      'stream record 3.5f0c: distinguishing value: end is not an integer',
    );
    expect(() => fromAvroCompletion({ ...toAvroCompletion(completion()), outcome: 'maybe' })).toThrow(
      'completion record: outcome is not completed or error or expire_error',
    );
  });

  test('stream-record.avsc carries event.avsc as it is', () => {
    expect(recordOf(field(schema('stream-record.avsc'), 'events'))).toEqual(schema('event.avsc'));
  });

  test('each schema has exactly the fields the Avro forms write', () => {
    const event = schema('event.avsc');
    expect(fieldNames(event)).toEqual(Object.keys(toAvroEvent(hostileEvent())).sort());
    expect(fieldNames(recordOf(field(event, 'traits')))).toEqual(
      Object.keys(toAvroEvent(hostileEvent()).traits[0]).sort(),
    );
    const stream = schema('stream-record.avsc');
    const avroStream = toAvroStreamRecord(streamRecord());
    expect(fieldNames(stream)).toEqual(Object.keys(avroStream).sort());
    const distinguishing = recordOf(field(stream, 'distinguished_by'));
    expect(fieldNames(distinguishing)).toEqual(Object.keys(avroStream.distinguished_by[0]).sort());
    const completed = schema('completed-stream.avsc');
    const avroCompletion = toAvroCompletion(completion());
    expect(fieldNames(completed)).toEqual(Object.keys(avroCompletion).sort());
    expect(fieldNames(recordOf(field(completed, 'distinguished_by')))).toEqual(fieldNames(distinguishing));
  });
});

describe('JSON serializers', () => {
  const avroBytes = Buffer.from([0, 0, 0, 1, 2, 10, 20]);

  test('tell Avro from JSON by the first byte', () => {
    expect(isAvroRecord(avroBytes)).toBe(true);
    expect(isAvroRecord(Buffer.from('{"message_id":"x"}'))).toBe(false);
    expect(isAvroRecord(Buffer.from([0, 1]))).toBe(false);
  });

  test('refuse an Avro record with what is missing, for every kind', async () => {
    await expect(jsonSerializers.events.decode(avroBytes)).rejects.toThrow(
      'event is Avro (schema id 258) but no schema registry is set (SCHEMA_REGISTRY_URL)',
    );
    await expect(jsonSerializers.streams.decode(avroBytes)).rejects.toThrow(/^stream record is Avro/);
    await expect(jsonSerializers.completions.decode(avroBytes)).rejects.toThrow(/^completion record is Avro/);
  });

  test('read back what they write', async () => {
    const { streams, completions } = jsonSerializers;
    const record = streamRecord();
    const written = Buffer.from(String(await streams.encode(record)));
    expect(written.toString()).toBe(encodeStreamRecord(record));
    expect(typed(await streams.decode(written))).toBe(typed(record));
    const done = completion('notify: HTTP 503');
    expect(await completions.decode(Buffer.from(String(await completions.encode(done))))).toEqual(done);
    await expect(completions.decode(Buffer.from('{"stream_id": '))).rejects.toThrow(
      /^completion record is not JSON: /,
    );
  });
});
