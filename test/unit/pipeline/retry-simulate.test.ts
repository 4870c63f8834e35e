/** `simulate --pipelines` with retry policies: failed runs are retried in virtual time, on the simulated clock. */
import { WinchesterEvent } from '../../../src/events/event';
import { HandlerContext, HandlerDefinition, PipelineEnv } from '../../../src/pipeline/handler';
import { PipelineSimulation } from '../../../src/pipeline/offline';
import { RetryPolicy } from '../../../src/pipeline/retry';
import { END_OF_TIME, Simulation } from '../../../src/streams/simulate';
import { logger } from '../../../src/util/logger';
import { simpleTrigger, testEvent } from '../../support/simple-trigger';

const quiet = logger.child({}, { level: 'silent' });
const S = 1_000_000;

interface Run {
  stream: string;
  serial: number;
  at: number;
}

/** Fails the first `failures` runs of each stream, then emits one `.done` event; records every run. */
function flaky(failures: number, runs: Run[]): HandlerDefinition {
  const seen = new Map<string, number>();
  return {
    create: (_params, context: HandlerContext) => ({
      handleEvents: (events: WinchesterEvent[], env: PipelineEnv) => {
        runs.push({ stream: env.stream_id, serial: env.state_serial, at: context.now() });
        const n = (seen.get(env.stream_id) ?? 0) + 1;
        seen.set(env.stream_id, n);
        if (n <= failures) throw new Error(`failure ${n}`);
        const done = testEvent('other.done', 'x', 0, `done-${env.stream_id}`);
        return [...events, { ...done, timestamp: events[0].timestamp }];
      },
      commit: () => undefined,
      rollback: () => undefined,
    }),
  };
}

function simulation(failures: number, retry?: RetryPolicy) {
  const runs: Run[] = [];
  const newEvents: WinchesterEvent[] = [];
  const fired: string[] = [];
  let pipelines: PipelineSimulation | undefined = undefined;
  const trigger = simpleTrigger({ expireAfterSeconds: 10_000 });
  const sim = new Simulation([trigger], 'event', (record) => {
    fired.push(record.stream_id);
    pipelines!.streamFinished(record);
  });
  pipelines = new PipelineSimulation(
    sim,
    {
      pipelines: new Map([['fire_pipe', [{ name: 'flaky', params: {} }]]]),
      handlers: new Map([['flaky', flaky(failures, runs)]]),
      handlerTimeoutMs: 1000,
      maxHops: 3,
      retries: retry ? new Map([['fire_pipe', retry]]) : new Map(),
      logger: quiet,
    },
    (event) => newEvents.push(event),
  );
  const push = (type: string, instance: string, seconds: number) =>
    pipelines.push(testEvent(type, instance, seconds, `${instance}-${seconds}`));
  return { run: pipelines, push, runs, newEvents, fired };
}

const threeAttempts: RetryPolicy = { attempts: 3, backoffSeconds: 30, maxBackoffSeconds: 600 };

