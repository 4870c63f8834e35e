/** The worker's automatic retries without Kafka or Redis: fake batches, producer, lifecycle and retry queue. */
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { HandlerDefinition } from '../../../src/pipeline/handler';
import { RetryPolicy, StreamErrorRecord } from '../../../src/pipeline/retry';
import { DueRetry } from '../../../src/redis/retry-queue';
import { StreamRecord } from '../../../src/streams/model';
import { encodeStreamRecord, decodeStreamRecord } from '../../../src/topology/records';
import { defaultTopologySettings } from '../../../src/config/topology-settings';
import { RoleEvents } from '../../../src/topology/role-events';
import { WorkerOutcomes } from '../../../src/topology/stream-job';
import { CompletionRecord, RetryEmitter, RetryQueue, WorkerRole } from '../../../src/topology/worker-role';
import { logger } from '../../../src/util/logger';
import { testEvent } from '../../support/simple-trigger';
import { fakeBatch, fakeProducer } from './fakes';
import { fakeLifecycle } from './lifecycle-fakes';
import { throwingHandler, verifyingHandler } from '../../fixtures/pipeline/recording-handlers';
import { aStreamRecord } from '../../fixtures/pipeline/stream-records';

const settings = defaultTopologySettings({ namespace: 't' });
const { completed: COMPLETED, streamsErrors: ERRORS, streams: STREAMS } = settings.topics;
const S = 1_000_000;
const policy: RetryPolicy = { attempts: 3, backoffSeconds: 30, maxBackoffSeconds: 600 };

function streamRecord(id: string, overrides: Partial<StreamRecord> = {}): StreamRecord {
  return aStreamRecord(id, [testEvent('compute.instance.exists', 'i-1', 1, `${id}-a`)], overrides);
}

function worker(handler: HandlerDefinition, retries?: RetryQueue) {
  const kafka = fakeProducer();
  const lifecycle = fakeLifecycle();
  const metrics = new WinchesterMetrics('worker');
  const role = new WorkerRole(
    { consumer: {} as never, producer: kafka.producer, lifecycle, retries },
    settings,
    {
      pipelines: new Map([
        ['audit', [{ name: 'handler', params: {} }]],
        ['other', [{ name: 'handler', params: {} }]],
      ]),
      handlers: new Map([['handler', handler]]),
      retries: new Map([['audit', policy]]),
      purgeCompletedStreams: true,
      handlerTimeoutMs: 5000,
      claimTtlMs: 10_000,
      maxHops: 2,
    },
    { metrics, timing: { holder: 'me', renewEveryMs: 5, claimRetryMs: 1, retryPollMs: 5 } },
  );
  return { role, kafka, lifecycle, metrics };
}

const batchOf = (...records: StreamRecord[]) =>
  fakeBatch(records.map(encodeStreamRecord), { topic: 'streams' });
const json = <T>(messages: { value: unknown }[]) => messages.map((m) => JSON.parse(String(m.value)) as T);
const metricValue = async (metric: { get(): Promise<{ values: { value: number; labels: object }[] }> }) =>
  (await metric.get()).values.map(({ labels, value }) => ({ labels, value })).filter((v) => v.value > 0);

