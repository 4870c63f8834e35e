import { join } from 'node:path';
import { isEvent, loadEventDefinitions } from '../../src/distiller';
import { toCanonicalJson, WinchesterEvent, newTraits } from '../../src/events/event';
import { avroEventSerializer, jsonEventSerializer } from '../../src/topology/serialization';
import { testNamespace } from '../support/namespace';
import { sampleCorpus } from '../support/corpus';

const repo = join(__dirname, '..', '..');
const ns = testNamespace();

function corpusEvents(): WinchesterEvent[] {
  const distiller = loadEventDefinitions(join(repo, 'topologies', 'example', 'event_definitions.yaml'));
  return sampleCorpus()
    .map((l) => distiller.distillText(l))
    .filter(isEvent);
}

describe('event serialization round-trips every corpus event exactly', () => {
  const events = corpusEvents();
  // Types and microseconds matter: an int 5 is not a float 5.0, a datetime is not its text.
  const hostile = (() => {
    const traits = newTraits();
    traits.__proto__ = { type: 'text', value: 'data, not a prototype' };
    traits['constructor' as string] = { type: 'int', value: 5 };
    traits.five = { type: 'float', value: 5 };
    traits.when = { type: 'datetime', value: 1_700_000_000_123_457 };
    return { message_id: 'hostile', event_type: 'x', timestamp: 1_700_000_000_000_001, traits, hops: 2 };
  })();
  const all = [...events, hostile];
  const exact = (e: WinchesterEvent) =>
    `${toCanonicalJson(e)}|${JSON.stringify(Object.entries(e.traits).map(([k, t]) => [k, t.type]))}|${e.hops ?? 0}`;

  test('JSON', async () => {
    expect(events.length).toBeGreaterThan(7000);
    for (const event of all) {
      const back = await jsonEventSerializer.decode(Buffer.from(await jsonEventSerializer.encode(event)));
      expect(exact(back)).toBe(exact(event));
    }
  });

  test('Avro through the schema registry', async () => {
    const avro = await avroEventSerializer(process.env.SCHEMA_REGISTRY_URL!, ns.topic('events'));
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