describe('simulate --pipelines with retries', () => {
  test('failing the first two attempts with attempts: 3 completes, each retry at failure + back-off', async () => {
    const { run, push, runs, newEvents } = simulation(2, threeAttempts);
    await push('compute.instance.exists', 'a', 100);
    // The clock passes the fire time: the first run, at 120 s, fails; the retry is due at 150 s.
    await push('compute.instance.update', 'b', 120);
    expect(runs.map((r) => r.at)).toEqual([120 * S]);
    await push('compute.instance.update', 'b', 149);
    expect(runs).toHaveLength(1);
    // 150 s reached: the second attempt fails; the next waits twice as long, until 210 s.
    await push('compute.instance.update', 'b', 150);
    expect(runs.map((r) => r.at)).toEqual([120 * S, 150 * S]);
    await push('compute.instance.update', 'b', 209);
    expect(runs).toHaveLength(2);
    expect(run.retriesWaiting).toBe(1);
    await push('compute.instance.update', 'b', 300);
    expect(runs.map((r) => r.at)).toEqual([120 * S, 150 * S, 210 * S]);
    // Each attempt runs at the next state serial, as the worker's retries do.
    const [first] = runs;
    expect(runs.map((r) => [r.stream, r.serial])).toEqual([
      [first.stream, first.serial],
      [first.stream, first.serial + 1],
      [first.stream, first.serial + 2],
    ]);
    expect(newEvents.map((e) => e.message_id)).toEqual([`done-${first.stream}`]);
    expect(run.tally).toEqual({
      newEvents: 1,
      pipelineErrors: 0,
      loopGuardDropped: 0,
      retries: 2,
      retriesExhausted: 0,
    });
    expect(run.retriesWaiting).toBe(0);
  });

  test('always failing: three attempts, then an error counted as exhausted', async () => {
    const { run, push, runs, newEvents } = simulation(Infinity, threeAttempts);
    await push('compute.instance.exists', 'a', 100);
    await push('compute.instance.update', 'b', 120);
    await run.advance(END_OF_TIME);
    expect(runs.map((r) => r.at / S)).toEqual([120, 150, 210]);
    expect(newEvents).toEqual([]);
    expect(run.tally).toMatchObject({ pipelineErrors: 1, retries: 2, retriesExhausted: 1 });
  });

  test('retries not yet due at the end of the input are left waiting; --drain (the end of time) runs them', async () => {
    const { run, push, runs } = simulation(1, threeAttempts);
    await push('compute.instance.exists', 'a', 100);
    await push('compute.instance.update', 'b', 101);
    expect(runs).toHaveLength(1);
    expect(run.retriesWaiting).toBe(1);
    await run.advance(END_OF_TIME);
    expect(runs.map((r) => r.at / S)).toEqual([101, 131]);
    expect(run.retriesWaiting).toBe(0);
    expect(run.tally).toMatchObject({ newEvents: 1, pipelineErrors: 0, retries: 1 });
  });

  test('a stream fired by --drain that fails is retried there too, until its attempts run out', async () => {
    const { run, push, runs } = simulation(Infinity, threeAttempts);
    await push('compute.instance.exists', 'a', 100);
    await run.advance(END_OF_TIME);
    expect(runs).toHaveLength(3);
    expect(run.tally).toMatchObject({ pipelineErrors: 1, retries: 2, retriesExhausted: 1 });
    expect(run.retriesWaiting).toBe(0);
  });

  test('a plain list of handlers never retries', async () => {
    const { run, push, runs } = simulation(1);
    await push('compute.instance.exists', 'a', 100);
    await run.advance(END_OF_TIME);
    expect(runs).toHaveLength(1);
    expect(run.tally).toMatchObject({ pipelineErrors: 1, retries: 0, retriesExhausted: 0 });
  });

  test('retries of several streams run in due order, interleaved with the events that move the clock', async () => {
    const { push, runs, fired } = simulation(1, { attempts: 2, backoffSeconds: 50, maxBackoffSeconds: 50 });
    await push('compute.instance.exists', 'a', 100);
    await push('compute.instance.exists', 'c', 110);
    await push('compute.instance.update', 'b', 120); // a fails at 110 s, c at 120 s
    await push('compute.instance.exists', 'd', 130);
    await push('compute.instance.update', 'b', 140); // d fails at 140 s: due at 190 s
    await push('compute.instance.update', 'b', 200);
    const byStream = (id: string) => runs.filter((r) => r.stream === id).map((r) => r.at / S);
    const [a, c, d] = fired;
    expect([byStream(a), byStream(c), byStream(d)]).toEqual([
      [110, 160],
      [120, 170],
      [140, 190],
    ]);
    // The clock jumped past all three due times at once: they ran in due order.
    expect(runs.slice(3).map((r) => r.stream)).toEqual([a, c, d]);
  });
});