describe('WorkerRole: automatic retries', () => {
  const level = logger.level;
  beforeAll(() => void (logger.level = 'silent'));
  afterAll(() => void (logger.level = level));

  it('a failed run with attempts left waits in retry_fire at the next serial: no completion, no error record', async () => {
    const calls: string[] = [];
    const { role, kafka, lifecycle, metrics } = worker(throwingHandler(calls));
    lifecycle.put('s1', 2);
    const payload = batchOf(streamRecord('s1'));
    await role.eachBatch(payload);

    expect(calls).toEqual(['handleEvents', 'rollback']);
    expect(lifecycle.calls).toEqual([
      'readTombstone s1',
      'claim s1',
      'readFailedAttempts s1',
      'scheduleRetry s1',
    ]);
    expect(lifecycle.streams.get('s1')).toEqual({ state: 'retry_fire', serial: 3 });
    const failure = lifecycle.failures.get('s1')!;
    expect(failure).toMatchObject({
      attempts: 1,
      pipeline: 'audit',
      handler: 'handler',
      error: 'boom',
      serial: 3,
    });
    expect(failure.retry_at! - failure.last_failed_at).toBe(30 * S);
    expect(kafka.requests).toEqual([]);
    expect(payload.resolved).toEqual(['0']);
    expect(role.counters).toMatchObject({ retriesScheduled: 1, retriesExhausted: 0 });
    expect(role.counters.streamsErrored.size).toBe(0);
    expect(await metricValue(metrics.pipelineRetries)).toEqual([{ labels: { pipeline: 'audit' }, value: 1 }]);
  });

  it('the original record delivered again after the retry was scheduled is stale: skipped', async () => {
    const calls: string[] = [];
    const { role, lifecycle } = worker(throwingHandler(calls));
    lifecycle.put('s1', 2);
    await role.eachBatch(batchOf(streamRecord('s1')));
    await role.eachBatch(batchOf(streamRecord('s1')));
    expect(calls).toEqual(['handleEvents', 'rollback']);
    expect(role.counters.duplicatesSkipped).toBe(1);
  });

  it('the last attempt failing: error, a completion and one streams.errors record, counted as exhausted', async () => {
    const { role, kafka, lifecycle, metrics } = worker(throwingHandler([]));
    lifecycle.put('s1', 2);
    // The first run, then the two retries, each produced again at the serial it waits at.
    for (const serial of [2, 3, 4]) await role.eachBatch(batchOf(streamRecord('s1', { serial })));

    expect(lifecycle.streams.get('s1')).toEqual({ state: 'error', serial: 5 });
    const [completion] = json<CompletionRecord>(kafka.sentTo(COMPLETED));
    expect(completion).toMatchObject({ outcome: 'error', serial: 4, error: 'handler: boom' });
    const errors = json<StreamErrorRecord>(kafka.sentTo(ERRORS));
    expect(errors).toEqual([
      {
        stream_id: 's1',
        trigger: 'usage',
        kind: 'fired',
        pipeline: 'audit',
        // A record without a version runs the worker's current one, version 0 here.
        pipeline_version: 0,
        serial: 5,
        state: 'error',
        handler: 'handler',
        error: 'boom',
        attempts: 3,
        first_failed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
        failed_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      },
    ]);
    expect(String(kafka.sentTo(ERRORS)[0].key)).toBe('s1');
    // What failed stays beside the errored stream, for `streams list` and the API.
    expect(lifecycle.failures.get('s1')).toMatchObject({ attempts: 3, retry_at: null, serial: 5 });
    expect(role.counters).toMatchObject({ retriesScheduled: 2, retriesExhausted: 1 });
    expect(role.counters.streamsErrored.get('usage')).toBe(1);
    expect(await metricValue(metrics.pipelineRetriesExhausted)).toEqual([
      { labels: { pipeline: 'audit' }, value: 1 },
    ]);
    expect(await metricValue(metrics.streamsErrored)).toEqual([{ labels: { trigger: 'usage' }, value: 1 }]);

    // Delivered again after a crash: the completion and the error record are announced again.
    await role.eachBatch(batchOf(streamRecord('s1', { serial: 4 })));
    expect(kafka.sentTo(COMPLETED)).toHaveLength(2);
    expect(kafka.sentTo(ERRORS).map((m) => String(m.value))).toEqual([
      String(kafka.sentTo(ERRORS)[0].value),
      String(kafka.sentTo(ERRORS)[0].value),
    ]);
  });

  it('a retry that succeeds completes the stream and drops its failed attempts', async () => {
    let runs = 0;
    const calls: string[] = [];
    const verifying = verifyingHandler(calls);
    const flaky: HandlerDefinition = {
      create: (params, context) => {
        if (++runs === 1) throw new Error('not yet');
        return verifying.create(params, context);
      },
    };
    const { role, kafka, lifecycle } = worker(flaky);
    lifecycle.put('s1', 2);
    await role.eachBatch(batchOf(streamRecord('s1')));
    expect(lifecycle.failures.get('s1')).toMatchObject({ attempts: 1, handler: 'handler', error: 'not yet' });
    await role.eachBatch(batchOf(streamRecord('s1', { serial: 3 })));

    expect(lifecycle.streams.get('s1')).toEqual({ state: 'completed', serial: 4 });
    expect(lifecycle.failures.has('s1')).toBe(false);
    expect(json<CompletionRecord>(kafka.sentTo(COMPLETED)).map((c) => [c.outcome, c.serial])).toEqual([
      ['completed', 3],
    ]);
    expect(kafka.sentTo(ERRORS)).toEqual([]);
  });

  it('a pipeline without a retry policy fails once: error, and its streams.errors record', async () => {
    const { role, kafka, lifecycle, metrics } = worker(throwingHandler([]));
    lifecycle.put('s1', 2);
    await role.eachBatch(batchOf(streamRecord('s1', { pipeline: 'other' })));
    expect(lifecycle.streams.get('s1')).toEqual({ state: 'error', serial: 3 });
    expect(json<StreamErrorRecord>(kafka.sentTo(ERRORS)).map((e) => [e.pipeline, e.attempts])).toEqual([
      ['other', 1],
    ]);
    // Nothing was retried, so nothing ran out of retries.
    expect(await metricValue(metrics.pipelineRetriesExhausted)).toEqual([]);
    expect(role.counters.retriesExhausted).toBe(0);
  });
});

