/** Pipelines by topology version, pure: which version a record runs, and that retries keep it. */
import { HandlerContext, HandlerDefinition } from '../../../src/pipeline/handler';
import {
  PipelineCatalog,
  pipelinesFor,
  PipelineSet,
  singleVersionCatalog,
  undefinedPipeline,
} from '../../../src/pipeline/catalog';
import { PipelineSimulation } from '../../../src/pipeline/offline';
import { afterFailedRun, NO_RETRY, retriedRecord, RetryPolicy } from '../../../src/pipeline/retry';
import { runVersionedStream } from '../../../src/pipeline/stream-run';
import { StreamRecord } from '../../../src/streams/model';
import { Simulation } from '../../../src/streams/simulate';
import { logger } from '../../../src/util/logger';
import { testEvent } from '../../support/simple-trigger';
import { aStreamRecord } from '../../fixtures/pipeline/stream-records';

const quiet = logger.child({}, { level: 'silent' });
const S = 1_000_000;
const retryOnce: RetryPolicy = { attempts: 2, backoffSeconds: 10, maxBackoffSeconds: 10 };

/** Records `label stream_id` for each run; fails while `failing` says so. */
function handler(label: string, runs: string[], failing: () => boolean = () => false): HandlerDefinition {
  return {
    create: () => ({
      handleEvents: (events, env) => {
        runs.push(`${label} ${env.stream_id}`);
        if (failing()) throw new Error(`${label} failed`);
        return events;
      },
      commit: () => undefined,
      rollback: () => undefined,
    }),
  };
}

function version(label: string, runs: string[], retry?: RetryPolicy, failing?: () => boolean): PipelineSet {
  return {
    pipelines: new Map([['audit', [{ name: label, params: {} }]]]),
    handlers: new Map([[label, handler(label, runs, failing)]]),
    retries: new Map(retry ? [['audit', retry]] : []),
  };
}

/** Versions by number, `current` the one a record without a version runs; loads may be async. */
function catalogOf(versions: Record<number, PipelineSet | Error>, current: number) {
  const catalog = {
    current: { version: current },
    topologyOf: async (v: number) => {
      const found = versions[v];
      if (found instanceof Error) throw found;
      return found;
    },
  };
  return catalog satisfies PipelineCatalog;
}

const record = (overrides: Partial<StreamRecord> = {}) =>
  aStreamRecord('s1', [testEvent('compute.instance.exists', 'i-1', 1, 'a')], overrides);

