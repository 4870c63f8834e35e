/** The distiller role's stages on the batch loop, without Kafka: a fake batch and a fake producer. */
import { Consumer } from 'kafkajs';
import { parseEventDefinitions } from '../../../src/distiller';
import { decodeEvent } from '../../../src/events/wire';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { DistillerCounters, DistillFunction, DistillerRole } from '../../../src/topology/distiller-role';
import { defaultTopologySettings, TopologySettings } from '../../../src/config/topology-settings';
import { logger } from '../../../src/util/logger';
import { fakeBatch, FakeProducer, fakeProducer, header } from './fakes';

const DEFINITIONS = `
- event_type: compute.instance.*
  traits:
    instance_id:
      fields: payload.instance_id
    memory_mb:
      type: int
      fields: payload.memory_mb
`;

const notification = (
  id: string,
  payload: Record<string, unknown> = {},
  eventType = 'compute.instance.update',
) =>
  JSON.stringify({
    event_type: eventType,
    message_id: id,
    timestamp: '2026-11-01 00:10:58.869000',
    payload: { instance_id: `inst-${id}`, memory_mb: 512, ...payload },
  });

interface Harness {
  role: DistillerRole;
  kafka: FakeProducer;
  settings: TopologySettings;
  metrics: WinchesterMetrics;
  snapshots: DistillerCounters[];
}

function distillerRole(distill?: DistillFunction, overrides: Partial<TopologySettings> = {}): Harness {
  const settings = defaultTopologySettings({ namespace: 't', ...overrides });
  const definitions = parseEventDefinitions(DEFINITIONS, 'defs.yaml');
  const kafka = fakeProducer();
  const metrics = new WinchesterMetrics('distiller');
  const snapshots: DistillerCounters[] = [];
  const role = new DistillerRole(
    { consumer: {} as Consumer, producer: kafka.producer },
    settings,
    distill ?? ((text) => definitions.outcome(text)),
    { metrics, onCounters: (c) => snapshots.push({ ...c, dlq: new Map(c.dlq) }) },
  );
  return { role, kafka, settings, metrics, snapshots };
}

const metricValues = async (metric: { get(): Promise<{ values: { labels: object; value: number }[] }> }) =>
  (await metric.get()).values.map(({ labels, value }) => ({ ...labels, value }));