/** A retry queue in memory: due entries with the take/release lease of src/redis/retry-queue.ts. */
function fakeRetryQueue(records: Map<string, StreamRecord | null>) {
  const due = new Map<string, number>();
  const calls: string[] = [];
  const queue: RetryQueue = {
    findDue: async (_partitions, now) =>
      [...due].filter(([, at]) => at <= now).map(([streamId]): DueRetry => ({ partition: 0, streamId })),
    take: async ({ streamId }, now, leaseUntil) => {
      calls.push(`take ${streamId}`);
      if (!((due.get(streamId) ?? Infinity) <= now)) return false;
      due.set(streamId, leaseUntil);
      return true;
    },
    record: async ({ streamId }) => records.get(streamId) ?? null,
    release: async ({ streamId }, leaseUntil) => {
      calls.push(`release ${streamId}`);
      return due.get(streamId) === leaseUntil && due.delete(streamId);
    },
  };
  return { queue, due, calls };
}

describe('RetryEmitter: producing due retries again', () => {
  function emitter(records: Map<string, StreamRecord | null>, send: (r: StreamRecord) => Promise<void>) {
    const { queue, due, calls } = fakeRetryQueue(records);
    const events = new RoleEvents<WorkerOutcomes>();
    const emitted: string[] = [];
    const failures: string[] = [];
    events.on('retryEmitted', ({ record }) => emitted.push(record.stream_id));
    events.on('retryEmitFailed', ({ error }) => failures.push((error as Error).message));
    const options = { partitions: [0, 1], leaseMs: 10_000, intervalMs: 5, send };
    return { emitter: new RetryEmitter(queue, events, options), due, calls, emitted, failures };
  }

  it('a due retry is taken, its record produced, then released; one not due yet waits', async () => {
    const record = streamRecord('s1', { serial: 3 });
    const sent: StreamRecord[] = [];
    const {
      emitter: e,
      due,
      calls,
      emitted,
    } = emitter(new Map([['s1', record]]), async (r) => {
      sent.push(r);
    });
    due.set('s1', Date.now() * 1000 - 1);
    due.set('later', Date.now() * 1000 + 3600 * S);
    e.start();
    for (let i = 0; i < 400 && emitted.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    await e.stop();

    expect(sent).toEqual([record]);
    expect(emitted).toEqual(['s1']);
    expect(calls).toEqual(['take s1', 'release s1']);
    expect([...due.keys()]).toEqual(['later']);
  });

  it('a stream that no longer waits is released without a record; a failed produce keeps the lease', async () => {
    const records = new Map([
      ['gone', null],
      ['s2', streamRecord('s2', { serial: 3 })],
    ]);
    const {
      emitter: e,
      due,
      calls,
      emitted,
      failures,
    } = emitter(records, async () => {
      throw new Error('broker down');
    });
    due.set('gone', 0);
    due.set('s2', 0);
    await e.emitDue();

    expect(calls).toEqual(['take gone', 'release gone', 'take s2']);
    expect(emitted).toEqual([]);
    expect(failures).toEqual(['broker down']);
    // Still leased: due again once the lease has passed, for this worker or another.
    expect(due.get('s2')).toBeGreaterThan(Date.now() * 1000);
    expect(due.has('gone')).toBe(false);
  });

  it('the worker role produces the records to streams, keyed by stream id', async () => {
    const record = streamRecord('s1', { serial: 3 });
    const { queue, due } = fakeRetryQueue(new Map([['s1', record]]));
    due.set('s1', 0);
    const { role, kafka } = worker(throwingHandler([]), queue);
    const emitter = (role as unknown as { retryEmitter: RetryEmitter }).retryEmitter;
    await emitter.emitDue();
    const sent = kafka.sentTo(STREAMS);
    expect(sent.map((m) => String(m.key))).toEqual(['s1']);
    expect(decodeStreamRecord(String(sent[0].value))).toEqual(record);
    expect(role.counters.retriesEmitted).toBe(1);
  });
});
