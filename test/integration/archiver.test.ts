/**
 * The archiver role on the real broker and the real PostgreSQL (a database of this file's own,
 * dropped afterwards): every event stored once, redeliveries counted as duplicates, a restart
 * resuming from committed offsets, a store outage that only makes the lag grow, and completion
 * records kept as completed streams that the /v1/streams filters find.
 */
import { Admin, Kafka, Message } from 'kafkajs';
import { openEventStore } from '../../src/cli/event-store';
import { newTraits, WinchesterEvent } from '../../src/events/event';
import { encodeEvent } from '../../src/events/wire';
import { groupLag } from '../../src/kafka/group-lag';
import { CompletionRecord } from '../../src/pipeline/stream-run';
import { PgCompletedStreams } from '../../src/postgres/completed-streams';
import { CompletedStreamQuery } from '../../src/store/completed-streams';
import { EventFilter, EventStore, Pagination, StoredEvent } from '../../src/store/model';
import { TopologySettings } from '../../src/config/topology-settings';
import { MICROS_PER_DAY } from '../../src/time/micros';
import { ArchiverHooks, ArchiverRole, startArchiver } from '../../src/topology/archiver-role';
import { headerString } from '../../src/topology/records';
import { logger } from '../../src/util/logger';
import { FreshDatabase, freshDatabase } from '../support/fresh-database';
import { testNamespace } from '../support/namespace';
import { produce, topologyFixture, waitFor } from '../support/topology-harness';
import { readTopic } from '../support/read-topic';

const T0 = Date.UTC(2026, 10, 1) * 1000;

function event(id: string, i: number): WinchesterEvent {
  return {
    message_id: id,
    event_type: i % 3 === 0 ? 'compute.instance.exists' : 'compute.instance.update',
    timestamp: T0 + i * 1_000_123,
    traits: Object.assign(newTraits(), {
      instance_id: { type: 'text', value: `i-${i % 50}` },
      memory_mb: { type: 'int', value: 512 * (i % 8) },
      load: { type: 'float', value: i / 7 },
      launched_at: { type: 'datetime', value: T0 - i },
    }),
  };
}

/** What a worker publishes on `streams.completed` when a stream's pipeline has run. */
function completionRecord(id: string, trigger: string, instance: string): CompletionRecord {
  return {
    stream_id: id,
    trigger,
    kind: 'fired',
    pipeline: `${trigger}_pipeline`,
    serial: 2,
    outcome: 'completed',
    message_ids: [`${id}-a`, `${id}-b`],
    new_event_ids: [],
    distinguished_by: {
      instance_id: { type: 'text', value: instance },
      note: { type: 'text', value: 'ünïcode "quoted"' },
      audit_period: { begin: T0, end: T0 + MICROS_PER_DAY },
    },
    first: T0 + 1,
    last: T0 + 2_000_003,
  };
}

const completionMessage = (record: CompletionRecord, timestampMs: number): Message => ({
  key: record.stream_id,
  value: JSON.stringify(record),
  timestamp: String(timestampMs),
});

const records = (ids: string[], offset = 0): Message[] =>
  ids.map((id, i) => ({ key: id, value: encodeEvent(event(id, offset + i)) }));
const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

/** The store made to fail while `down`: PostgreSQL refusing connections, as far as the archiver can tell. */
class SwitchableStore implements EventStore {
  down = false;
  constructor(private readonly inner: EventStore) {}
  get storageCapabilities() {
    return this.inner.storageCapabilities;
  }
  async recordEvents(events: StoredEvent[]) {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    return this.inner.recordEvents(events);
  }
  getEvents(filter: EventFilter, page?: Pagination) {
    return this.inner.getEvents(filter, page);
  }
  getEventTypes() {
    return this.inner.getEventTypes();
  }
  getTraitTypes(type: string) {
    return this.inner.getTraitTypes(type);
  }
  getTraits(type: string, name?: string) {
    return this.inner.getTraits(type, name);
  }
  clearExpiredData(ttl: number, max?: number) {
    return this.inner.clearExpiredData(ttl, max);
  }
  close() {
    return this.inner.close();
  }
}

