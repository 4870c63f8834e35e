import { Kafka } from 'kafkajs';
import { newTraits, WinchesterEvent } from '../../src/events/event';
import { decodeEvent, encodeEvent } from '../../src/events/wire';
import { createKafka } from '../../src/kafka/client';
import { HandlerDefinition } from '../../src/pipeline/handler';
import { END_OF_TIME } from '../../src/streams/simulate';
import { startMatcher } from '../../src/topology/matcher-role';
import { CompletionRecord, startWorker } from '../../src/topology/worker-role';
import { redisTargets, testNamespace } from '../support/namespace';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { advanceClock, produce, topologyFixture, waitFor } from '../support/topology-harness';

/** Emits one `<type>.verified` event per stream, with an id derived from the stream's first event. */
const verifier: HandlerDefinition = {
  create: () => ({
    handleEvents: (events: WinchesterEvent[]) => {
      const first = events[0];
      const traits = newTraits();
      traits.instance_id = first.traits.instance_id;
      const made: WinchesterEvent = {
        message_id: `${first.message_id}.verified`,
        event_type: 'compute.instance.verified',
        timestamp: events.at(-1)!.timestamp,
        traits,
      };
      return [...events, made];
    },
    commit: () => undefined,
    rollback: () => undefined,
  }),
};
const failing: HandlerDefinition = {
  create: () => ({
    handleEvents: () => {
      throw new Error('boom');
    },
    commit: () => undefined,
    rollback: () => undefined,
  }),
};

async function readAll(kafka: Kafka, topic: string, ms: number): Promise<string[]> {
  const values: string[] = [];
  const consumer = kafka.consumer({ groupId: `${topic}.reader.${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void values.push(message.value!.toString()) });
  await new Promise((r) => setTimeout(r, ms));
  await consumer.disconnect();
  return values;
}

describe.each(redisTargets())('worker role on real Kafka and $name', ({ url }) => {
  const ns = testNamespace(url);
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  test('runs pipelines: completions, errors, new events back to events, loop guard', async () => {
    const { kafka, settings } = await topologyFixture(ns, { clock: 'event' });
    const good = {
      ...simpleTrigger({ name: 'good', expireAfterSeconds: 100 }),
      firePipeline: 'verify',
      expirePipeline: 'verify',
    };
    const bad = {
      ...simpleTrigger({
        name: 'bad',
        matchPrefix: 'compute.instance.delete',
        fireType: 'compute.instance.delete.end',
      }),
      firePipeline: 'explode',
      expirePipeline: 'explode',
    };
    const matcher = await startMatcher(
      createKafka(ns.settings, `${ns.prefix}-m`),
      ns.settings.redisUrl,
      settings,
      [good, bad],
    );
    stops.push(matcher.stop);
    const worker = await startWorker(
      createKafka(ns.settings, `${ns.prefix}-w`),
      ns.settings.redisUrl,
      settings,
      {
        pipelines: new Map([
          ['verify', [{ name: 'verifier', params: {} }]],
          ['explode', [{ name: 'failing', params: {} }]],
        ]),
        handlers: new Map([
          ['verifier', verifier],
          ['failing', failing],
        ]),
        purgeCompletedStreams: true,
        handlerTimeoutMs: 5000,
        claimTtlMs: 10000,
        maxHops: 1,
      },
    );
    stops.push(worker.stop);

    const events = [
      testEvent('compute.instance.update', 'a', 1000, 'a1'),
      testEvent('compute.instance.exists', 'a', 1001, 'a2'),
      testEvent('compute.instance.update', 'b', 1002, 'b1'),
      testEvent('compute.instance.delete.start', 'c', 1003, 'c1'),
      testEvent('compute.instance.delete.end', 'c', 1004, 'c2'),
      testEvent('compute.instance.update', 'z', 2000, 'z1'),
    ];
    await produce(
      kafka,
      settings.topics.events,
      events.map((e) => ({ key: String(e.traits.instance_id.value), value: encodeEvent(e) })),
    );
    await waitFor(() => matcher.counters.eventsConsumed >= events.length);
    await advanceClock(kafka, settings, END_OF_TIME);
    // good: a fires, b, c and z expire; each runs `verify` (one hop-1 event each); then the
    // verified events expire into streams of their own, whose hop-2 events the loop guard stops.
    await waitFor(
      () =>
        (worker.counters.streamsCompleted.get('good') ?? 0) >= 8 &&
        (worker.counters.streamsErrored.get('bad') ?? 0) >= 1,
      60000,
    );
    const completions = (await readAll(kafka, settings.topics.completed, 3000)).map(
      (v) => JSON.parse(v) as CompletionRecord,
    );
    const byOutcome = (o: string) =>
      completions
        .filter((c) => c.outcome === o)
        .map((c) => c.message_ids.join(','))
        .sort();
    expect(byOutcome('error')).toEqual(['c1,c2']);
    expect(byOutcome('completed')).toEqual([
      'a1,a2',
      'a1.verified',
      'b1',
      'b1.verified',
      'c1,c2',
      'c1.verified',
      'z1',
      'z1.verified',
    ]);
    const produced = (await readAll(kafka, settings.topics.events, 2000)).map(decodeEvent);
    const verified = produced.filter((e) => e.event_type === 'compute.instance.verified');
    expect(verified.map((e) => [e.message_id, e.hops]).sort()).toEqual([
      ['a1.verified', 1],
      ['b1.verified', 1],
      ['c1.verified', 1],
      ['z1.verified', 1],
    ]);
    // The verified events' own streams would make hop-2 events: the loop guard stops them.
    expect(worker.counters.loopGuardDropped).toBe(4);
  });
});