describe('DistillerRole', () => {
  // The role logs every DLQ record; its log lines are not what these tests look at.
  const level = logger.level;
  beforeAll(() => void (logger.level = 'silent'));
  afterAll(() => void (logger.level = level));

  it('distills good records to `events` and sends bad ones to the DLQ, each with its reason', async () => {
    const { role, kafka, settings, metrics } = distillerRole();
    const payload = fakeBatch(
      [
        notification('a'),
        '{"event_type": "compute.instance.update", ',
        notification('b', { memory_mb: 'lots' }),
        null,
        Buffer.from([0xff, 0xfe]),
        notification('c', {}, 'image.update'),
        notification('d'),
      ],
      { topic: 'notes', partition: 1, firstOffset: 10, keys: ['key-a'] },
    );
    await role.eachBatch(payload);

    const events = kafka.sentTo(settings.topics.events);
    expect(events.map((m) => decodeEvent(String(m.value)).message_id)).toEqual(['a', 'd']);
    expect(events.map((m) => String(m.key))).toEqual(['key-a', 'd']);
    expect(header(events[1], 'winchester.source')).toBe('notes/1/16');

    const dead = kafka.sentTo(settings.topics.notificationsDlq);
    const reasons = dead.map((m) => header(m, 'dlq.reason'));
    expect(reasons.map((r) => r?.split(':')[0])).toEqual([
      'invalid-json',
      'conversion',
      'invalid-json',
      'invalid-json',
    ]);
    expect(reasons[2]).toBe('invalid-json: the record has no value (null)');
    expect(reasons[3]).toBe('invalid-json: the record value is not valid UTF-8');
    expect([header(dead[1], 'dlq.message-id'), header(dead[1], 'dlq.trait')]).toEqual(['b', 'memory_mb']);
    expect(dead.map((m) => header(m, 'dlq.source.offset'))).toEqual(['11', '12', '13', '14']);
    expect(payload.resolved).toEqual(['16']);

    expect(role.counters).toMatchObject({ consumed: 7, distilled: 2, dropped: 1 });
    expect(Object.fromEntries(role.counters.dlq)).toEqual({ 'invalid-json': 3, conversion: 1 });
    expect(await metricValues(metrics.notificationsConsumed)).toEqual([{ value: 7 }]);
    expect(await metricValues(metrics.notificationsDropped)).toEqual([{ reason: 'unmatched', value: 1 }]);
    expect(await metricValues(metrics.dlqRecords)).toEqual([
      { topic: settings.topics.notificationsDlq, reason: 'invalid-json', value: 3 },
      { topic: settings.topics.notificationsDlq, reason: 'conversion', value: 1 },
    ]);
  });

  it('an event over the record limit goes to the DLQ as oversized', async () => {
    const { role, kafka, settings } = distillerRole(undefined, { maxRecordBytes: 4096 });
    await role.eachBatch(
      fakeBatch([notification('big', { instance_id: 'x'.repeat(5000) }), notification('ok')]),
    );

    expect(kafka.sentTo(settings.topics.events)).toHaveLength(1);
    const [dead] = kafka.sentTo(settings.topics.notificationsDlq);
    expect([header(dead, 'dlq.reason'), header(dead, 'dlq.message-id')]).toEqual(['oversized', 'big']);
    expect(Object.fromEntries(role.counters.dlq)).toEqual({ oversized: 1 });
    expect(role.counters.distilled).toBe(1);
  });

  it('a distill function that throws sends that record to the DLQ as internal; the rest go on', async () => {
    const definitions = parseEventDefinitions(DEFINITIONS, 'defs.yaml');
    const { role, kafka, settings } = distillerRole((text) => {
      if (text.includes('"boom"')) throw new Error('kaboom');
      return definitions.outcome(text);
    });
    const payload = fakeBatch([notification('a'), notification('boom'), notification('c')]);
    await role.eachBatch(payload);

    expect(kafka.sentTo(settings.topics.events)).toHaveLength(2);
    const dead = kafka.sentTo(settings.topics.notificationsDlq);
    expect(dead.map((m) => header(m, 'dlq.reason'))).toEqual(['internal: kaboom']);
    expect(Object.fromEntries(role.counters.dlq)).toEqual({ internal: 1 });
    expect(payload.resolved).toEqual(['2']);
  });

  it('emits one named outcome per record, which the counters follow', async () => {
    const { role } = distillerRole();
    const seen: string[] = [];
    for (const name of [
      'consumed',
      'distilled',
      'dropped',
      'deadLettered',
      'chunkDone',
      'batchDone',
    ] as const) {
      role.events.on(name, () => seen.push(name));
    }
    await role.eachBatch(fakeBatch([notification('a'), '{', notification('c', {}, 'other')]));
    expect(seen).toEqual([
      'consumed',
      'distilled',
      'consumed',
      'deadLettered',
      'consumed',
      'dropped',
      'chunkDone',
      'batchDone',
    ]);
  });

  it('works in chunks of 500: counters reported and offsets resolved after each chunk', async () => {
    const { role, kafka, settings, snapshots } = distillerRole();
    const payload = fakeBatch(Array.from({ length: 600 }, (_, i) => notification(`n${i}`)));
    await role.eachBatch(payload);

    expect(payload.resolved).toEqual(['499', '599']);
    expect(payload.heartbeat).toHaveBeenCalledTimes(2);
    expect(snapshots.map((c) => [c.consumed, c.distilled])).toEqual([
      [500, 500],
      [600, 600],
    ]);
    expect(kafka.sentTo(settings.topics.events)).toHaveLength(600);
  });

  it('stops at a chunk boundary when the partition goes stale', async () => {
    const { role, kafka, settings } = distillerRole();
    const payload = fakeBatch(Array.from({ length: 600 }, (_, i) => notification(`n${i}`)));
    payload.isStale.mockImplementation(() => payload.resolved.length > 0);
    await role.eachBatch(payload);

    expect(payload.resolved).toEqual(['499']);
    expect(role.counters.consumed).toBe(500);
    expect(kafka.sentTo(settings.topics.events)).toHaveLength(500);
  });

  it('a failed send throws, leaving the chunk unresolved; delivered again, it is counted again', async () => {
    const { role, kafka, settings } = distillerRole();
    kafka.failNext(new Error('not enough replicas'), settings.topics.events);
    const payload = fakeBatch([notification('a'), '{']);
    await expect(role.eachBatch(payload)).rejects.toThrow('not enough replicas');
    expect(payload.resolved).toEqual([]);
    expect(kafka.requests).toEqual([]);
    // The outcomes were recorded as the records were processed, before the send failed.
    expect(role.counters).toMatchObject({ consumed: 2, distilled: 1 });

    const again = fakeBatch([notification('a'), '{']);
    await role.eachBatch(again);
    expect(again.resolved).toEqual(['1']);
    expect(kafka.sentTo(settings.topics.events)).toHaveLength(1);
    expect(role.counters).toMatchObject({ consumed: 4, distilled: 2 });
    expect(role.counters.dlq.get('invalid-json')).toBe(2);
  });
});
