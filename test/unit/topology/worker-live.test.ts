/** The worker under live topology changes: each stream record runs the pipelines of its own version. */
import { Consumer } from 'kafkajs';
import { PipelineCatalog, PipelineSet } from '../../../src/pipeline/catalog';
import { HandlerDefinition } from '../../../src/pipeline/handler';
import { retriedRecord, RetryPolicy, StreamErrorRecord } from '../../../src/pipeline/retry';
import { StreamRecord } from '../../../src/streams/model';
import { defaultTopologySettings } from '../../../src/config/topology-settings';
import { encodeStreamRecord } from '../../../src/topology/records';
import { CompletionRecord, WorkerOptions, WorkerRole } from '../../../src/topology/worker-role';
import { logger } from '../../../src/util/logger';
import { testEvent } from '../../support/simple-trigger';
import { throwingHandler } from '../../fixtures/pipeline/recording-handlers';
import { aStreamRecord } from '../../fixtures/pipeline/stream-records';
import { fakeBatch, fakeProducer } from './fakes';
import { fakeLifecycle } from './lifecycle-fakes';

const settings = defaultTopologySettings({ namespace: 't' });
const { completed: COMPLETED, streamsErrors: ERRORS } = settings.topics;
const twoAttempts: RetryPolicy = { attempts: 2, backoffSeconds: 30, maxBackoffSeconds: 600 };

/** A handler that records `label` for each stream it runs, and passes the events on. */
function labelled(label: string, runs: string[], closed?: string[]): HandlerDefinition {
  return {
    create: () => ({
      handleEvents: (events, env) => {
        runs.push(`${label} ${env.stream_id}`);
        return events;
      },
      commit: () => undefined,
      rollback: () => undefined,
    }),
    close: async () => void closed?.push(label),
  };
}

/** The `audit` pipeline of one version: one step, its handler named after the version. */
function version(label: string, handler: HandlerDefinition, retries?: RetryPolicy): PipelineSet {
  return {
    pipelines: new Map([['audit', [{ name: label, params: {} }]]]),
    handlers: new Map([[label, handler]]),
    retries: new Map(retries ? [['audit', retries]] : []),
  };
}

/** The follower as the worker sees it: versions by number, one of them current; `broken` ones throw. */
class FakeCatalog implements PipelineCatalog {
  current = { version: 1 };
  readonly broken = new Map<number, string>();

  constructor(readonly versions: Map<number, PipelineSet>) {}

  topologyOf(version: number): PipelineSet | undefined {
    const why = this.broken.get(version);
    if (why) throw new Error(why);
    return this.versions.get(version);
  }
}

function worker(catalog: PipelineCatalog, base: PipelineSet) {
  const kafka = fakeProducer();
  const lifecycle = fakeLifecycle();
  const options: WorkerOptions = {
    ...base,
    catalog,
    purgeCompletedStreams: true,
    handlerTimeoutMs: 5000,
    claimTtlMs: 10_000,
    maxHops: 2,
  };
  // Stopping stops and disconnects the clients: these do nothing.
  const consumer = { stop: async () => undefined, disconnect: async () => undefined } as unknown as Consumer;
  kafka.producer.disconnect = async () => undefined;
  const role = new WorkerRole({ consumer, producer: kafka.producer, lifecycle }, settings, options, {
    timing: { holder: 'me', renewEveryMs: 5, claimRetryMs: 1 },
  });
  return { role, kafka, lifecycle };
}

const streamRecord = (id: string, overrides: Partial<StreamRecord> = {}) =>
  aStreamRecord(id, [testEvent('compute.instance.exists', 'i-1', 1, `${id}-a`)], overrides);
const batchOf = (...records: StreamRecord[]) =>
  fakeBatch(records.map(encodeStreamRecord), { topic: 'streams' });
const json = <T>(messages: { value: unknown }[]) => messages.map((m) => JSON.parse(String(m.value)) as T);

/** Versions 1 and 2 of `audit`, each recording its runs under its own name. */
function twoVersions(options: { v1Fails?: boolean } = {}) {
  const runs: string[] = [];
  const closed: string[] = [];
  const v1Handler = options.v1Fails ? throwingHandler(runs, 'v1') : labelled('v1', runs, closed);
  const v1 = version('v1', v1Handler, twoAttempts);
  const v2 = version('v2', labelled('v2', runs, closed));
  const catalog = new FakeCatalog(
    new Map([
      [1, v1],
      [2, v2],
    ]),
  );
  return { runs, closed, catalog, ...worker(catalog, v1) };
}

