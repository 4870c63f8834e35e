/** The archiver role on the batch loop, without Kafka or PostgreSQL: fake batches and producer, the in-memory stores. */
import { Consumer } from 'kafkajs';
import { WinchesterEvent } from '../../../src/events/event';
import { encodeEvent } from '../../../src/events/wire';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { CompletedStream, MemoryCompletedStreams } from '../../../src/store/completed-streams';
import { MemoryEventStore } from '../../../src/store/memory-store';
import {
  EventFilter,
  EventStore,
  ExpiryReport,
  Pagination,
  RecordResult,
  StoredEvent,
} from '../../../src/store/model';
import { Micros, MICROS_PER_DAY } from '../../../src/time/micros';
import { defaultTopologySettings } from '../../../src/config/topology-settings';
import { completedStreamOf } from '../../../src/topology/archiver-completions';
import { ArchiverHooks, ArchiverRole } from '../../../src/topology/archiver-role';
import { logger } from '../../../src/util/logger';
import { fakeBatch, fakeProducer, header } from './fakes';

const settings = defaultTopologySettings({ namespace: 't' });
const DLQ = settings.topics.archiverDlq;
const T0 = Date.UTC(2026, 10, 1, 0, 10, 58) * 1000 + 869_123;

function event(id: string, overrides: Partial<WinchesterEvent> = {}): WinchesterEvent {
  const traits = Object.create(null) as WinchesterEvent['traits'];
  traits.zone = { type: 'text', value: 'nova' };
  traits.memory_mb = { type: 'int', value: 512 };
  traits.Disk = { type: 'float', value: 1.5 };
  traits.launched_at = { type: 'datetime', value: T0 - 1 };
  return { message_id: id, event_type: 'compute.instance.exists', timestamp: T0, traits, ...overrides };
}

const wire = (...ids: string[]) => ids.map((id) => encodeEvent(event(id)));

const refused = () => new Error('connect ECONNREFUSED 127.0.0.1:5432');

/** The in-memory store, made to fail on demand: `down` fails every call, `failures` the next n. */
class FlakyStore implements EventStore {
  readonly storageCapabilities = { storage: { production_ready: false } };
  readonly inner = new MemoryEventStore();
  down = false;
  failures = 0;
  /** Message ids of each recordEvents call, failed ones included. */
  readonly calls: string[][] = [];
  /** Runs before each call answers (a test looks at the batch's state there). */
  onCall: () => void = () => undefined;
  closed = false;

  async recordEvents(events: StoredEvent[]): Promise<RecordResult[]> {
    this.calls.push(events.map((e) => e.message_id));
    this.onCall();
    if (this.down || this.failures-- > 0) throw refused();
    return this.inner.recordEvents(events);
  }
  getEvents(filter: EventFilter, page?: Pagination) {
    return this.inner.getEvents(filter, page);
  }
  getEventTypes() {
    return this.inner.getEventTypes();
  }
  getTraitTypes(eventType: string) {
    return this.inner.getTraitTypes(eventType);
  }
  getTraits(eventType: string, name?: string) {
    return this.inner.getTraits(eventType, name);
  }
  async clearExpiredData(ttl: number, max?: number, now?: number): Promise<ExpiryReport> {
    if (this.down) throw refused();
    return this.inner.clearExpiredData(ttl, max, now);
  }
  async close() {
    this.closed = true;
  }
}

/**
 * The in-memory completed streams, made to fail on demand like FlakyStore, with expiry by
 * completion time as PgCompletedStreams.clearExpiredStreams does it (counted, not removed:
 * MemoryCompletedStreams has no expiry of its own).
 */
class FlakyStreams extends MemoryCompletedStreams {
  down = false;
  failures = 0;
  /** Stream ids of each recordCompletedStreams call, failed ones included. */
  readonly calls: string[][] = [];

