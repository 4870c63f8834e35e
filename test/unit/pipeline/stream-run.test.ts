/** What a fired or expired stream's run means, shared by the worker and `simulate --pipelines`. */
import { HandlerContext, HandlerDefinition, PipelineEnv } from '../../../src/pipeline/handler';
import { runPipelineOffline } from '../../../src/pipeline/offline';
import {
  ABANDONED,
  completionRecord,
  newEventHops,
  pipelineEnv,
  runStream,
  StreamRun,
  StreamRunOptions,
} from '../../../src/pipeline/stream-run';
import { StreamRecord } from '../../../src/streams/model';
import { logger } from '../../../src/util/logger';
import { testEvent } from '../../support/simple-trigger';
import { throwingHandler, verifyingHandler } from '../../fixtures/pipeline/recording-handlers';
import { aStreamRecord } from '../../fixtures/pipeline/stream-records';

const quiet = logger.child({}, { level: 'silent' });
const context: HandlerContext = { logger: quiet, dryRun: true, publish: async () => undefined, now: () => 0 };

function streamRecord(overrides: Partial<StreamRecord> = {}): StreamRecord {
  const events = [
    testEvent('compute.instance.update', 'i-1', 1, 'a'),
    testEvent('compute.instance.exists', 'i-1', 2, 'b'),
  ];
  return aStreamRecord('s-1', events, { serial: 4, ...overrides });
}

function options(
  handlers: Record<string, HandlerDefinition>,
  steps: string[],
  maxHops = 3,
): StreamRunOptions {
  return {
    pipelines: new Map([['audit', steps.map((name) => ({ name, params: {} }))]]),
    handlers: new Map(Object.entries(handlers)),
    handlerTimeoutMs: 1000,
    maxHops,
  };
}

describe('stream run', () => {
  it('gives handlers the stream id, name and serial (the idempotency key) and the kind', async () => {
    const seen: PipelineEnv[] = [];
    await runStream(
      streamRecord({ kind: 'expired' }),
      options({ echo: verifyingHandler([], { seen }) }, ['echo']),
      context,
    );
    expect(seen).toEqual([
      { stream_id: 's-1', stream_name: 'usage', state_serial: 4, trigger: 'usage', kind: 'expired' },
    ]);
    expect(pipelineEnv(streamRecord())).toEqual({ ...seen[0], kind: 'fired' });
  });

  it('completes with new events one generation deeper than the deepest input event', async () => {
    const calls: string[] = [];
    const record = streamRecord();
    record.events[1].hops = 2;
    const run = (await runStream(
      record,
      options({ echo: verifyingHandler(calls) }, ['echo']),
      context,
    )) as StreamRun;

    expect(run.outcome).toBe('completed');
    expect(run.error).toBeUndefined();
    expect(calls).toEqual(['handleEvents', 'commit']);
    expect(newEventHops(record)).toBe(3);
    expect(run.newEvents.map((e) => [e.message_id, e.hops])).toEqual([
      ['a.verified', 3],
      ['b.verified', 3],
    ]);
    expect(run.heldBack).toEqual([]);
    expect(run.handlerSeconds.map((h) => h.handler)).toEqual(['echo']);
  });

  it('the loop guard holds back new events deeper than max_pipeline_hops; the completion still names them', async () => {
    const record = streamRecord();
    record.events[0].hops = 3;
    const run = (await runStream(
      record,
      options({ echo: verifyingHandler([]) }, ['echo'], 3),
      context,
    )) as StreamRun;

    expect(run.outcome).toBe('completed');
    expect(run.hops).toBe(4);
    expect(run.newEvents).toEqual([]);
    expect(run.heldBack.map((e) => e.message_id)).toEqual(['a.verified', 'b.verified']);
    expect(run.completion.new_event_ids).toEqual(['a.verified', 'b.verified']);
  });

  it('a throwing handler fails the run: every handler rolled back, none committed, no new events', async () => {
    const calls: string[] = [];
    const handlers = { echo: verifyingHandler(calls), failing: throwingHandler(calls, 'failing') };
    const fired = (await runStream(
      streamRecord(),
      options(handlers, ['echo', 'failing']),
      context,
    )) as StreamRun;

    expect(calls).toEqual(['handleEvents', 'failing handleEvents', 'rollback', 'failing rollback']);
    expect(fired).toMatchObject({ outcome: 'error', error: 'failing: boom', failedHandler: 'failing' });
    expect([fired.newEvents, fired.heldBack]).toEqual([[], []]);

    const expired = await runStream(
      streamRecord({ kind: 'expired' }),
      options(handlers, ['failing']),
      context,
    );
    expect(expired).toMatchObject({ outcome: 'expire_error', error: 'failing: boom' });
  });

  it('a stream whose trigger has no pipeline for its kind completes with nothing run', async () => {
    const run = (await runStream(streamRecord({ pipeline: null }), options({}, []), context)) as StreamRun;
    expect(run).toMatchObject({ outcome: 'completed', newEvents: [], heldBack: [], handlerSeconds: [] });
    expect(run.completion).toMatchObject({ pipeline: null, outcome: 'completed', new_event_ids: [] });
  });

  it('is abandoned (and rolled back) when it may not go on before a handler', async () => {
    const calls: string[] = [];
    let handlersStarted = 0;
    const run = await runStream(
      streamRecord(),
      options({ echo: verifyingHandler(calls) }, ['echo', 'echo']),
      context,
      {
        mayContinue: () => handlersStarted++ < 1,
      },
    );
    expect(run).toBe(ABANDONED);
    expect(calls).toEqual(['handleEvents', 'rollback', 'rollback']);
  });

  it('the completion record: its fields in the order of its JSON text', async () => {
    const record = streamRecord();
    const ok = (await runStream(
      record,
      options({ echo: verifyingHandler([]) }, ['echo']),
      context,
    )) as StreamRun;
    expect(JSON.stringify(ok.completion)).toBe(
      '{"stream_id":"s-1","trigger":"usage","kind":"fired","pipeline":"audit","serial":4,' +
        '"outcome":"completed","message_ids":["a","b"],"new_event_ids":["a.verified","b.verified"],' +
        '"distinguished_by":{},"first":1000000,"last":2000000}',
    );
    const failed = completionRecord(record, {
      ok: false,
      error: new Error('timed out'),
      failedHandler: 'atompub',
      newEvents: [],
      commitFailures: [],
      handlerSeconds: [],
    });
    expect(JSON.stringify(failed)).toBe(
      '{"stream_id":"s-1","trigger":"usage","kind":"fired","pipeline":"audit","serial":4,' +
        '"outcome":"error","message_ids":["a","b"],"new_event_ids":[],"error":"atompub: timed out",' +
        '"distinguished_by":{},"first":1000000,"last":2000000}',
    );
  });

  it('simulate --pipelines runs a stream through the same module', async () => {
    const record = streamRecord();
    record.events[0].hops = 3;
    const offline = { ...options({ echo: verifyingHandler([]) }, ['echo'], 3), logger: quiet, now: () => 0 };
    expect(await runPipelineOffline(record, offline)).toEqual({
      outcome: 'completed',
      newEvents: [],
      loopGuardDropped: 2,
    });
    const failed = await runPipelineOffline(streamRecord(), {
      ...options({ failing: throwingHandler([], 'failing') }, ['failing']),
      logger: quiet,
      now: () => 0,
    });
    expect(failed).toEqual({
      outcome: 'error',
      newEvents: [],
      loopGuardDropped: 0,
      error: 'failing: boom',
      failedHandler: 'failing',
      errorMessage: 'boom',
    });
  });
});
