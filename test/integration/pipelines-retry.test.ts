/**
 * Automatic pipeline retries on real Kafka and Redis: a matcher fires streams, workers run
 * their pipeline under a retry policy, wait in Redis between attempts, and produce a record on
 * `streams.errors` once the attempts run out. Each test has a namespace of its own.
 */
import Redis from 'ioredis';
import { Kafka } from 'kafkajs';
import { buildApi } from '../../src/api/server';
import { encodeEvent } from '../../src/events/wire';
import { registerStreams } from '../../src/cli/streams';
import { createKafka } from '../../src/kafka/client';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { HandlerDefinition } from '../../src/pipeline/handler';
import { RetryPolicy, StreamErrorRecord } from '../../src/pipeline/retry';
import { findStreams } from '../../src/redis/query';
import { END_OF_TIME } from '../../src/streams/simulate';
import { startMatcher } from '../../src/topology/matcher-role';
import { CompletionRecord, startWorker, WorkerOptions, WorkerRole } from '../../src/topology/worker-role';
import { TopologySettings } from '../../src/config/topology-settings';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace, TestNamespace } from '../support/namespace';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { advanceClock, produce, topologyFixture, waitFor } from '../support/topology-harness';

const QUICK: RetryPolicy = { attempts: 3, backoffSeconds: 0.2, maxBackoffSeconds: 1 };

/** Fails the first `failures` runs of each stream (all of them with Infinity); counts every run. */
function flaky(failures: { count: number }, runs: Map<string, number>): HandlerDefinition {
  return {
    create: () => ({
      handleEvents: (events, env) => {
        const n = (runs.get(env.stream_id) ?? 0) + 1;
        runs.set(env.stream_id, n);
        if (n <= failures.count) throw new Error(`attempt ${n} failed`);
        return events;
      },
      commit: () => undefined,
      rollback: () => undefined,
    }),
  };
}

/** One topology per test: its namespace, a matcher, and workers made on demand. */
class Fixture {
  readonly ns: TestNamespace = testNamespace();
  readonly runs = new Map<string, number>();
  readonly failures = { count: 0 };
  readonly metrics = new WinchesterMetrics('worker');
  kafka!: Kafka;
  settings!: TopologySettings;
  private readonly stops: Array<() => Promise<void>> = [];
  private policy: RetryPolicy = QUICK;

  async start(policy: RetryPolicy): Promise<void> {
    const { kafka, settings } = await topologyFixture(this.ns, {
      clock: 'event',
      partitions: { events: 1, repartition: 2, streams: 2 },
    });
    this.kafka = kafka;
    this.settings = settings;
    const matcher = await startMatcher(
      createKafka(this.ns.settings, `${this.ns.prefix}-m`),
      this.ns.settings.redisUrl,
      settings,
      [simpleTrigger({ name: 'audited' })],
    );
    this.stops.push(matcher.stop);
    this.policy = policy;
  }

  async worker(name: string): Promise<WorkerRole> {
    const options: WorkerOptions = {
      pipelines: new Map([['fire_pipe', [{ name: 'flaky', params: {} }]]]),
      handlers: new Map([['flaky', flaky(this.failures, this.runs)]]),
      retries: new Map([['fire_pipe', this.policy]]),
      purgeCompletedStreams: true,
      handlerTimeoutMs: 5000,
      claimTtlMs: 10000,
      maxHops: 1,
    };
    const kafka = createKafka(this.ns.settings, `${this.ns.prefix}-${name}`);
    const worker = await startWorker(kafka, this.ns.settings.redisUrl, this.settings, options, this.metrics);
    this.stops.push(worker.stop);
    return worker;
  }

  /** One stream of `audited` fired: its `exists` event, then the clock at the end of time. */
  async fireOneStream(instance: string): Promise<void> {
    const event = testEvent('compute.instance.exists', instance, 1000, `${instance}-exists`);
    await produce(this.kafka, this.settings.topics.events, [{ key: instance, value: encodeEvent(event) }]);
    await advanceClock(this.kafka, this.settings, END_OF_TIME);
  }

  async stop(): Promise<void> {
    for (const stop of this.stops.reverse()) await stop().catch(() => undefined);
  }

  redis(): Redis {
    return new Redis(this.ns.settings.redisUrl);
  }

  async metric(name: 'pipelineRetries' | 'pipelineRetriesExhausted'): Promise<number> {
    const { values } = await this.metrics[name].get();
    return values.filter((v) => v.labels.pipeline === 'fire_pipe').reduce((sum, v) => sum + v.value, 0);
  }
}