  override async recordCompletedStreams(streams: CompletedStream[]): Promise<number> {
    this.calls.push(streams.map((s) => s.stream_id));
    if (this.down || this.failures-- > 0) throw refused();
    return super.recordCompletedStreams(streams);
  }

  override async clearExpiredStreams(ttlSeconds: number, now?: Micros): Promise<number> {
    if (this.down) throw refused();
    return super.clearExpiredStreams(ttlSeconds, now);
  }
}

function archiver(hooks: ArchiverHooks = {}) {
  const kafka = fakeProducer();
  const store = new FlakyStore();
  const streams = new FlakyStreams();
  const metrics = new WinchesterMetrics('archiver').initialiseLabels(
    { triggers: [], pipelines: new Map() },
    settings,
  );
  const role = new ArchiverRole({ consumer: {} as Consumer, producer: kafka.producer }, settings, store, {
    metrics,
    backOff: { initialMs: 2, maxMs: 8 },
    completedStreams: streams,
    ...hooks,
  });
  return { role, kafka, store, streams, metrics };
}

const batchOf = (values: Array<string | Buffer | null>, partition = 0, firstOffset = 0) =>
  fakeBatch(values, { topic: settings.topics.events, partition, firstOffset });
const storedIds = async (store: FlakyStore) => (await store.inner.getEvents({})).map((e) => e.message_id);
const metricValue = async (metric: { get(): Promise<{ values: { labels: object; value: number }[] }> }) =>
  (await metric.get()).values.map(({ labels, value }) => ({ ...labels, value }));
/** DLQ records counted so far (the series at 0 left out). */
const dlqCounts = async (metrics: WinchesterMetrics) =>
  (await metricValue(metrics.dlqRecords)).filter((v) => v.value > 0);

/** A worker's completion record, as JSON on `streams.completed`. */
function completion(id: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    stream_id: id,
    trigger: 'instance_usage',
    kind: 'fired',
    pipeline: 'usage',
    serial: 4,
    outcome: 'completed',
    message_ids: ['a', 'b'],
    new_event_ids: ['n1'],
    distinguished_by: {
      instance_id: { type: 'text', value: 'i-1' },
      audit_period_beginning: { begin: T0, end: T0 + MICROS_PER_DAY },
    },
    first: T0,
    last: T0 + 1_000_001,
    ...overrides,
  };
}

const PUBLISHED_MS = Date.UTC(2026, 10, 2, 3, 4, 5, 678);

/** Completion records on `streams.completed`, published a millisecond apart from `publishedMs` (their Kafka timestamps). */
function completionBatch(values: Array<string | Buffer | null>, publishedMs = PUBLISHED_MS, firstOffset = 0) {
  const payload = fakeBatch(values, { topic: settings.topics.completed, partition: 1, firstOffset });
  payload.batch.messages.forEach((m, i) => (m.timestamp = String(publishedMs + i)));
  return payload;
}
const json = (...records: Array<Record<string, unknown>>) => records.map((r) => JSON.stringify(r));
const everyStream = (streams: MemoryCompletedStreams) =>
  streams.findCompletedStreams({ namespace: settings.namespace, count: 1000 });