describe('archiver role on the real broker and PostgreSQL', () => {
  const ns = testNamespace();
  let database: FreshDatabase;
  let kafka: Kafka;
  let settings: TopologySettings;
  let admin: Admin;
  let reader: EventStore;
  let completedStreams: PgCompletedStreams;
  const running: ArchiverRole[] = [];
  const archiver = async (store?: EventStore, hooks: ArchiverHooks = {}) => {
    const role = await startArchiver(kafka, settings, store ?? (await openEventStore(database.url)), {
      backOff: { initialMs: 100, maxMs: 400 },
      completedStreams,
      ...hooks,
    });
    running.push(role);
    return role;
  };
  const stop = async (role: ArchiverRole) => {
    await role.stop();
    running.splice(running.indexOf(role), 1);
  };
  const stored = async (prefix: string) =>
    (await reader.getEvents({})).filter((e) => e.message_id.startsWith(`${prefix}-`)).length;

  // The role logs each DLQ record and each failed write; those lines are what these tests provoke.
  const level = logger.level;
  beforeAll(async () => {
    logger.level = 'silent';
    database = await freshDatabase();
    ({ kafka, settings } = await topologyFixture(ns));
    admin = kafka.admin();
    await admin.connect();
    reader = await openEventStore(database.url, { createSchema: true });
    completedStreams = PgCompletedStreams.open(database.url);
  });
  afterAll(async () => {
    for (const role of running) await role.stop();
    await completedStreams?.close();
    await reader?.close();
    await admin?.disconnect();
    await database?.drop();
    logger.level = level;
  });

  test('stores every event once, sends what is not an event to the DLQ, and resumes after a restart', async () => {
    const first = ids('a', 2000);
    await produce(kafka, settings.topics.events, [
      ...records(first.slice(0, 1000)),
      { key: 'junk', value: '{"message_id": "junk"' },
      ...records(first.slice(1000), 1000),
      { key: 'null', value: null },
    ]);
    const role = await archiver();
    await waitFor(
      () => role.counters.stored === 2000 && role.counters.rejected.get('undecodable') === 2,
      60000,
    );
    expect(await stored('a')).toBe(2000);
    const dead = await readTopic(kafka, settings.topics.archiverDlq, 2);
    expect(dead.map((m) => headerString(m.headers, 'dlq.reason'))).toEqual([
      expect.stringMatching(/^event is not JSON/),
      expect.stringMatching(/^event is not JSON/),
    ]);
    expect(dead.every((m) => headerString(m.headers, 'dlq.role') === 'archiver')).toBe(true);
    const [sample] = await reader.getEvents({ messageId: 'a-7' });
    expect(sample.traits.map((t) => t.name)).toEqual(['instance_id', 'launched_at', 'load', 'memory_mb']);
    expect(sample.generated).toBe(T0 + 7 * 1_000_123);

    // The same events again (a producer's retry, a replay): duplicates, nothing stored twice.
    await produce(kafka, settings.topics.events, records(first.slice(0, 500)));
    await waitFor(() => role.counters.duplicates === 500, 60000);
    expect(await stored('a')).toBe(2000);

    // Stopped and started again, the group resumes where its committed offsets say.
    await stop(role);
    await produce(kafka, settings.topics.events, records(ids('b', 300), 5000));
    const again = await archiver();
    await waitFor(() => again.counters.stored === 300, 60000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(again.counters).toMatchObject({ consumed: 300, stored: 300, duplicates: 0 });
    await waitFor(
      async () => (await groupLag(admin, `${ns.prefix}.archiver`, [settings.topics.events])) === 0,
      30000,
    );
  });

  test('while the store fails it pauses: the lag grows, nothing is skipped, and it catches up', async () => {
    for (const role of [...running]) await stop(role);
    const store = new SwitchableStore(await openEventStore(database.url));
    store.down = true;
    const role = await archiver(store);
    await produce(kafka, settings.topics.events, records(ids('c', 1500), 9000));
    await waitFor(() => role.counters.storeErrors >= 3, 60000);
    const group = `${ns.prefix}.archiver`;
    expect(await groupLag(admin, group, [settings.topics.events])).toBe(1500);
    expect(await stored('c')).toBe(0);

    store.down = false;
    await waitFor(() => role.counters.stored >= 1500, 60000);
    expect(await stored('c')).toBe(1500);
    await waitFor(async () => (await groupLag(admin, group, [settings.topics.events])) === 0, 30000);
    expect(role.counters.rejected.size).toBe(0);
  });

  test('keeps completion records as completed streams that the stream filters find, and expires old ones', async () => {
    for (const role of [...running]) await stop(role);
    const publishedMs = Date.now() - 60_000;
    const oldMs = Date.now() - 3 * 86400_000;
    await produce(kafka, settings.topics.completed, [
      completionMessage(completionRecord('s-1', 'usage', 'i-1'), publishedMs),
      completionMessage(completionRecord('s-2', 'usage', 'i-2'), publishedMs + 1),
      completionMessage(completionRecord('s-3', 'audit', 'i-1'), publishedMs + 2),
      // Announced again (a worker's restart): the same stream and serial stays one row.
      completionMessage(completionRecord('s-1', 'usage', 'i-1'), publishedMs + 3),
      { key: 'junk', value: '{"stream_id": ', timestamp: String(publishedMs) },
      completionMessage(completionRecord('s-old', 'usage', 'i-9'), oldMs),
    ]);
    const role = await archiver(undefined, { ttlSeconds: 2 * 86400, expiry: { firstAfterMs: 3_600_000 } });
    const { counters } = role;
    await waitFor(
      () =>
        counters.streamsRecorded === 4 &&
        counters.streamDuplicates === 1 &&
        counters.rejected.get('undecodable-completion') === 1,
      60000,
    );

    const find = (query: Partial<CompletedStreamQuery> = {}) =>
      completedStreams.findCompletedStreams({ namespace: ns.prefix, count: 100, ...query });
    const idsOf = async (query: Partial<CompletedStreamQuery>) => (await find(query)).map((s) => s.stream_id);
    expect(await idsOf({})).toEqual(['s-1', 's-2', 's-3', 's-old']);
    const [s1] = await find({ trigger: 'usage', distinguished: { instance_id: 'i-1' } });
    expect(s1).toEqual({
      ...completionRecord('s-1', 'usage', 'i-1'),
      namespace: ns.prefix,
      completed_at: publishedMs * 1000,
    });
    expect(await idsOf({ trigger: 'usage' })).toEqual(['s-1', 's-2', 's-old']);
    expect(await idsOf({ distinguished: { instance_id: 'i-1' } })).toEqual(['s-1', 's-3']);
    expect(await idsOf({ distinguished: { instance_id: 'i-1', note: 'ünïcode "quoted"' } })).toEqual([
      's-1',
      's-3',
    ]);
    // A timex range compares as its beginning.
    expect(await idsOf({ trigger: 'audit', distinguished: { audit_period: String(T0) } })).toEqual(['s-3']);
    expect(await idsOf({ marker: 's-1', count: 2 })).toEqual(['s-2', 's-3']);
    expect(await idsOf({ namespace: `${ns.prefix}-other` })).toEqual([]);
    // By the time of the first event, bounds beyond what the store holds included.
    expect(await idsOf({ youngerThan: T0, olderThan: T0 + 2 })).toEqual(['s-1', 's-2', 's-3', 's-old']);
    expect(await idsOf({ olderThan: T0 + 1 })).toEqual([]);
    expect(await idsOf({ olderThan: 2 ** 52, youngerThan: -(2 ** 52) })).toHaveLength(4);
    // Text PostgreSQL cannot hold matches nothing, rather than failing the query.
    expect(await idsOf({ trigger: 'usage\u0000' })).toEqual([]);
    expect(await idsOf({ distinguished: { instance_id: '\ud800' } })).toEqual([]);

    const dead = (await readTopic(kafka, settings.topics.archiverDlq, 3)).filter(
      (m) => headerString(m.headers, 'dlq.source.topic') === settings.topics.completed,
    );
    expect(dead.map((m) => headerString(m.headers, 'dlq.reason'))).toEqual([
      expect.stringMatching(/^completion record is not JSON: /),
    ]);

    // event_ttl: the archiver leading expiry removes the stream that completed three days ago.
    await waitFor(() => role.expiry!.leader, 30000);
    await role.expiry!.runOnce();
    expect(counters.streamsExpired).toBe(1);
    expect(await idsOf({})).toEqual(['s-1', 's-2', 's-3']);
  });

  test('throughput on the local stack', async () => {
    for (const role of [...running]) await stop(role);
    const count = 20000;
    await produce(kafka, settings.topics.events, records(ids('d', count), 20000));
    const started = Date.now();
    const role = await archiver();
    await waitFor(() => role.counters.stored >= count, 120000);
    const seconds = (Date.now() - started) / 1000;
    const rate = Math.round(count / seconds);
    process.stdout.write(
      `archiver: ${count} events in ${seconds.toFixed(1)} s (${rate} events/s, group join included)\n`,
    );
    expect(await stored('d')).toBe(count);
    expect(rate).toBeGreaterThan(200);
  });
});
