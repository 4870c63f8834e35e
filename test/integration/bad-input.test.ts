/**
 * The hostile corpus (test/support/hostile.ts) mixed into 2,000 good notifications, on the real
 * Kafka and Redis: the distiller role puts every hostile record on the DLQ with its reason and
 * its source, distills every good one, and reads to the end; the matcher's stage 1 does the same
 * for undecodable events.
 */
import { join } from 'node:path';
import { Kafka, KafkaMessage, Message } from 'kafkajs';
import { loadEventDefinitions } from '../../src/distiller';
import { decodeEvent, encodeEvent } from '../../src/events/wire';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { scanTopics } from '../../src/ops/scan';
import { DistillerRole, startDistiller } from '../../src/topology/distiller-role';
import { MatcherRole, startMatcher } from '../../src/topology/matcher-role';
import { startWorker } from '../../src/topology/worker-role';
import { DLQ_HEADER_MAX_CHARS, headerString } from '../../src/topology/records';
import { produceAll } from '../../src/topology/role-runner';
import { sampleCorpus } from '../support/corpus';
import {
  BASE_TIMESTAMP_MICROS,
  HostileCase,
  hostileBytes,
  hostileNotifications,
  roleExpectation,
  interleave,
} from '../../bench/support/hostile';
import { testNamespace } from '../support/namespace';
import { groupLag } from '../support/processes';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { topologyFixture, waitFor } from '../support/topology-harness';

const repo = join(__dirname, '..', '..');
/** Small enough that the megabyte cases straddle it cheaply; the broker takes 10 MiB. */
const MAX_RECORD_BYTES = 5 * 1024 * 1024;

async function readAll(kafka: Kafka, topic: string, prefix: string): Promise<KafkaMessage[]> {
  const out: KafkaMessage[] = [];
  const report = await scanTopics(
    kafka,
    [topic],
    { idleTimeoutMs: 60000 },
    (_t, _p, m) => void out.push(m),
    prefix,
  );
  expect(report.complete).toBe(true);
  return out;
}

const key = (m: KafkaMessage) => m.key?.toString('utf8') ?? '';