describe('ArchiverRole', () => {
  const level = logger.level;
  beforeAll(() => void (logger.level = 'silent'));
  afterAll(() => void (logger.level = level));

  it('stores each chunk with one call, as StoredEvents, and resolves its offsets after the write', async () => {
    const { role, store, metrics } = archiver({ chunkSize: 2 });
    const resolvedAtCall: string[][] = [];
    const payload = batchOf(wire('a', 'b', 'c', 'd', 'e'), 0, 40);
    store.onCall = () => resolvedAtCall.push([...payload.resolved]);
    await role.eachBatch(payload);

    expect(store.calls).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
    // Each write happened before its own chunk's offset was resolved.
    expect(resolvedAtCall).toEqual([[], ['41'], ['41', '43']]);
    expect(payload.resolved).toEqual(['41', '43', '44']);
    const [a] = await store.inner.getEvents({ messageId: 'a' });
    expect(a).toEqual({
      message_id: 'a',
      event_type: 'compute.instance.exists',
      generated: T0,
      traits: [
        { name: 'Disk', trait: { type: 'float', value: 1.5 } },
        { name: 'launched_at', trait: { type: 'datetime', value: T0 - 1 } },
        { name: 'memory_mb', trait: { type: 'int', value: 512 } },
        { name: 'zone', trait: { type: 'text', value: 'nova' } },
      ],
      raw: null,
    });
    expect(role.counters).toMatchObject({ consumed: 5, stored: 5, duplicates: 0, storeErrors: 0 });
    expect(await metricValue(metrics.archivedEvents)).toEqual([{ value: 5 }]);
    const histogram = await metrics.archiverBatchSeconds.get();
    expect(histogram.values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(3);
  });

  it('counts a redelivered batch as duplicates and stores nothing twice', async () => {
    const { role, store, metrics } = archiver();
    await role.eachBatch(batchOf(wire('a', 'b', 'c')));
    const again = batchOf(wire('b', 'c', 'd'));
    await role.eachBatch(again);

    expect(await storedIds(store)).toEqual(['a', 'b', 'c', 'd']);
    expect(again.resolved).toEqual(['2']);
    expect(role.counters).toMatchObject({ stored: 4, duplicates: 2 });
    expect(await metricValue(metrics.archiverDuplicates)).toEqual([{ value: 2 }]);
  });

  it('sends undecodable records to its own DLQ with the reason, even when one ends a chunk', async () => {
    const { role, kafka, store, metrics } = archiver({ chunkSize: 2 });
    const payload = batchOf([wire('a')[0], '{"message_id": "x"', null, wire('b')[0], 'null'], 0, 7);
    await role.eachBatch(payload);

    expect(await storedIds(store)).toEqual(['a', 'b']);
    expect(store.calls).toEqual([['a'], ['b']]);
    const dead = kafka.sentTo(DLQ);
    expect(dead.map((m) => header(m, 'dlq.source.offset'))).toEqual(['8', '9', '11']);
    expect(header(dead[0], 'dlq.reason')).toMatch(/^event is not JSON/);
    expect(header(dead[1], 'dlq.reason')).toMatch(/^event is not JSON/);
    expect(header(dead[2], 'dlq.reason')).toBe('event is not an object');
    expect(dead.every((m) => header(m, 'dlq.role') === 'archiver')).toBe(true);
    expect(payload.resolved).toEqual(['8', '10', '11']);
    expect(Object.fromEntries(role.counters.rejected)).toEqual({ undecodable: 3 });
    expect(await dlqCounts(metrics)).toEqual([{ topic: DLQ, reason: 'undecodable event', value: 3 }]);
    // The matcher dead-letters the same records to events.dlq: the archiver does not add a second copy there.
    expect(kafka.sentTo(settings.topics.eventsDlq)).toEqual([]);
  });

  it('sends an event the store refuses to the DLQ with the store’s reason', async () => {
    const { role, kafka, store } = archiver();
    const record = store.inner.recordEvents.bind(store.inner);
    store.inner.recordEvents = async (events) =>
      (await record(events)).map((r) =>
        r.message_id === 'b' ? { message_id: 'b', outcome: 'unknown_problem', reason: 'value too long' } : r,
      );
    const payload = batchOf(wire('a', 'b', 'c'));
    await role.eachBatch(payload);

    const [dead] = kafka.sentTo(DLQ);
    expect(header(dead, 'dlq.reason')).toBe('unknown_problem: value too long');
    expect(header(dead, 'dlq.message-id')).toBe('b');
    expect(header(dead, 'dlq.source.offset')).toBe('1');
    expect(Object.fromEntries(role.counters.rejected)).toEqual({ store: 1 });
    expect(payload.resolved).toEqual(['2']);
  });

  it('pauses through a store outage: the same chunk is written again, its offsets only after', async () => {
    const { role, store, metrics } = archiver({ chunkSize: 2 });
    const payload = batchOf(wire('a', 'b', 'c', 'd'));
    const resolvedAtCall: string[][] = [];
    store.onCall = () => {
      resolvedAtCall.push([...payload.resolved]);
      // The store goes down after the first chunk is written, for three attempts.
      if (store.calls.length === 2) store.failures = 3;
    };
    await role.eachBatch(payload);

    expect(store.calls).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
      ['c', 'd'],
      ['c', 'd'],
    ]);
    expect(resolvedAtCall).toEqual([[], ['1'], ['1'], ['1'], ['1']]);
    expect(payload.resolved).toEqual(['1', '3']);
    expect(await storedIds(store)).toEqual(['a', 'b', 'c', 'd']);
    // The pauses heartbeat, so the group keeps this member.
    expect(payload.heartbeat.mock.calls.length).toBeGreaterThanOrEqual(3 + 2);
    expect(role.counters.storeErrors).toBe(3);
    expect(await metricValue(metrics.archiverStoreErrors)).toEqual([
      { operation: 'record', value: 3 },
      { operation: 'record_streams', value: 0 },
      { operation: 'expire', value: 0 },
    ]);
  });

  it('backs off doubling up to the maximum', async () => {
    const { role, store } = archiver({ backOff: { initialMs: 1, maxMs: 4 } });
    const delays: number[] = [];
    role.events.on('storeError', ({ retryInMs }) => delays.push(retryInMs));
    store.failures = 5;
    await role.eachBatch(batchOf(wire('a')));
    expect(delays).toEqual([1, 2, 4, 4, 4]);
    expect(await storedIds(store)).toEqual(['a']);
  });

  it('gives up an unwritten chunk when its partition is revoked during an outage, resolving nothing of it', async () => {
    const { role, store, kafka } = archiver({ chunkSize: 2 });
    const payload = batchOf([...wire('a', 'b', 'c'), 'not json']);
    const abandoned: number[] = [];
    role.events.on('abandoned', ({ records }) => abandoned.push(records));
    store.onCall = () => {
      if (store.calls.length === 2) store.down = true;
      if (store.calls.length === 4) payload.isStale.mockReturnValue(true);
    };
    await role.eachBatch(payload);

    expect(store.calls).toHaveLength(4);
    expect(payload.resolved).toEqual(['1']);
    expect(await storedIds(store)).toEqual(['a', 'b']);
    expect(abandoned).toEqual([1]);
    // The abandoned chunk's DLQ record is not sent either: the chunk comes again whole.
    expect(kafka.sentTo(DLQ)).toEqual([]);
  });

  it('stops between chunks when the consumer stops (isRunning false), leaving the rest unresolved', async () => {
    const { role, store } = archiver({ chunkSize: 2 });
    const payload = batchOf(wire('a', 'b', 'c', 'd'));
    store.onCall = () => payload.isRunning.mockReturnValue(false);
    await role.eachBatch(payload);

    expect(store.calls).toEqual([['a', 'b']]);
    expect(payload.resolved).toEqual(['1']);
  });

  it('keeps each partition’s chunk apart when batches of several partitions run at once', async () => {
    const { role, store } = archiver({ chunkSize: 2 });
    const record = store.inner.recordEvents.bind(store.inner);
    store.inner.recordEvents = async (events) => {
      await new Promise((r) => setTimeout(r, 5));
      return record(events);
    };
    const p0 = batchOf(wire('a0', 'b0', 'c0'), 0);
    const p1 = batchOf([wire('a1')[0], 'junk', ...wire('b1', 'c1')], 1);
    await Promise.all([role.eachBatch(p0), role.eachBatch(p1)]);

    expect(store.calls).toEqual(expect.arrayContaining([['a0', 'b0'], ['c0'], ['a1'], ['b1', 'c1']]));
    expect(store.calls).toHaveLength(4);
    expect([p0.resolved, p1.resolved]).toEqual([
      ['1', '2'],
      ['1', '3'],
    ]);
  });

  describe('completed streams', () => {
    it('reads streams.completed beside events in its one group; events alone without a store for streams', () => {
      const { topics } = settings;
      expect(archiver().role.topics).toEqual([topics.events, topics.completed]);
      expect(archiver({ completedStreams: undefined }).role.topics).toEqual([topics.events]);
    });

    it('keeps each chunk of completion records with one call: namespace, fields, and the record’s timestamp in µs', async () => {
      const { role, streams, store } = archiver({ chunkSize: 2 });
      const payload = completionBatch(
        json(completion('s1'), completion('s2'), completion('s3')),
        PUBLISHED_MS,
        10,
      );
      await role.eachBatch(payload);

      expect(streams.calls).toEqual([['s1', 's2'], ['s3']]);
      expect(store.calls).toEqual([]);
      expect(payload.resolved).toEqual(['11', '12']);
      const [s1, s2] = await everyStream(streams);
      expect(s1).toEqual({ ...completion('s1'), namespace: 't', completed_at: PUBLISHED_MS * 1000 });
      expect(s2.completed_at).toBe((PUBLISHED_MS + 1) * 1000);
      expect(role.counters).toMatchObject({ consumed: 3, streamsRecorded: 3, streamDuplicates: 0 });

      // Delivered again: the same streams, counted as already kept.
      await role.eachBatch(completionBatch(json(completion('s2'), completion('s3')), PUBLISHED_MS + 60_000));
      expect(await everyStream(streams)).toHaveLength(3);
      expect(role.counters).toMatchObject({ streamsRecorded: 3, streamDuplicates: 2 });
    });

    it('keeps a failed stream’s error, and a stream without a pipeline', async () => {
      const { role, streams } = archiver();
      const failed = completion('s-err', { outcome: 'error', error: 'usage: boom', new_event_ids: [] });
      const bare = completion('s-bare', { pipeline: null, kind: 'expired', distinguished_by: {} });
      await role.eachBatch(completionBatch(json(failed, bare)));

      const kept = await everyStream(streams);
      expect(kept.map((s) => [s.stream_id, s.outcome, s.error, s.pipeline])).toEqual([
        ['s-bare', 'completed', undefined, null],
        ['s-err', 'error', 'usage: boom', 'usage'],
      ]);
    });

    it('sends an undecodable completion record to the archiver’s DLQ with the reason; the rest are kept', async () => {
      const { role, kafka, streams, metrics } = archiver();
      const { first: _, ...older } = completion('s-old');
      const payload = completionBatch([
        ...json(completion('s1'), older),
        '{"stream_id": "x"',
        ...json(completion('s2', { kind: 'fire' })),
      ]);
      await role.eachBatch(payload);

      expect((await everyStream(streams)).map((s) => s.stream_id)).toEqual(['s1']);
      const dead = kafka.sentTo(DLQ);
      expect(dead.map((m) => header(m, 'dlq.source.offset'))).toEqual(['1', '2', '3']);
      expect(dead.map((m) => header(m, 'dlq.reason'))).toEqual([
        'completion record first: expected microseconds since the epoch, got nothing (written by an older worker?)',
        expect.stringMatching(/^completion record is not JSON: /),
        'completion record kind: expected fired or expired, got "fire"',
      ]);
      expect(dead.every((m) => header(m, 'dlq.source.topic') === settings.topics.completed)).toBe(true);
      expect(payload.resolved).toEqual(['3']);
      expect(Object.fromEntries(role.counters.rejected)).toEqual({ 'undecodable-completion': 3 });
      expect(await dlqCounts(metrics)).toEqual([
        { topic: DLQ, reason: 'undecodable completion record', value: 3 },
      ]);
    });

    it('pauses through an outage of the completed-stream store, resolving the chunk only once it is written', async () => {
      const { role, streams, metrics } = archiver();
      streams.failures = 2;
      const payload = completionBatch(json(completion('s1')));
      await role.eachBatch(payload);

      expect(streams.calls).toEqual([['s1'], ['s1'], ['s1']]);
      expect(payload.resolved).toEqual(['0']);
      expect(await everyStream(streams)).toHaveLength(1);
      expect(await metricValue(metrics.archiverStoreErrors)).toContainEqual({
        operation: 'record_streams',
        value: 2,
      });
    });

    it('leaves a chunk of completion records unresolved when its partition is revoked during an outage', async () => {
      const { role, streams } = archiver();
      streams.down = true;
      const payload = completionBatch(json(completion('s1')));
      role.events.on('storeError', () => payload.isStale.mockReturnValue(true));
      await role.eachBatch(payload);

      expect(payload.resolved).toEqual([]);
      expect(await everyStream(streams)).toEqual([]);
    });
  });

  describe('completion record decoding', () => {
    const decode = (record: unknown, completedAt: Micros = PUBLISHED_MS * 1000) =>
      completedStreamOf(Buffer.from(JSON.stringify(record)), 'ns', completedAt);

    it('keeps exactly the record’s known fields', () => {
      expect(decode({ ...completion('s'), extra: 'left out' })).toEqual({
        ...completion('s'),
        namespace: 'ns',
        completed_at: PUBLISHED_MS * 1000,
      });
    });

    it('keeps a distinguishing trait named __proto__ as a value', () => {
      const record = JSON.stringify(completion('s', { distinguished_by: 'X' })).replace(
        '"X"',
        '{"__proto__": {"type": "int", "value": 3}}',
      );
      const stream = completedStreamOf(Buffer.from(record), 'ns', 0);
      expect(Object.entries(stream.distinguished_by)).toEqual([['__proto__', { type: 'int', value: 3 }]]);
    });

    test.each([
      ['an empty value', null, 'completion record is empty'],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'completion record is not JSON: not UTF-8'],
      ['a list', Buffer.from('[1]'), 'completion record is not an object'],
    ])('refuses %s', (_name, value, reason) => {
      expect(() => completedStreamOf(value, 'ns', 0)).toThrow(reason);
    });

    test.each([
      [{ stream_id: '' }, 'completion record stream_id: expected text, got ""'],
      [{ serial: 1.5 }, 'completion record serial: expected an integer from 0 to 2147483647, got 1.5'],
      [{ serial: 2 ** 31 }, 'completion record serial: expected an integer from 0 to 2147483647'],
      [{ outcome: 'done' }, 'completion record outcome: expected completed or error or expire_error'],
      [{ message_ids: 'a' }, 'completion record message_ids: expected a list of text, got "a"'],
      [{ new_event_ids: [1] }, 'completion record new_event_ids item: expected text'],
      [{ trigger: 'a\u0000b' }, 'completion record trigger: expected text without NUL characters'],
      [{ error: 42 }, 'completion record error: expected text, got 42'],
      [{ pipeline: 7 }, 'completion record pipeline: expected text, got 7'],
      [{ last: T0 + 0.5 }, 'completion record last: expected microseconds since the epoch'],
      [
        { first: 2 ** 60 },
        'completion record first: expected microseconds since the epoch, got 1152921504606847000',
      ],
      [
        { distinguished_by: [] },
        'completion record distinguished_by: expected an object of distinguishing values',
      ],
      [
        { distinguished_by: { zone: { type: 'string', value: 'a' } } },
        'completion record distinguished_by.zone: expected {"type", "value"} or {"begin", "end"}',
      ],
      [
        { distinguished_by: { day: { begin: T0, end: 'tomorrow' } } },
        'completion record distinguished_by.day.end: expected microseconds since the epoch, got "tomorrow"',
      ],
      [{ distinguished_by: { zone: { type: 'text', value: '\ud800' } } }, 'distinguished_by.zone: expected'],
    ])('refuses %j, naming the field', (override, reason) => {
      expect(() => decode(completion('s', override))).toThrow(reason);
    });

    it('refuses a Kafka record without a usable timestamp', () => {
      expect(() => decode(completion('s'), Number.NaN)).toThrow(
        'the Kafka record timestamp: expected microseconds since the epoch, got NaN',
      );
    });
  });

  describe('event_ttl expiry', () => {
    const oldEvent = (id: string): WinchesterEvent =>
      event(id, { timestamp: Date.now() * 1000 - 3 * MICROS_PER_DAY });

    it('removes events and completed streams older than the ttl, on the member that owns partition 0', async () => {
      const { role, store, metrics } = archiver({ ttlSeconds: 2 * 86400 });
      await role.eachBatch(
        batchOf([encodeEvent(oldEvent('old')), encodeEvent(event('new', { timestamp: Date.now() * 1000 }))]),
      );
      const now = Date.now();
      await role.eachBatch(completionBatch(json(completion('s-old')), now - 3 * 86400_000));
      await role.eachBatch(completionBatch(json(completion('s-new')), now));
      role.expiry!.lead([1, 2]);
      await role.expiry!.runOnce();
      expect(await storedIds(store)).toEqual(['old', 'new']);
      expect(role.counters.streamsExpired).toBe(0);

      role.expiry!.lead([0, 2]);
      await role.expiry!.runOnce();
      expect(await storedIds(store)).toEqual(['new']);
      expect(role.counters).toMatchObject({ expired: 1, streamsExpired: 1 });
      expect(await metricValue(metrics.expiredEvents)).toEqual([{ value: 1 }]);
    });

    it('expires completed streams even when the events’ expiry fails', async () => {
      const { role, store } = archiver({ ttlSeconds: 86400 });
      await role.eachBatch(completionBatch(json(completion('s-old')), Date.now() - 2 * 86400_000));
      store.down = true;
      const failed: string[] = [];
      role.events.on('expiryFailed', ({ of }) => failed.push(of));
      role.expiry!.lead([0]);
      await role.expiry!.runOnce();

      expect(failed).toEqual(['events']);
      expect(role.counters.streamsExpired).toBe(1);
    });

    it('reports a failed turn and runs again on its timer', async () => {
      const { role, store, metrics } = archiver({
        ttlSeconds: 86400,
        expiry: { firstAfterMs: 1, everyMs: 5 },
      });
      await role.eachBatch(batchOf([encodeEvent(oldEvent('old'))]));
      role.expiry!.lead([0]);
      store.down = true;
      const turns: string[] = [];
      role.events.on('expiryFailed', () => turns.push('failed')).on('expired', () => turns.push('expired'));
      role.expiry!.start();
      await waitUntil(() => turns.length >= 2);
      store.down = false;
      await waitUntil(() => turns.includes('expired'));
      await role.expiry!.stop();

      expect(turns.slice(0, 2)).toEqual(['failed', 'failed']);
      expect(await storedIds(store)).toEqual([]);
      expect(
        (await metricValue(metrics.archiverStoreErrors)).find(
          (v) => 'operation' in v && v.operation === 'expire',
        )?.value,
      ).toBeGreaterThanOrEqual(2);
    });

    it('is off without a ttl', () => {
      expect(archiver().role.expiry).toBeUndefined();
    });
  });

  it('closes its store when it stops', async () => {
    const { store } = archiver();
    const stopping = new ArchiverRole(
      {
        consumer: { stop: async () => undefined, disconnect: async () => undefined } as unknown as Consumer,
        producer: fakeProducer().producer,
      },
      settings,
      store,
    );
    (stopping.producer as unknown as { disconnect: () => Promise<void> }).disconnect = async () => undefined;
    await stopping.stop();
    expect(store.closed).toBe(true);
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