describe('pipelinesFor', () => {
  const runs: string[] = [];
  const v1 = version('v1', runs, retryOnce);
  const v2 = version('v2', runs);
  const catalog = catalogOf({ 1: v1, 2: v2, 3: new Error('v3/pipelines.yaml:2: bad') }, 2);

  it('the version a record names; the current one for a record without', async () => {
    expect(await pipelinesFor(record({ pipeline_version: 1 }), catalog)).toEqual({
      version: 1,
      set: v1,
      retries: v1.retries,
    });
    expect(await pipelinesFor(record(), catalog)).toMatchObject({ version: 2, set: v2 });
  });

  it('a version that cannot be loaded: why, and the current version’s retry policies', async () => {
    const failed = await pipelinesFor(record({ pipeline_version: 3 }), catalog);
    expect(failed).toMatchObject({ version: 3, retries: v2.retries });
    expect(failed.set).toBeUndefined();
    expect(failed.error?.message).toBe('pipeline version 3 cannot be loaded: v3/pipelines.yaml:2: bad');
    const unknown = await pipelinesFor(record({ pipeline_version: 4 }), catalog);
    expect(unknown.error?.message).toBe('pipeline version 4 cannot be loaded: no such version is known');
    const garbled = await pipelinesFor(record({ pipeline_version: -1 }), catalog);
    expect([garbled.version, garbled.error?.message]).toEqual([
      undefined,
      'pipeline version -1 cannot be loaded: the stream record names no version number',
    ]);
  });

  it('without a version log, the role’s own bundle is version 0 and the only one', async () => {
    const single = singleVersionCatalog(v1);
    expect(await pipelinesFor(record({ pipeline_version: 0 }), single)).toMatchObject({
      version: 0,
      set: v1,
    });
    expect(await pipelinesFor(record(), single)).toMatchObject({ version: 0, set: v1 });
    expect((await pipelinesFor(record({ pipeline_version: 1 }), single)).error?.message).toMatch(
      /^pipeline version 1 cannot be loaded/,
    );
  });

  it('a pipeline its version does not define is named, to complete with nothing run', async () => {
    const empty: PipelineSet = { pipelines: new Map(), handlers: new Map() };
    const versioned = await pipelinesFor(record({ pipeline_version: 5 }), catalogOf({ 5: empty }, 5));
    expect(undefinedPipeline(record(), versioned)).toBe('audit');
    expect(undefinedPipeline(record({ pipeline: null }), versioned)).toBeUndefined();
    expect(undefinedPipeline(record(), await pipelinesFor(record(), catalog))).toBeUndefined();
  });

  it('a run whose version cannot be loaded fails with no handler named and nothing made', async () => {
    const context: HandlerContext = {
      logger: quiet,
      dryRun: true,
      publish: async () => undefined,
      now: () => 0,
    };
    const failed = await pipelinesFor(record({ pipeline_version: 3, kind: 'expired' }), catalog);
    const options = { ...v2, handlerTimeoutMs: 1000, maxHops: 3 };
    const run = await runVersionedStream(record({ kind: 'expired' }), failed, options, context);
    expect(run).toMatchObject({
      outcome: 'expire_error',
      error: 'pipeline version 3 cannot be loaded: v3/pipelines.yaml:2: bad',
      newEvents: [],
    });
    expect(run.failedHandler).toBeUndefined();
    expect(run.completion).toMatchObject({ outcome: 'expire_error', error: run.error, new_event_ids: [] });
  });
});

describe('retries keep the version', () => {
  const failedRun = { errorMessage: 'boom', failedHandler: 'v1' };

  it('the failed attempts name the version the run ran; the retried record names it too', () => {
    const named = afterFailedRun(record({ pipeline_version: 1 }), failedRun, {
      previous: null,
      policy: retryOnce,
      failedAt: 5 * S,
    });
    expect(named).toMatchObject({ pipeline_version: 1, serial: 3 });
    // A record without a version ran the current one: the worker says which.
    const resolved = afterFailedRun(record(), failedRun, {
      previous: null,
      policy: retryOnce,
      failedAt: 5 * S,
      pipelineVersion: 2,
    });
    expect(retriedRecord(record(), resolved)).toMatchObject({ serial: 3, pipeline_version: 2 });
    // Attempts from before versions name none: the retry runs whatever is current.
    const old = afterFailedRun(record(), failedRun, { previous: null, policy: NO_RETRY, failedAt: 5 * S });
    expect('pipeline_version' in old).toBe(false);
    expect('pipeline_version' in retriedRecord(record(), old)).toBe(false);
  });

  it('simulate --pipelines with a catalog: a record runs its version, and so does its retry', async () => {
    const runs: string[] = [];
    let v1Fails = true;
    const catalog = catalogOf(
      { 1: version('v1', runs, retryOnce, () => v1Fails), 2: version('v2', runs) },
      1,
    );
    const simulation = new Simulation([], 'event');
    const pipelines = new PipelineSimulation(
      simulation,
      { ...version('v0', runs), catalog, handlerTimeoutMs: 1000, maxHops: 3, logger: quiet },
      () => undefined,
    );
    pipelines.streamFinished(record({ stream_id: 'old' }));
    await pipelines.advance(100 * S);
    expect(runs).toEqual(['v1 old']);
    expect(pipelines.retriesWaiting).toBe(1);

    // Version 2 is current by the time the retry is due: the retry still runs version 1.
    catalog.current.version = 2;
    v1Fails = false;
    pipelines.streamFinished(record({ stream_id: 'new', pipeline_version: 2 }));
    await pipelines.advance(200 * S);
    expect(runs).toEqual(['v1 old', 'v2 new', 'v1 old']);
    expect(pipelines.tally).toMatchObject({ retries: 1, pipelineErrors: 0 });
  });
});