describe('WorkerRole: pipelines by topology version', () => {
  const level = logger.level;
  beforeAll(() => void (logger.level = 'silent'));
  afterAll(() => void (logger.level = level));

  it('each record runs the pipeline of the version it names, whichever is current', async () => {
    const { role, runs, lifecycle, catalog } = twoVersions();
    catalog.current = { version: 2 };
    for (const id of ['a', 'b', 'c']) lifecycle.put(id, 2);
    const records = [
      streamRecord('a', { pipeline_version: 1 }),
      streamRecord('b', { pipeline_version: 2 }),
      // From a matcher before versions: the worker's current version.
      streamRecord('c'),
    ];
    await role.eachBatch(batchOf(...records));

    expect(runs).toEqual(['v1 a', 'v2 b', 'v2 c']);
    expect([...lifecycle.streams.values()].map((s) => s.state)).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
  });

  it('a record delivered again after a new version is current runs the version it was fired with', async () => {
    const { role, runs, lifecycle, catalog } = twoVersions();
    lifecycle.put('s1', 2);
    const fired = streamRecord('s1', { pipeline_version: 1 });
    // The first delivery's partition is taken away before its handler starts: nothing is finished.
    const first = batchOf(fired);
    first.isStale.mockImplementation(() => lifecycle.calls.includes('claim s1'));
    await role.eachBatch(first);
    expect(first.resolved).toEqual([]);

    // Version 2, with another `audit`, is applied; the record comes again.
    catalog.current = { version: 2 };
    lifecycle.streams.get('s1')!.claimedBy = undefined;
    await role.eachBatch(batchOf(fired));

    expect(runs).toEqual(['v1 s1']);
    expect(lifecycle.streams.get('s1')).toEqual({ state: 'completed', serial: 3 });
  });

  it('a version that cannot be loaded: the stream goes to error with why, through the failure path', async () => {
    const { role, kafka, lifecycle, runs, catalog } = twoVersions();
    catalog.broken.set(3, 'v3/pipelines.yaml:4: unknown handler frobnicate');
    catalog.current = { version: 2 };
    lifecycle.put('broken', 2);
    lifecycle.put('unknown', 2, 'expiring');
    lifecycle.put('garbled', 2);
    const records = [
      streamRecord('broken', { pipeline_version: 3 }),
      streamRecord('unknown', { pipeline_version: 9, kind: 'expired' }),
      streamRecord('garbled', { pipeline_version: 'x' as unknown as number }),
    ];
    await role.eachBatch(batchOf(...records));

    expect(runs).toEqual([]);
    expect([...lifecycle.streams.values()].map((s) => s.state)).toEqual(['error', 'expire_error', 'error']);
    expect(json<CompletionRecord>(kafka.sentTo(COMPLETED)).map((c) => [c.outcome, c.error])).toEqual([
      ['error', 'pipeline version 3 cannot be loaded: v3/pipelines.yaml:4: unknown handler frobnicate'],
      ['expire_error', 'pipeline version 9 cannot be loaded: no such version is known'],
      ['error', 'pipeline version "x" cannot be loaded: the stream record names no version number'],
    ]);
    // The current version's `audit` makes no retries: each is in error for good, on streams.errors.
    const errors = json<StreamErrorRecord>(kafka.sentTo(ERRORS));
    expect(errors.map((e) => [e.stream_id, e.pipeline_version, e.handler, e.attempts])).toEqual([
      ['broken', 3, null, 1],
      ['unknown', 9, null, 1],
      ['garbled', undefined, null, 1],
    ]);
    expect(role.counters.streamsErrored.get('usage')).toBe(3);
  });

  it('a version that cannot be loaded follows the current version’s retry policy for the pipeline', async () => {
    const { role, lifecycle } = twoVersions();
    // Version 1, current, retries `audit` twice.
    lifecycle.put('s1', 2);
    await role.eachBatch(batchOf(streamRecord('s1', { pipeline_version: 7 })));

    expect(lifecycle.streams.get('s1')).toEqual({ state: 'retry_fire', serial: 3 });
    expect(lifecycle.failures.get('s1')).toMatchObject({
      attempts: 1,
      pipeline_version: 7,
      handler: null,
      error: 'pipeline version 7 cannot be loaded: no such version is known',
    });
  });

  it('a retry runs the version the failed run ran, though another is current by then', async () => {
    const { role, runs, lifecycle, catalog } = twoVersions({ v1Fails: true });
    lifecycle.put('s1', 2);
    // No version named: the failed run ran version 1, the current one then.
    const original = streamRecord('s1');
    await role.eachBatch(batchOf(original));
    const failure = lifecycle.failures.get('s1')!;
    expect(failure).toMatchObject({ attempts: 1, pipeline_version: 1, retry_at: expect.any(Number) });

    catalog.current = { version: 2 };
    const retry = retriedRecord(original, failure);
    expect(retry).toMatchObject({ serial: 3, pipeline_version: 1 });
    await role.eachBatch(batchOf(retry));

    expect(runs).toEqual(['v1 handleEvents', 'v1 rollback', 'v1 handleEvents', 'v1 rollback']);
    expect(lifecycle.streams.get('s1')).toEqual({ state: 'error', serial: 4 });
    expect(lifecycle.failures.get('s1')).toMatchObject({ attempts: 2, pipeline_version: 1, retry_at: null });
  });

  it('a record naming a pipeline its version does not define completes with nothing run, and says so', async () => {
    const { role, runs, lifecycle, catalog } = twoVersions();
    const v3: PipelineSet = { pipelines: new Map(), handlers: new Map() };
    catalog.versions.set(3, v3);
    const undefinedPipelines: string[] = [];
    role.events.on('pipelineUndefined', ({ pipeline, version: v }) =>
      undefinedPipelines.push(`${pipeline}@${v}`),
    );
    lifecycle.put('s1', 2);
    await role.eachBatch(batchOf(streamRecord('s1', { pipeline_version: 3 })));

    expect(runs).toEqual([]);
    expect(undefinedPipelines).toEqual(['audit@3']);
    expect(lifecycle.streams.get('s1')).toEqual({ state: 'completed', serial: 3 });
  });

  it('stopping closes the handler kinds of every version a stream ran', async () => {
    const { role, closed, lifecycle } = twoVersions();
    lifecycle.put('s1', 2);
    await role.eachBatch(batchOf(streamRecord('s1', { pipeline_version: 2 })));
    await role.stop();
    // Version 1's are the options' own (the base bundle), version 2's those of the stream it ran.
    expect(closed.sort()).toEqual(['v1', 'v2']);
  });
});