describe('bad input on the real broker: the distiller role', () => {
  const ns = testNamespace();
  let role: DistillerRole | undefined;
  afterAll(async () => role?.stop());

  test('every hostile record gets its DLQ reason (or its event), good input flows, the consumer reaches the end', async () => {
    const { kafka, settings } = await topologyFixture(ns, { maxRecordBytes: MAX_RECORD_BYTES });
    const input = settings.inputTopics[0];
    const definitions = join(repo, 'topologies', 'openstack-usage', 'event_definitions.yaml');

    // What the good notifications should give, from a distiller of our own.
    const good = sampleCorpus().slice(0, 2000);
    const reference = loadEventDefinitions(definitions);
    const goodEvents = new Set<string>();
    let goodDropped = 0;
    for (const text of good) {
      const outcome = reference.outcome(text);
      if (outcome.kind === 'event') goodEvents.add(outcome.event.message_id);
      else if (outcome.kind === 'dropped') goodDropped++;
      else throw new Error(`a sample notification is bad: ${outcome.reason}`);
    }

    const hostile = hostileNotifications({ maxRecordBytes: MAX_RECORD_BYTES });
    const byKey = new Map(hostile.map((c) => [c.key, c]));
    // Hostile records spread evenly through the good ones.
    const messages = interleave<Message>(
      good.map((value) => ({ key: null, value })),
      hostile.map((c) => ({ key: c.key, value: hostileBytes(c) })),
    );
    expect(messages.length).toBe(good.length + hostile.length);

    const metrics = new WinchesterMetrics('distiller');
    const distiller = loadEventDefinitions(definitions);
    role = await startDistiller(kafka, settings, (text) => distiller.outcome(text), { metrics });
    await produceAll(kafka, input, messages);
    await waitFor(() => role!.counters.consumed >= messages.length, 180000);
    // Nothing stuck: the group's committed offsets reach the end of every partition.
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        async () => (await groupLag(admin, `${settings.namespace}.distiller`, [input])) === 0,
        60000,
      );
    } finally {
      await admin.disconnect();
    }

    const expectedOf = (outcome: string) => hostile.filter((c) => roleExpectation(c).outcome === outcome);
    const hostileDlq = expectedOf('dlq');
    const hostileEvents = expectedOf('event');
    const hostileDropped = expectedOf('dropped');
    expect(role.counters.consumed).toBe(messages.length);
    expect(role.counters.dropped).toBe(goodDropped + hostileDropped.length);
    expect(role.counters.distilled).toBe(goodEvents.size + hostileEvents.length);

    // Where each record was written, to check the DLQ's source headers against.
    const written = new Map<string, { partition: number; offset: string; value: Buffer | null }>();
    await scanTopics(
      kafka,
      [input],
      {},
      (_t, partition, m) => {
        if (key(m).startsWith('hostile:'))
          written.set(key(m), { partition, offset: m.offset, value: m.value });
      },
      ns.prefix,
    );
    expect(written.size).toBe(hostile.length);

    // The DLQ: exactly the hostile records expected there, each with its reason and source.
    const dlq = await readAll(kafka, settings.topics.notificationsDlq, ns.prefix);
    expect(dlq.map(key).sort()).toEqual(hostileDlq.map((c) => c.key).sort());
    for (const m of dlq) {
      const c = byKey.get(key(m))!;
      const expected = roleExpectation(c);
      if (expected.outcome !== 'dlq') throw new Error('unreachable');
      const reason = headerString(m.headers, 'dlq.reason')!;
      expect(`${c.name}: ${reason.split(':')[0]}`).toBe(`${c.name}: ${expected.category}`);
      const detail = reason.slice(expected.category.length + 2);
      if (expected.detail && !expected.detail.test(detail)) {
        throw new Error(
          `${c.name}: reason ${JSON.stringify(reason.slice(0, 300))} does not match ${expected.detail}`,
        );
      }
      if (expected.trait) expect(headerString(m.headers, 'dlq.trait')).toBe(expected.trait);
      for (const name of Object.keys(m.headers ?? {})) {
        expect(headerString(m.headers, name)!.length).toBeLessThanOrEqual(DLQ_HEADER_MAX_CHARS);
      }
      const source = written.get(c.key)!;
      expect(headerString(m.headers, 'dlq.source.topic')).toBe(input);
      expect(headerString(m.headers, 'dlq.source.partition')).toBe(String(source.partition));
      expect(headerString(m.headers, 'dlq.source.offset')).toBe(source.offset);
      // The original bytes, or their head with the original length when they cannot travel whole.
      if (source.value === null) {
        expect(m.value).toBeNull();
      } else if (headerString(m.headers, 'dlq.truncated-from') !== undefined) {
        expect(Number(headerString(m.headers, 'dlq.truncated-from'))).toBe(source.value.length);
        expect(source.value.subarray(0, m.value!.length).equals(m.value!)).toBe(true);
      } else {
        expect(m.value?.equals(source.value) ?? source.value.length === 0).toBe(true);
      }
    }

    // Counted by reason, in the role's counters and in its metrics.
    const byCategory = new Map<string, number>();
    for (const c of hostileDlq) {
      const category = (roleExpectation(c) as { category: string }).category;
      byCategory.set(category, (byCategory.get(category) ?? 0) + 1);
    }
    expect(Object.fromEntries(role.counters.dlq)).toEqual(Object.fromEntries(byCategory));
    const metric = await metrics.dlqRecords.get();
    const counted = Object.fromEntries(metric.values.map((v) => [String(v.labels.reason), v.value]));
    expect(counted).toEqual(Object.fromEntries(byCategory));

    // The events: every good notification's, and the legal hostile ones'.
    const events = await readAll(kafka, settings.topics.events, ns.prefix);
    expect(events).toHaveLength(goodEvents.size + hostileEvents.length);
    const ids = new Set<string>();
    for (const m of events) {
      const event = decodeEvent(m.value!.toString('utf8'));
      ids.add(event.message_id);
      const c = byKey.get(key(m));
      if (!c) continue;
      const expected = roleExpectation(c);
      expect(`${c.name}: ${expected.outcome}`).toBe(`${c.name}: event`);
      if (expected.outcome !== 'event') continue;
      for (const [name, value] of Object.entries(expected.traits ?? {})) {
        expect(event.traits[name]?.value).toBe(value);
      }
      for (const name of expected.absent ?? []) expect(Object.hasOwn(event.traits, name)).toBe(false);
      if (typeof expected.timestamp === 'number') expect(event.timestamp).toBe(expected.timestamp);
      else if (expected.timestamp === undefined) expect(event.timestamp).toBe(BASE_TIMESTAMP_MICROS);
    }
    for (const id of goodEvents) expect(ids.has(id)).toBe(true);
    expect(
      events
        .filter((m) => byKey.has(key(m)))
        .map(key)
        .sort(),
    ).toEqual(hostileEvents.map((c: HostileCase) => c.key).sort());
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 600000);
});

