/** The worker as a stream job on the batch loop, without Kafka or Redis: fake batches, producer and lifecycle. */
import { Consumer, Producer } from 'kafkajs';
import { decodeEvent } from '../../../src/events/wire';
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { HandlerDefinition } from '../../../src/pipeline/handler';
import { StreamRecord } from '../../../src/streams/model';
import { encodeStreamRecord } from '../../../src/topology/records';
import { defaultTopologySettings } from '../../../src/config/topology-settings';
import { CompletionRecord, WorkerOptions, WorkerRole } from '../../../src/topology/worker-role';
import { logger } from '../../../src/util/logger';
import { testEvent } from '../../support/simple-trigger';
import { fakeBatch, fakeProducer, header } from './fakes';
import { fakeLifecycle } from './lifecycle-fakes';
import { throwingHandler, verifyingHandler } from '../../fixtures/pipeline/recording-handlers';
import { aStreamRecord } from '../../fixtures/pipeline/stream-records';

const settings = defaultTopologySettings({ namespace: 't' });
const { events: EVENTS, completed: COMPLETED, streamsDlq: DLQ } = settings.topics;

function streamRecord(id: string, overrides: Partial<StreamRecord> = {}): StreamRecord {
  return aStreamRecord(id, [testEvent('compute.instance.exists', 'i-1', 1, `${id}-a`)], overrides);
}

function worker(handler: HandlerDefinition, overrides: Partial<WorkerOptions> = {}) {
  const kafka = fakeProducer();
  const lifecycle = fakeLifecycle();
  const metrics = new WinchesterMetrics('worker');
  const options: WorkerOptions = {
    pipelines: new Map([['audit', [{ name: 'handler', params: {} }]]]),
    handlers: new Map([['handler', handler]]),
    purgeCompletedStreams: true,
    handlerTimeoutMs: 5000,
    claimTtlMs: 10_000,
    maxHops: 2,
    ...overrides,
  };
  const role = new WorkerRole(
    { consumer: {} as Consumer, producer: kafka.producer, lifecycle },
    settings,
    options,
    {
      metrics,
      timing: { holder: 'me', renewEveryMs: 5, claimRetryMs: 1 },
    },
  );
  return { role, kafka, lifecycle, metrics };
}

const batchOf = (...records: StreamRecord[]) =>
  fakeBatch(records.map(encodeStreamRecord), { topic: 'streams' });
const completions = (kafka: ReturnType<typeof fakeProducer>) =>
  kafka.sentTo(COMPLETED).map((m) => JSON.parse(String(m.value)) as CompletionRecord);
const metricTotal = async (metric: { get(): Promise<{ values: { value: number }[] }> }) =>
  (await metric.get()).values.reduce((sum, { value }) => sum + value, 0);

