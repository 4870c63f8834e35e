import { join } from 'node:path';
import { isEvent, loadEventDefinitions } from '../../src/distiller';
import { toCanonicalJson, WinchesterEvent, newTraits } from '../../src/events/event';
import { defaultTopologySettings } from '../../src/config/topology-settings';
import { CompletionRecord } from '../../src/pipeline/stream-run';
import { StreamRecord } from '../../src/streams/model';
import {
  avroEventSerializer,
  jsonEventSerializer,
  jsonSerializers,
  topologyDecoders,
  topologySerializers,
} from '../../src/topology/serialization';
import { testNamespace } from '../support/namespace';
import { sampleCorpus } from '../support/corpus';
import { schemaRegistryUrl } from '../support/stack';

const repo = join(__dirname, '..', '..');
const ns = testNamespace();
const url = schemaRegistryUrl();

function corpusEvents(): WinchesterEvent[] {
  const distiller = loadEventDefinitions(join(repo, 'topologies', 'example', 'event_definitions.yaml'));
  return sampleCorpus()
    .map((l) => distiller.distillText(l))
    .filter(isEvent);
}

// Types and microseconds matter: an int 5 is not a float 5.0, a datetime is not its text.
const hostile = (() => {
  const traits = newTraits();
  traits.__proto__ = { type: 'text', value: 'data, not a prototype' };
  traits['constructor' as string] = { type: 'int', value: 5 };
  traits.five = { type: 'float', value: 5 };
  traits.when = { type: 'datetime', value: 1_700_000_000_123_457 };
  return { message_id: 'hostile', event_type: 'x', timestamp: 1_700_000_000_000_001, traits, hops: 2 };
})();
const exact = (e: WinchesterEvent) =>
  `${toCanonicalJson(e)}|${JSON.stringify(Object.entries(e.traits).map(([k, t]) => [k, t.type]))}|${e.hops ?? 0}`;
/** Every number with whether it is whole: a float 5 read back as an int would show. */
const typed = (value: unknown) =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? `${v}:${Number.isInteger(v)}` : v));

function streamRecord(events: WinchesterEvent[]): StreamRecord {
  const distinguished_by = Object.create(null) as StreamRecord['distinguished_by'];
  distinguished_by.__proto__ = { type: 'text', value: 'i-1' };
  distinguished_by.load = { type: 'float', value: 2 };
  distinguished_by.audit_period = { begin: 1_700_000_000_000_000, end: 1_700_086_400_000_000 };
  return {
    stream_id: '0.8d5e',
    partition: 0,
    trigger: 'usage',
    kind: 'fired',
    pipeline: 'usage_pipeline',
    distinguished_by,
    first: events[0].timestamp,
    last: events[events.length - 1].timestamp,
    expire: 1_700_090_000_000_001,
    serial: 3,
    events,
  };
}

function completionOf(record: StreamRecord): CompletionRecord {
  return {
    stream_id: record.stream_id,
    trigger: record.trigger,
    kind: record.kind,
    pipeline: record.pipeline,
    serial: record.serial,
    outcome: 'error',
    message_ids: record.events.map((e) => e.message_id),
    new_event_ids: [],
    error: 'notify: HTTP 503',
    distinguished_by: record.distinguished_by,
    first: record.first,
    last: record.last,
  };
}

describe('event serialization round-trips every corpus event exactly', () => {
  const events = corpusEvents();
  const all = [...events, hostile];

  test('JSON', async () => {
    expect(events.length).toBeGreaterThan(7000);
    for (const event of all) {
      const back = await jsonEventSerializer.decode(Buffer.from(await jsonEventSerializer.encode(event)));
      expect(exact(back)).toBe(exact(event));
    }
  });

  test('Avro through the schema registry', async () => {
    const avro = await avroEventSerializer(url, ns.topic('events'));
    for (const event of all) {
      const encoded = await avro.encode(event);
      expect((encoded as Buffer)[0]).toBe(0);
      const back = await avro.decode(encoded as Buffer);
      expect(exact(back)).toBe(exact(event));
    }
    expect(
      Object.getPrototypeOf((await avro.decode((await avro.encode(hostile)) as Buffer)).traits),
    ).toBeNull();
  });
});

describe('stream and completion records through the schema registry', () => {
  const settings = defaultTopologySettings({ namespace: ns.prefix });
  const events = corpusEvents().slice(0, 200);

  test('round-trip exactly in Avro, smaller than their JSON', async () => {
    const serializers = await topologySerializers(url, settings.topics);
    const record = streamRecord([...events, hostile]);
    const encoded = (await serializers.streams.encode(record)) as Buffer;
    expect(encoded[0]).toBe(0);
    expect(encoded.length).toBeLessThan((await jsonSerializers.streams.encode(record)).length);
    const back = await serializers.streams.decode(encoded);
    expect(typed(back)).toBe(typed(record));
    expect(back.events.map(exact)).toEqual(record.events.map(exact));
    expect(Object.getPrototypeOf(back.distinguished_by)).toBeNull();
    const completion = completionOf(record);
    const written = (await serializers.completions.encode(completion)) as Buffer;
    expect(written[0]).toBe(0);
    expect(JSON.stringify(await serializers.completions.decode(written))).toBe(JSON.stringify(completion));
    // A tombstone an older worker wrote lacks the later fields: announced again, it stays JSON.
    const { distinguished_by: _d, first: _f, last: _l, ...older } = completion;
    const again = await serializers.completions.encode(older as CompletionRecord);
    expect(typeof again).toBe('string');
    expect(await serializers.completions.decode(Buffer.from(again))).toEqual(older);
  });

  test('readers take JSON and Avro records of one topic alike, registering nothing', async () => {
    const serializers = await topologySerializers(url, settings.topics);
    const readers = topologyDecoders(url);
    const record = streamRecord(events.slice(0, 3));
    for (const writer of [serializers, jsonSerializers]) {
      const value = Buffer.from(await writer.streams.encode(record));
      expect(typed(await readers.streams.decode(value))).toBe(typed(record));
      expect(typed(await serializers.streams.decode(value))).toBe(typed(record));
      const completion = completionOf(record);
      const written = Buffer.from(await writer.completions.encode(completion));
      expect(await readers.completions.decode(written)).toEqual(completion);
    }
    // Without a registry, an Avro record is refused with what is missing.
    const avro = (await serializers.streams.encode(record)) as Buffer;
    await expect(topologyDecoders(undefined).streams.decode(avro)).rejects.toThrow(
      /^stream record is Avro \(schema id \d+\) but no schema registry is set/,
    );
  });
});
