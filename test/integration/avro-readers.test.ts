/**
 * The readers of a topology's topics on records in Avro, beside JSON ones (a namespace moving
 * from one format to the other): the archiver, `dlq list`/`show` and `trace`, on the real
 * broker, PostgreSQL and schema registry.
 */
import Redis from 'ioredis';
import { Kafka, Message } from 'kafkajs';
import { formatDlqShow } from '../../src/cli/dlq';
import { openEventStore } from '../../src/cli/event-store';
import { newTraits, WinchesterEvent } from '../../src/events/event';
import { encodeEvent } from '../../src/events/wire';
import { listDlq, showDlq } from '../../src/ops/dlq';
import { deleteNamespace, planNamespaceDeletion } from '../../src/ops/namespace';
import { traceMessage } from '../../src/ops/trace';
import { CompletionRecord } from '../../src/pipeline/stream-run';
import { PgCompletedStreams } from '../../src/postgres/completed-streams';
import { TopologySettings } from '../../src/config/topology-settings';
import { startArchiver } from '../../src/topology/archiver-role';
import { headerString } from '../../src/topology/records';
import { TopologySerializers, topologyDecoders, topologySerializers } from '../../src/topology/serialization';
import { logger } from '../../src/util/logger';
import { FreshDatabase, freshDatabase } from '../support/fresh-database';
import { testNamespace } from '../support/namespace';
import { readTopic } from '../support/read-topic';
import { schemaRegistryUrl } from '../support/stack';
import { produce, topologyFixture, waitFor } from '../support/topology-harness';

const T0 = Date.UTC(2026, 10, 1) * 1000 + 7;
const url = schemaRegistryUrl();

function event(id: string, i: number): WinchesterEvent {
  return {
    message_id: id,
    event_type: 'compute.instance.exists',
    timestamp: T0 + i,
    traits: Object.assign(newTraits(), {
      instance_id: { type: 'text', value: `i-${i}` },
      memory_mb: { type: 'int', value: 512 },
      load: { type: 'float', value: 2 },
      launched_at: { type: 'datetime', value: T0 - 1 },
    }),
  };
}

function completion(id: string, messageIds: string[], trigger = 'usage'): CompletionRecord {
  return {
    stream_id: id,
    trigger,
    kind: 'fired',
    pipeline: null,
    serial: 2,
    outcome: 'completed',
    message_ids: messageIds,
    new_event_ids: [],
    distinguished_by: Object.assign(Object.create(null) as CompletionRecord['distinguished_by'], {
      instance_id: { type: 'text', value: 'i-1' },
      audit_period: { begin: T0, end: T0 + 86_400_000_000 },
    }),
    first: T0,
    last: T0 + 2,
  };
}