describe('WorkerRole', () => {
  const level = logger.level;
  beforeAll(() => void (logger.level = 'silent'));
  afterAll(() => void (logger.level = level));

  it('claims, runs and finishes a stream: new events, then the finish script, then its completion', async () => {
    const calls: string[] = [];
    const { role, kafka, lifecycle } = worker(verifyingHandler(calls));
    lifecycle.put('s1', 2);
    const payload = batchOf(streamRecord('s1'));
    kafka.producer.send = wrapSend(kafka.producer.send, lifecycle.calls);
    await role.eachBatch(payload);

    expect(calls).toEqual(['handleEvents', 'commit']);
    expect(lifecycle.calls).toEqual([
      'readTombstone s1',
      'claim s1',
      `send ${EVENTS}`,
      'finish s1 completed',
      `send ${COMPLETED}`,
    ]);
    const [made] = kafka.sentTo(EVENTS);
    expect([String(made.key), decodeEvent(String(made.value)).hops]).toEqual(['s1-a.verified', 1]);
    expect(completions(kafka)).toEqual([
      {
        stream_id: 's1',
        trigger: 'usage',
        kind: 'fired',
        pipeline: 'audit',
        serial: 2,
        outcome: 'completed',
        message_ids: ['s1-a'],
        new_event_ids: ['s1-a.verified'],
        distinguished_by: {},
        first: 1_000_000,
        last: 2_000_000,
      },
    ]);
    expect(lifecycle.streams.get('s1')).toEqual({ state: 'completed', serial: 3 });
    expect(lifecycle.tombstones.get('s1')?.outcome).toBe(String(kafka.sentTo(COMPLETED)[0].value));
    expect(payload.resolved).toEqual(['0']);
    expect(payload.commitOffsetsIfNecessary).toHaveBeenCalledTimes(1);
    expect(role.counters).toMatchObject({ newEvents: 1, duplicatesSkipped: 0 });
    expect(role.counters.streamsCompleted.get('usage')).toBe(1);
    expect(role.counters.pipelineSeconds.size).toBe(1);
    expect(role.counters.handlerSeconds.get('handler')?.size).toBe(1);
  });

  it('a stale serial (a duplicate record) is skipped: nothing runs, its offset is resolved', async () => {
    const calls: string[] = [];
    const { role, kafka, lifecycle, metrics } = worker(verifyingHandler(calls));
    lifecycle.put('s1', 3);
    const payload = batchOf(streamRecord('s1'), streamRecord('gone'));
    await role.eachBatch(payload);

    expect(calls).toEqual([]);
    expect(kafka.requests).toEqual([]);
    expect(payload.resolved).toEqual(['0', '1']);
    expect(role.counters.duplicatesSkipped).toBe(2);
    expect(await metricTotal(metrics.duplicateStreamRecords)).toBe(2);
  });

  it('a claim held by another worker: waits, then skips the stream once that worker finished it', async () => {
    const calls: string[] = [];
    const { role, kafka, lifecycle } = worker(verifyingHandler(calls));
    lifecycle.put('s1', 2);
    lifecycle.streams.get('s1')!.claimedBy = 'other';
    const payload = batchOf(streamRecord('s1'));
    payload.heartbeat.mockImplementation(async () => {
      // The other worker finishes meanwhile.
      lifecycle.streams.set('s1', { state: 'completed', serial: 3 });
    });
    await role.eachBatch(payload);

    expect(lifecycle.calls).toEqual(['readTombstone s1', 'claim s1', 'claim s1']);
    expect(calls).toEqual([]);
    expect(kafka.requests).toEqual([]);
    expect(payload.resolved).toEqual(['0']);
    expect(role.counters.duplicatesSkipped).toBe(1);
  });

  it('a claim held elsewhere while the partition goes stale: the record is left to be delivered again', async () => {
    const { role, kafka, lifecycle } = worker(verifyingHandler([]));
    lifecycle.put('s1', 2);
    lifecycle.streams.get('s1')!.claimedBy = 'other';
    const payload = batchOf(streamRecord('s1'), streamRecord('s2'));
    payload.isStale.mockImplementation(() => lifecycle.calls.length > 1);
    await role.eachBatch(payload);

    expect(lifecycle.calls).toEqual(['readTombstone s1', 'claim s1']);
    expect(kafka.requests).toEqual([]);
    expect(payload.resolved).toEqual([]);
    expect(payload.heartbeat).not.toHaveBeenCalled();
  });

  it('a handler that throws: rolled back, the stream in error (expire_error when expired), no new events', async () => {
    const calls: string[] = [];
    const { role, kafka, lifecycle, metrics } = worker(throwingHandler(calls));
    lifecycle.put('f', 2);
    lifecycle.put('x', 2, 'expiring');
    await role.eachBatch(batchOf(streamRecord('f'), streamRecord('x', { kind: 'expired' })));

    expect(calls).toEqual(['handleEvents', 'rollback', 'handleEvents', 'rollback']);
    expect([lifecycle.streams.get('f')?.state, lifecycle.streams.get('x')?.state]).toEqual([
      'error',
      'expire_error',
    ]);
    expect(kafka.sentTo(EVENTS)).toEqual([]);
    expect(completions(kafka).map((c) => [c.outcome, c.error, c.new_event_ids])).toEqual([
      ['error', 'handler: boom', []],
      ['expire_error', 'handler: boom', []],
    ]);
    expect(role.counters.streamsErrored.get('usage')).toBe(2);
    expect(await metricTotal(metrics.streamsErrored)).toBe(2);
  });

  it('new events get their generation; the loop guard drops those deeper than max_pipeline_hops', async () => {
    const { role, kafka, lifecycle, metrics } = worker(verifyingHandler([]), { maxHops: 2 });
    lifecycle.put('deep', 2);
    lifecycle.put('shallow', 2);
    const deep = streamRecord('deep');
    deep.events[0].hops = 2;
    const shallow = streamRecord('shallow');
    shallow.events[0].hops = 1;
    await role.eachBatch(batchOf(deep, shallow));

    const made = kafka.sentTo(EVENTS).map((m) => decodeEvent(String(m.value)));
    expect(made.map((e) => [e.message_id, e.hops])).toEqual([['shallow-a.verified', 2]]);
    // The completion names every new event the pipeline made, held back or not.
    expect(completions(kafka).map((c) => c.new_event_ids)).toEqual([
      ['deep-a.verified'],
      ['shallow-a.verified'],
    ]);
    expect(role.counters).toMatchObject({ loopGuardDropped: 1, newEvents: 1 });
    expect(await metricTotal(metrics.loopGuardDropped)).toBe(1);
  });

  it('a stream already finished at its serial: its completion is announced again, nothing runs', async () => {
    const calls: string[] = [];
    const { role, kafka, lifecycle } = worker(verifyingHandler(calls));
    lifecycle.put('s1', 2);
    await role.eachBatch(batchOf(streamRecord('s1')));
    // Redelivered (its offset was not committed before a crash).
    await role.eachBatch(batchOf(streamRecord('s1')));

    expect(calls).toEqual(['handleEvents', 'commit']);
    const announced = kafka.sentTo(COMPLETED).map((m) => String(m.value));
    expect(announced).toHaveLength(2);
    expect(announced[1]).toBe(announced[0]);
    expect(kafka.sentTo(EVENTS)).toHaveLength(1);
    expect(role.counters.duplicatesSkipped).toBe(1);
    expect(role.counters.streamsCompleted.get('usage')).toBe(1);
  });

  it('a stream that moved on while its pipeline ran keeps its state; its outcome is dropped', async () => {
    const { role, kafka, lifecycle } = worker(
      verifyingHandler([], { wait: async () => lifecycle.put('s1', 3, 'retry_fire') }),
    );
    lifecycle.put('s1', 2);
    const payload = batchOf(streamRecord('s1'));
    await role.eachBatch(payload);

    expect(lifecycle.streams.get('s1')).toMatchObject({ state: 'retry_fire', serial: 3 });
    // New events were sent before the finish was refused: the same ids if run again.
    expect(kafka.sentTo(EVENTS)).toHaveLength(1);
    expect(kafka.sentTo(COMPLETED)).toEqual([]);
    expect(payload.resolved).toEqual(['0']);
    expect(role.counters).toMatchObject({ duplicatesSkipped: 1, newEvents: 1 });
    expect(role.counters.streamsCompleted.size).toBe(0);
  });

  it('a partition taken away before a handler starts: the run is abandoned, nothing finished or resolved', async () => {
    const calls: string[] = [];
    const { role, kafka, lifecycle } = worker(verifyingHandler(calls));
    lifecycle.put('s1', 2);
    const payload = batchOf(streamRecord('s1'));
    payload.isStale.mockImplementation(() => lifecycle.calls.includes('claim s1'));
    await role.eachBatch(payload);

    expect(calls).toEqual(['rollback']);
    expect(lifecycle.streams.get('s1')).toMatchObject({ state: 'firing', serial: 2 });
    expect(kafka.requests).toEqual([]);
    expect(payload.resolved).toEqual([]);
  });

  it('renews its claim and heartbeats while a long handler runs', async () => {
    const { role, lifecycle } = worker(
      verifyingHandler([], { wait: () => new Promise((r) => setTimeout(r, 40)) }),
    );
    lifecycle.put('s1', 2);
    const payload = batchOf(streamRecord('s1'));
    await role.eachBatch(payload);

    const renewals = lifecycle.calls.filter((c) => c === 'renew s1').length;
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(payload.heartbeat.mock.calls.length).toBeGreaterThan(renewals);
    // No renewal after the finish: the claim is released with it.
    expect(lifecycle.calls.at(-1)).toBe('finish s1 completed');
  });

  it('an undecodable record goes to the streams DLQ with its reason and source; the rest go on', async () => {
    const { role, kafka, lifecycle, metrics } = worker(verifyingHandler([]));
    lifecycle.put('s1', 2);
    const payload = fakeBatch(['{"stream_id": ', encodeStreamRecord(streamRecord('s1')), null], {
      topic: 'streams',
      partition: 1,
      firstOffset: 7,
      keys: ['bad'],
    });
    await role.eachBatch(payload);

    const dead = kafka.sentTo(DLQ);
    expect(dead.map((m) => m.value && String(m.value))).toEqual(['{"stream_id": ', null]);
    expect(dead.every((m) => header(m, 'dlq.reason')!.startsWith('undecodable stream record: '))).toBe(true);
    expect(dead.map((m) => header(m, 'dlq.source.offset'))).toEqual(['7', '9']);
    expect([header(dead[0], 'dlq.source.topic'), header(dead[0], 'dlq.source.partition')]).toEqual([
      'streams',
      '1',
    ]);
    expect(String(dead[0].key)).toBe('bad');
    expect(completions(kafka).map((c) => c.stream_id)).toEqual(['s1']);
    expect(payload.resolved).toEqual(['7', '8', '9']);
    expect(await metricTotal(metrics.dlqRecords)).toBe(2);
  });

  it('emits one named outcome per step, in order', async () => {
    const { role, lifecycle } = worker(verifyingHandler([]), { maxHops: 1 });
    lifecycle.put('s1', 2);
    const seen: string[] = [];
    const names = [
      'undecodable',
      'reannounced',
      'skipped',
      'ran',
      'heldBack',
      'newEventsSent',
      'finished',
    ] as const;
    for (const name of names) role.events.on(name, () => seen.push(name));
    const deep = streamRecord('s1');
    deep.events[0].hops = 1;
    await role.eachBatch(fakeBatch(['{', encodeStreamRecord(deep), encodeStreamRecord(deep)]));
    expect(seen).toEqual(['undecodable', 'ran', 'heldBack', 'newEventsSent', 'finished', 'reannounced']);
  });
});

/** Records each produce request's topic among the lifecycle calls, to see their order. */
function wrapSend(send: Producer['send'], calls: string[]): Producer['send'] {
  return async (record) => {
    calls.push(`send ${record.topic}`);
    return send(record);
  };
}
