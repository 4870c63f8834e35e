import { encodeEvent } from '../../src/events/wire';
import { END_OF_TIME, Simulation, streamSummary } from '../../src/streams/simulate';
import { startMatcher, MatcherRole } from '../../src/topology/matcher-role';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { redisTargets, testNamespace } from '../support/namespace';
import {
  advanceClock,
  collectSettledStreams,
  produce,
  topologyFixture,
  waitFor,
} from '../support/topology-harness';
import { WinchesterEvent } from '../../src/events/event';
import { createKafka } from '../../src/kafka/client';

const sortKey = (s: ReturnType<typeof streamSummary>) => JSON.stringify(s);

describe.each(redisTargets())('matcher role on real Kafka and $name', ({ url }) => {
  const ns = testNamespace(url);
  const matchers: MatcherRole[] = [];
  afterAll(async () => {
    for (const m of matchers) await m.stop();
  });

  test('two matchers with a rebalance mid-run give exactly the simulation streams (event clock)', async () => {
    const { kafka, settings } = await topologyFixture(ns, { clock: 'event' });
    const triggers = [
      simpleTrigger({ name: 'exists', expireAfterSeconds: 600 }),
      simpleTrigger({
        name: 'deletes',
        matchPrefix: 'compute.instance.delete',
        fireType: 'compute.instance.delete.end',
        expireAfterSeconds: 300,
      }),
    ];
    // 60 instances over 3 simulated hours, in timestamp order; a few redelivered duplicates.
    const events: WinchesterEvent[] = [];
    const types = [
      'compute.instance.update',
      'compute.instance.delete.start',
      'compute.instance.exists',
      'compute.instance.delete.end',
    ];
    let t = 1_800_000_000;
    for (let i = 0; i < 3000; i++) {
      t += 1 + (i % 7);
      events.push(testEvent(types[((i * 7) % 11) % 4], `inst-${(i * 13) % 60}`, t, `msg-${i}`));
    }
    const withDuplicates = [...events.slice(0, 1500), ...events.slice(1400, 1450), ...events.slice(1500)];
    const messages = withDuplicates.map((e) => ({
      key: String(e.traits.instance_id.value),
      value: encodeEvent(e),
    }));

    const sim = new Simulation(triggers, 'event');
    for (const e of withDuplicates) await sim.push(e);
    await sim.advance(END_OF_TIME);
    const expected = sim.records.map(streamSummary).map(sortKey).sort();
    expect(expected.length).toBeGreaterThan(50);

    const redisUrl = ns.settings.redisUrl;
    matchers.push(
      await startMatcher(createKafka(ns.settings, `${ns.prefix}-m1`), redisUrl, settings, triggers),
    );
    await produce(kafka, settings.topics.events, messages.slice(0, 1600));
    await waitFor(() => matchers[0].counters.eventsConsumed > 400);
    // A second matcher joins mid-run: the group rebalances, partitions change owner.
    matchers.push(
      await startMatcher(createKafka(ns.settings, `${ns.prefix}-m2`), redisUrl, settings, triggers),
    );
    await produce(kafka, settings.topics.events, messages.slice(1600));
    await waitFor(
      () => matchers.reduce((n, m) => n + m.counters.eventsConsumed, 0) >= messages.length,
      90000,
    );
    // Both members own repartition partitions: the rebalance really moved state ownership.
    expect(matchers.map((m) => m.owned.size > 0)).toEqual([true, true]);
    await advanceClock(kafka, settings, END_OF_TIME);

    const all = await collectSettledStreams(kafka, settings.topics.streams, expected.length);
    const byId = new Map(all.map((r) => [r.stream_id, r]));
    // Re-emission of an unacknowledged record is allowed; a distinct second firing is not.
    expect([...byId.values()].map(streamSummary).map(sortKey).sort()).toEqual(expected);
    const placed = [...byId.values()].flatMap((r) => r.events.map((e) => `${r.trigger}/${e.message_id}`));
    expect(new Set(placed).size).toBe(placed.length);
  });
});