describe('bad input on the real broker: the matcher, stage 1', () => {
  const ns = testNamespace();
  let matcher: MatcherRole | undefined;
  afterAll(async () => matcher?.stop());

  test('undecodable events go to events.dlq with their reason; the rest are matched', async () => {
    const maxRecordBytes = 1024 * 1024;
    const { kafka, settings } = await topologyFixture(ns, { maxRecordBytes });
    const good = Array.from({ length: 200 }, (_, i) =>
      testEvent('compute.instance.update', `i-${i % 20}`, 1_800_000_000 + i, `good-${i}`),
    );
    const proto = encodeEvent(
      testEvent('compute.instance.update', 'i-proto', 1_800_000_000, 'proto'),
    ).replace('"traits":{', '"traits":{"__proto__":["text","x"],');
    const bad: Array<{ name: string; value: string | Buffer | null; reason: RegExp }> = [
      { name: 'not-json', value: '{"message_id": "x", ', reason: /event is not JSON/ },
      { name: 'null-value', value: null, reason: /not JSON/ },
      { name: 'not-an-object', value: '[1, 2, 3]', reason: /no message_id/ },
      { name: 'no-message-id', value: '{"event_type": "a", "timestamp": 1}', reason: /no message_id/ },
      {
        name: 'float-timestamp',
        value: '{"message_id": "m", "event_type": "a", "timestamp": 1.5}',
        reason: /no integer microsecond timestamp/,
      },
      {
        name: 'bad-trait',
        value: '{"message_id": "m", "event_type": "a", "timestamp": 1, "traits": {"t": ["int", "x"]}}',
        reason: /trait t has a string for type int/,
      },
      {
        name: 'huge-message-id',
        value: JSON.stringify({ message_id: 'm'.repeat(100_000), event_type: 5, timestamp: 1 }),
        reason: /has no event_type/,
      },
      { name: 'oversized-garbage', value: Buffer.alloc(2 * maxRecordBytes, 0x7b), reason: /not JSON/ },
    ];
    const messages: Message[] = [];
    good.forEach((event, i) => {
      messages.push({ key: event.message_id, value: encodeEvent(event) });
      if (i % 20 === 0 && bad[i / 20])
        messages.push({ key: `bad:${bad[i / 20].name}`, value: bad[i / 20].value });
    });
    messages.push({ key: 'legal:proto', value: proto });
    matcher = await startMatcher(kafka, ns.settings.redisUrl, settings, [simpleTrigger({ name: 'exists' })]);
    await produceAll(kafka, settings.topics.events, messages);
    await waitFor(() => matcher!.counters.eventsConsumed >= messages.length, 120000);
    // A batch's DLQ records go out after its records are counted: wait for them too.
    let dlq: KafkaMessage[] = [];
    await waitFor(
      async () => (dlq = await readAll(kafka, settings.topics.eventsDlq, ns.prefix)).length >= bad.length,
      60000,
    );
    expect(dlq.map(key).sort()).toEqual(bad.map((b) => `bad:${b.name}`).sort());
    for (const m of dlq) {
      const b = bad.find((x) => `bad:${x.name}` === key(m))!;
      expect(`${b.name}: ${headerString(m.headers, 'dlq.reason')}`).toMatch(b.reason);
      expect(headerString(m.headers, 'dlq.source.topic')).toBe(settings.topics.events);
      expect(headerString(m.headers, 'dlq.reason')!.length).toBeLessThanOrEqual(DLQ_HEADER_MAX_CHARS);
    }
    const oversized = dlq.find((m) => key(m) === 'bad:oversized-garbage')!;
    expect(headerString(oversized.headers, 'dlq.truncated-from')).toBe(String(2 * maxRecordBytes));
    expect(matcher.counters.dlq.get('undecodable event')).toBe(bad.length);
    expect(matcher.counters.matched.get('exists')).toBe(good.length + 1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 300000);
});

describe('bad input on the real broker: the worker role', () => {
  const ns = testNamespace();
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  afterAll(async () => worker?.stop());

  test('undecodable stream records go to streams.dlq with their reason and source (redrivable)', async () => {
    const { kafka, settings } = await topologyFixture(ns, {});
    worker = await startWorker(kafka, ns.settings.redisUrl, settings, {
      pipelines: new Map(),
      handlers: new Map(),
      purgeCompletedStreams: true,
      handlerTimeoutMs: 5000,
      claimTtlMs: 10000,
      maxHops: 1,
    });
    const bad: Message[] = [
      { key: 'bad:not-json', value: '{"stream_id": ' },
      { key: 'bad:not-a-record', value: JSON.stringify({ stream_id: 'x'.repeat(50_000) }) },
    ];
    await produceAll(kafka, settings.topics.streams, bad);
    let dlq: KafkaMessage[] = [];
    await waitFor(
      async () => (dlq = await readAll(kafka, settings.topics.streamsDlq, ns.prefix)).length >= 2,
    );
    expect(dlq.map(key).sort()).toEqual(['bad:not-a-record', 'bad:not-json']);
    for (const m of dlq) {
      expect(headerString(m.headers, 'dlq.reason')).toMatch(/^undecodable stream record: /);
      expect(headerString(m.headers, 'dlq.reason')!.length).toBeLessThanOrEqual(DLQ_HEADER_MAX_CHARS);
      expect(headerString(m.headers, 'dlq.source.topic')).toBe(settings.topics.streams);
      expect(headerString(m.headers, 'dlq.source.partition')).toMatch(/^\d+$/);
      expect(headerString(m.headers, 'dlq.source.offset')).toMatch(/^\d+$/);
      expect(m.value?.toString()).toBe(bad.find((b) => b.key === key(m))!.value);
    }
  }, 120000);
});