/** Every record of a topic, read from the beginning until `enough` or `timeoutMs`. */
async function readTopic<T>(
  kafka: Kafka,
  topic: string,
  enough: (values: T[]) => boolean,
  timeoutMs = 30000,
): Promise<T[]> {
  const values: T[] = [];
  const consumer = kafka.consumer({ groupId: `${topic}.reader.${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => void values.push(JSON.parse(String(message.value)) as T),
  });
  await waitFor(() => enough(values), timeoutMs).catch(() => undefined);
  // A moment more, so a record that should not be there has had its chance to arrive.
  await new Promise((r) => setTimeout(r, 1500));
  await consumer.disconnect();
  return values;
}

describe('automatic pipeline retries on real Kafka and Redis', () => {
  let fixture: Fixture;
  afterEach(async () => {
    await fixture.stop();
  });

  test('a pipeline failing its first two attempts with attempts: 3 completes on the third', async () => {
    fixture = new Fixture();
    fixture.failures.count = 2;
    await fixture.start(QUICK);
    const worker = await fixture.worker('w1');
    await fixture.fireOneStream('a');
    await waitFor(() => (worker.counters.streamsCompleted.get('audited') ?? 0) >= 1, 60000);

    expect([...fixture.runs.values()]).toEqual([3]);
    const completions = await readTopic<CompletionRecord>(
      fixture.kafka,
      fixture.settings.topics.completed,
      (v) => v.length >= 1,
    );
    expect(completions.map((c) => c.outcome)).toEqual(['completed']);
    const errors = await readTopic<StreamErrorRecord>(
      fixture.kafka,
      fixture.settings.topics.streamsErrors,
      () => false,
      3000,
    );
    expect(errors).toEqual([]);
    expect(worker.counters).toMatchObject({ retriesScheduled: 2, retriesExhausted: 0, retriesEmitted: 2 });
    expect(await fixture.metric('pipelineRetries')).toBe(2);
    expect(await fixture.metric('pipelineRetriesExhausted')).toBe(0);
  });

  test('a pipeline failing always ends in error with one record on streams.errors; `streams retry` runs it again', async () => {
    fixture = new Fixture();
    fixture.failures.count = Infinity;
    await fixture.start(QUICK);
    const worker = await fixture.worker('w1');
    await fixture.fireOneStream('b');
    await waitFor(() => (worker.counters.streamsErrored.get('audited') ?? 0) >= 1, 60000);

    const errors = await readTopic<StreamErrorRecord>(
      fixture.kafka,
      fixture.settings.topics.streamsErrors,
      (v) => v.length >= 1,
    );
    expect(errors).toHaveLength(1);
    const [record] = errors;
    expect(record).toMatchObject({
      trigger: 'audited',
      kind: 'fired',
      pipeline: 'fire_pipe',
      state: 'error',
      handler: 'flaky',
      error: 'attempt 3 failed',
      attempts: 3,
    });
    expect(record.first_failed_at < record.failed_at).toBe(true);
    expect(fixture.runs.get(record.stream_id)).toBe(3);
    expect(await fixture.metric('pipelineRetries')).toBe(2);
    expect(await fixture.metric('pipelineRetriesExhausted')).toBe(1);

    const redis = fixture.redis();
    try {
      // `streams list --state error` and the API read it with what failed.
      const [listed] = await findStreams(redis, fixture.ns.prefix, { state: 'error', count: 10 });
      expect(listed).toMatchObject({ id: record.stream_id, state: 'error', serial: record.serial });
      expect(listed.failure).toMatchObject({ attempts: 3, handler: 'flaky', retry_at: null });
      const cli = await runInProcess(registerStreams, [
        'streams',
        'list',
        '--state',
        'error',
        '--namespace',
        fixture.ns.prefix,
      ]);
      expect(cli.lines).toEqual([
        expect.stringMatching(
          new RegExp(`^${record.stream_id}\\t.*\\t3 failed attempts\\tflaky: attempt 3 failed$`),
        ),
      ]);

      const app = buildApi({ metrics: new WinchesterMetrics('api'), redis, namespace: fixture.ns.prefix });
      const shown = (await app.inject({ url: `/v1/streams/${record.stream_id}` })).json();
      await app.close();
      expect(shown).toMatchObject({
        state: 'error',
        failure: {
          attempts: 3,
          pipeline: 'fire_pipe',
          handler: 'flaky',
          error: 'attempt 3 failed',
          first_failed_at: record.first_failed_at,
          last_failed_at: record.failed_at,
          next_retry_at: null,
        },
      });

      // The handler mends; an operator retries the stream with fresh attempts.
      fixture.failures.count = 3;
      const retried = await runInProcess(registerStreams, [
        'streams',
        'retry',
        record.stream_id,
        '--namespace',
        fixture.ns.prefix,
      ]);
      expect(retried).toMatchObject({
        code: 0,
        lines: [`${record.stream_id} is now retry_fire; its matcher re-emits it`],
      });
      await waitFor(() => (worker.counters.streamsCompleted.get('audited') ?? 0) >= 1, 60000);
      expect(fixture.runs.get(record.stream_id)).toBe(4);
      expect(await findStreams(redis, fixture.ns.prefix, { state: 'error', count: 10 })).toEqual([]);

      const again = await runInProcess(registerStreams, [
        'streams',
        'retry',
        record.stream_id,
        '--namespace',
        fixture.ns.prefix,
      ]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^winchester: stream \S+ not found \(completed streams are purged\)\n$/);
    } finally {
      redis.disconnect();
    }
  });

  test('a worker stopped while a retry waits: another worker started later picks the retry up and completes it', async () => {
    fixture = new Fixture();
    fixture.failures.count = 1;
    await fixture.start({ attempts: 2, backoffSeconds: 3, maxBackoffSeconds: 3 });
    const first = await fixture.worker('w1');
    await fixture.fireOneStream('c');
    await waitFor(() => first.counters.retriesScheduled >= 1, 60000);
    await first.stop();

    const redis = fixture.redis();
    try {
      const [waiting] = await findStreams(redis, fixture.ns.prefix, { state: 'retry_fire', count: 10 });
      expect(waiting.failure).toMatchObject({ attempts: 1, serial: waiting.serial });
      expect(waiting.failure!.retry_at).toBeGreaterThan(Date.now() * 1000 - 3_000_000);
    } finally {
      redis.disconnect();
    }

    const second = await fixture.worker('w2');
    await waitFor(() => (second.counters.streamsCompleted.get('audited') ?? 0) >= 1, 60000);
    expect([...fixture.runs.values()]).toEqual([2]);
    expect(second.counters.retriesEmitted).toBe(1);
    const completions = await readTopic<CompletionRecord>(
      fixture.kafka,
      fixture.settings.topics.completed,
      (v) => v.length >= 1,
    );
    expect(completions.map((c) => c.outcome)).toEqual(['completed']);
  });
});
