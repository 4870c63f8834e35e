import { join } from 'node:path';
import { WinchesterEvent } from '../../../src/events/event';
import { loadWinchesterConfig } from '../../../src/config/winchester-config';
import { HandlerDefinition } from '../../../src/pipeline/handler';
import { PipelineSimulation } from '../../../src/pipeline/offline';
import { StreamRecord } from '../../../src/streams/model';
import { END_OF_TIME, Simulation } from '../../../src/streams/simulate';
import { loadTopology } from '../../../src/topology/bundle';
import { logger } from '../../../src/util/logger';
import { sampleCorpus } from '../../support/corpus';
import { simpleTrigger, testEvent } from '../../support/simple-trigger';

const quiet = logger.child({}, { level: 'silent' });

function withPipelines(
  simulationOf: (onRecord: (r: StreamRecord) => void) => Simulation,
  options: Omit<ConstructorParameters<typeof PipelineSimulation>[1], 'logger'>,
) {
  const records: StreamRecord[] = [];
  const newEvents: WinchesterEvent[] = [];
  let run: PipelineSimulation | undefined = undefined;
  const simulation = simulationOf((record) => {
    records.push(record);
    run!.streamFinished(record);
  });
  run = new PipelineSimulation(simulation, { ...options, logger: quiet }, (e) => newEvents.push(e));
  return { run, records, newEvents };
}

describe('simulate --pipelines', () => {
  test('the usage audit offline: one verdict per end-of-day .exists, as the topology gives', async () => {
    const topology = loadTopology(
      join(__dirname, '..', '..', '..', 'topologies', 'openstack-usage'),
      loadWinchesterConfig(undefined, {}),
    );
    const { run, records, newEvents } = withPipelines(
      (onRecord) => new Simulation(topology.triggers, 'event', onRecord),
      { pipelines: topology.pipelines, handlers: topology.handlers, handlerTimeoutMs: 10_000, maxHops: 3 },
    );
    for (const line of sampleCorpus()) {
      const outcome = topology.distill(line);
      if (outcome.kind === 'event') await run.push(outcome.event);
    }
    await run.advance(END_OF_TIME);
    const byType = new Map<string, number>();
    for (const e of newEvents) byType.set(e.event_type, (byType.get(e.event_type) ?? 0) + 1);
    expect(records.filter((r) => r.kind === 'fired')).toHaveLength(517);
    expect(records.filter((r) => r.kind === 'expired')).toHaveLength(116);
    expect(Object.fromEntries(byType)).toEqual({
      'compute.instance.exists.verified': 412,
      'compute.instance.exists.failed': 105,
      'compute.instance.exists.warnings': 45,
    });
    // Every fired usage stream has exactly one verdict, named after its end-of-day .exists.
    const verdicts = newEvents.filter((e) => e.event_type !== 'compute.instance.exists.warnings');
    const originals = verdicts.map((e) => e.traits.original_message_id?.value);
    expect(new Set(originals).size).toBe(517);
    expect(new Set(verdicts.map((e) => e.message_id)).size).toBe(517);
    expect(run.tally).toEqual({
      newEvents: 562,
      pipelineErrors: 0,
      loopGuardDropped: 0,
      retries: 0,
      retriesExhausted: 0,
    });
    // New events carry their generation, as the worker sets it.
    expect(newEvents.every((e) => e.hops === 1)).toBe(true);
  });

  /** Emits one `echo` event per stream: with a trigger that takes echoes, every stream makes another. */
  const echo: HandlerDefinition = {
    create: () => ({
      handleEvents: (events, env) => {
        const last = events[events.length - 1];
        const next = testEvent('compute.instance.echo', 'loop', 0, `echo-of-${env.stream_id}`);
        return [...events, { ...next, timestamp: last.timestamp + 1 }];
      },
      commit: () => undefined,
      rollback: () => undefined,
    }),
  };

  test('new events go back in and fire streams; the loop guard stops a pipeline that re-triggers itself', async () => {
    const trigger = simpleTrigger({ matchPrefix: 'compute.instance.', fireType: 'compute.instance.echo' });
    const { run, records, newEvents } = withPipelines(
      (onRecord) => new Simulation([{ ...trigger, firePipeline: 'loop' }], 'event', onRecord),
      {
        pipelines: new Map([['loop', [{ name: 'echo', params: {} }]]]),
        handlers: new Map([['echo', echo]]),
        handlerTimeoutMs: 1000,
        maxHops: 3,
      },
    );
    await run.push(testEvent('compute.instance.echo', 'loop', 100, 'seed'));
    await run.advance(END_OF_TIME);
    // The seed's stream, then one stream per generation: hops 1, 2, 3; the fourth is held back.
    expect(records.map((r) => r.events.map((e) => e.message_id))).toEqual([
      ['seed'],
      [`echo-of-${records[0].stream_id}`],
      [`echo-of-${records[1].stream_id}`],
      [`echo-of-${records[2].stream_id}`],
    ]);
    expect(newEvents.map((e) => e.hops)).toEqual([1, 2, 3]);
    expect(run.tally).toMatchObject({ newEvents: 3, pipelineErrors: 0, loopGuardDropped: 1 });
  });

  test('a failing pipeline is counted and its new events are not fed back', async () => {
    const failing: HandlerDefinition = {
      create: () => ({
        handleEvents: () => {
          throw new Error('boom');
        },
        commit: () => undefined,
        rollback: () => undefined,
      }),
    };
    const trigger = simpleTrigger({});
    const { run, records, newEvents } = withPipelines(
      (onRecord) => new Simulation([trigger], 'event', onRecord),
      {
        pipelines: new Map([
          [
            'fire_pipe',
            [
              { name: 'echo', params: {} },
              { name: 'fail', params: {} },
            ],
          ],
        ]),
        handlers: new Map([
          ['echo', echo],
          ['fail', failing],
        ]),
        handlerTimeoutMs: 1000,
        maxHops: 3,
      },
    );
    await run.push(testEvent('compute.instance.exists', 'i-1', 100, 'x'));
    await run.advance(END_OF_TIME);
    expect(records).toHaveLength(1);
    expect(newEvents).toEqual([]);
    expect(run.tally.pipelineErrors).toBe(1);
  });
});