describe('readers of Avro records beside JSON ones', () => {
  const ns = testNamespace();
  let kafka: Kafka;
  let settings: TopologySettings;
  let avro: TopologySerializers;
  let database: FreshDatabase;
  let redis: Redis;
  const level = logger.level;

  const avroEvent = async (id: string, i: number): Promise<Message> => ({
    key: id,
    value: (await avro.events.encode(event(id, i))) as Buffer,
  });

  beforeAll(async () => {
    logger.level = 'silent';
    ({ kafka, settings } = await topologyFixture(ns));
    avro = await topologySerializers(url, settings.topics);
    database = await freshDatabase();
    redis = new Redis(ns.settings.redisUrl, { maxRetriesPerRequest: 3 });
  });

  afterAll(async () => {
    await deleteNamespace(kafka, redis, await planNamespaceDeletion(kafka, redis, settings));
    redis.disconnect();
    await database?.drop();
    logger.level = level;
  });

  test('the archiver stores events and completed streams of both formats, checking Avro ones too', async () => {
    await produce(kafka, settings.topics.events, [
      await avroEvent('a-1', 1),
      { key: 'j-1', value: encodeEvent(event('j-1', 2)) },
      await avroEvent('a-2', 3),
    ]);
    const publishedMs = Date.now() - 1000;
    await produce(
      kafka,
      settings.topics.completed,
      [
        { key: 's-a', value: (await avro.completions.encode(completion('s-a', ['a-1']))) as Buffer },
        { key: 's-j', value: JSON.stringify(completion('s-j', ['j-1'])) },
        // Avro holds a NUL character; the store cannot: refused with the field named.
        {
          key: 's-nul',
          value: (await avro.completions.encode(completion('s-nul', [], 'u\u0000'))) as Buffer,
        },
      ].map((m) => ({ ...m, timestamp: String(publishedMs) })),
    );
    const store = await openEventStore(database.url, { createSchema: true });
    const completedStreams = PgCompletedStreams.open(database.url);
    const role = await startArchiver(kafka, settings, store, {
      decoders: topologyDecoders(url),
      completedStreams,
    });
    try {
      const { counters } = role;
      await waitFor(
        () =>
          counters.stored === 3 &&
          counters.streamsRecorded === 2 &&
          counters.rejected.get('undecodable-completion') === 1,
        60000,
      );
      const [stored] = await store.getEvents({ messageId: 'a-2' });
      expect(stored.generated).toBe(T0 + 3);
      expect(stored.traits).toEqual([
        { name: 'instance_id', trait: { type: 'text', value: 'i-3' } },
        { name: 'launched_at', trait: { type: 'datetime', value: T0 - 1 } },
        { name: 'load', trait: { type: 'float', value: 2 } },
        { name: 'memory_mb', trait: { type: 'int', value: 512 } },
      ]);
      const found = await completedStreams.findCompletedStreams({ namespace: ns.prefix, count: 10 });
      expect(found.map((s) => s.stream_id)).toEqual(['s-a', 's-j']);
      expect(found[0]).toEqual({
        ...completion('s-a', ['a-1']),
        namespace: ns.prefix,
        completed_at: publishedMs * 1000,
      });
      const [dead] = await readTopic(kafka, settings.topics.archiverDlq, 1);
      expect(headerString(dead.headers, 'dlq.reason')).toMatch(
        /^completion record trigger: expected text without NUL characters/,
      );
    } finally {
      await role.stop();
      await completedStreams.close();
    }
  });

  test('`dlq list` and `dlq show` read Avro payloads through the registry', async () => {
    const headers = { 'dlq.reason': 'no trigger could read it', 'dlq.source.topic': settings.topics.events };
    await produce(kafka, settings.topics.eventsDlq, [{ ...(await avroEvent('d-1', 9)), headers }]);
    const listed = await listDlq(kafka, settings, { topic: 'events', schemaRegistryUrl: url });
    expect(listed.records).toMatchObject([{ messageId: 'd-1', eventType: 'compute.instance.exists' }]);
    const filtered = await listDlq(kafka, settings, {
      topic: 'events',
      filter: { messageId: 'd-1' },
      schemaRegistryUrl: url,
    });
    expect(filtered.records).toHaveLength(1);
    const coordinates = listed.records[0].coordinates;
    const shown = (await showDlq(kafka, settings, coordinates, undefined, url))!;
    expect(shown.payload).toMatchObject({
      json: { message_id: 'd-1' },
      avro: { schemaId: expect.any(Number) },
    });
    expect(formatDlqShow(shown).join('\n')).toMatch(/payload \(\d+ bytes, Avro, schema id \d+\):/);
    // Without the registry the ids stay unknown and the payload is an escaped preview.
    expect((await listDlq(kafka, settings, { topic: 'events' })).records[0].messageId).toBeNull();
    expect((await showDlq(kafka, settings, coordinates))!.payload.avro).toBeUndefined();
  });

  test('`trace` follows a message id through Avro events and completion records', async () => {
    await produce(kafka, settings.topics.events, [await avroEvent('t-1', 11)]);
    await produce(kafka, settings.topics.completed, [
      { key: 's-t', value: (await avro.completions.encode(completion('s-t', ['t-1']))) as Buffer },
    ]);
    const result = await traceMessage(
      { kafka, redis, settings, definitions: [], schemaRegistryUrl: url },
      't-1',
    );
    expect(result.events).toMatchObject([{ hops: 0, event: { message_id: 't-1', instance_id: 'i-11' } }]);
    expect(result.completions).toMatchObject([{ record: { stream_id: 's-t', message_ids: ['t-1'] } }]);
  });
});
