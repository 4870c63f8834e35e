/** The matcher's stage 1 (events → repartition records) on the batch loop, without Kafka. */
import { encodeEvent } from '../../../src/events/wire';
import { BatchLoop } from '../../../src/topology/batch-loop';
import {
  EventRouter,
  EventRouterOutcomes,
  recordEventRouterOutcomes,
} from '../../../src/topology/event-router';
import { decodeRepartition } from '../../../src/topology/records';
import { RoleEvents } from '../../../src/topology/role-events';
import { jsonEventSerializer } from '../../../src/topology/serialization';
import { logger } from '../../../src/util/logger';
import { simpleTrigger, testEvent } from '../../support/simple-trigger';
import { fakeBatch, fakeProducer, header } from './fakes';

const REPARTITION = 'repartition';
const DLQ = 'events.dlq';

function router(clock: 'event' | 'wall') {
  const kafka = fakeProducer();
  const counters = { eventsConsumed: 0, unmatched: 0, matched: new Map<string, number>(), dlq: new Map() };
  const events = new RoleEvents<EventRouterOutcomes>();
  recordEventRouterOutcomes(events, { counters, log: logger.child({}, { level: 'silent' }), dlqTopic: DLQ });
  const triggers = [
    simpleTrigger({ name: 'a' }),
    simpleTrigger({ name: 'b', matchPrefix: 'compute.instance.exists' }),
  ];
  const stages = new EventRouter(events, { clock }, triggers, jsonEventSerializer, 2);
  const loop = new BatchLoop(stages, {
    producer: kafka.producer,
    topics: { output: REPARTITION, dlq: DLQ },
    maxRecordBytes: 1024 * 1024,
    chunkSize: 3,
  });
  return { kafka, counters, loop };
}

const event = (type: string, seconds: number) => encodeEvent(testEvent(type, 'i-1', seconds));

describe('EventRouter', () => {
  it('sends one record per matching trigger, keyed by stream key; undecodable events go to the DLQ', async () => {
    const { kafka, counters, loop } = router('wall');
    const payload = fakeBatch([
      event('compute.instance.update', 10),
      event('compute.instance.exists', 20),
      'not an event',
      event('image.update', 30),
    ]);
    await loop.run(payload);

    const sent = kafka.sentTo(REPARTITION);
    expect(sent.map((m) => m.key)).toEqual(['a|s:i-1', 'a|s:i-1', 'b|s:i-1']);
    const first = decodeRepartition(Buffer.from(String(sent[0].value)));
    expect(first.type === 'event' && [first.matched.trigger, first.matched.event.timestamp]).toEqual([
      'a',
      10e6,
    ]);
    const dead = kafka.sentTo(DLQ);
    expect(dead.map((m) => String(m.value))).toEqual(['not an event']);
    expect(header(dead[0], 'dlq.reason')).toMatch(/not JSON/);
    expect(payload.resolved).toEqual(['2', '3']);
    expect(counters).toEqual({
      eventsConsumed: 4,
      unmatched: 1,
      matched: new Map([
        ['a', 2],
        ['b', 1],
      ]),
      dlq: new Map([['undecodable event', 1]]),
    });
  });

  it('under the event clock, each chunk ends with a watermark marker to every repartition partition', async () => {
    const { kafka, loop } = router('event');
    await loop.run(fakeBatch([event('x', 30), event('x', 10), 'bad', 'bad'], { partition: 1 }));

    const markers = kafka
      .sentTo(REPARTITION)
      .map((m) => ({ partition: m.partition, record: decodeRepartition(Buffer.from(String(m.value))) }));
    // The second chunk decoded nothing, but its partition's watermark stands and is sent again.
    expect(markers).toEqual([
      { partition: 0, record: { type: 'marker', source: 1, watermark: 30e6 } },
      { partition: 1, record: { type: 'marker', source: 1, watermark: 30e6 } },
      { partition: 0, record: { type: 'marker', source: 1, watermark: 30e6 } },
      { partition: 1, record: { type: 'marker', source: 1, watermark: 30e6 } },
    ]);
  });

  it('under the event clock, a partition with no event yet sends no marker', async () => {
    const { kafka, loop } = router('event');
    await loop.run(fakeBatch(['bad'], { partition: 0 }));
    expect(kafka.sentTo(REPARTITION)).toEqual([]);
    expect(kafka.sentTo(DLQ)).toHaveLength(1);
  });
});
