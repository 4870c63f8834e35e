import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { PartitionProcessor } from '../../src/streams/processor';
import { LostOwnershipError, RedisPartitionStore } from '../../src/streams/redis-store';
import { MatchedEvent, StreamRecord } from '../../src/streams/model';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { testNamespace } from '../support/namespace';

const ns = testNamespace();
const pool = new RedisConnectionPool(ns.settings.redisUrl, 8);
const S = 1_000_000;
afterAll(() => pool.close());

const store = (partition: number, namespace = ns.prefix) =>
  new RedisPartitionStore(partition, pool, { namespace, seenRetentionSeconds: 3600, maxAttempts: 200 });

function matched(
  trigger: ReturnType<typeof simpleTrigger>,
  type: string,
  instance: string,
  t: number,
  id?: string,
) {
  const event = testEvent(type, instance, t, id);
  return { trigger: trigger.name, ...trigger.match(event)!, event } as MatchedEvent;
}

describe('Redis partition store', () => {
  test('concurrent transactions on dedicated connections keep every event exactly once', async () => {
    const trigger = simpleTrigger({ expireAfterSeconds: 10_000 });
    const s = store(0);
    await s.claim();
    const processor = new PartitionProcessor(
      s,
      new Map([[trigger.name, trigger]]),
      'event',
      async () => undefined,
      8,
    );
    const records: MatchedEvent[] = [];
    for (let i = 0; i < 400; i++)
      records.push(matched(trigger, 'compute.instance.update', `i${i % 20}`, 1000 + i));
    // Two overlapping applies of overlapping batches (a redelivery): duplicates are ignored.
    await Promise.all([processor.apply(records.slice(0, 300), 0), processor.apply(records.slice(100), 0)]);
    const streams = await s.listStreams();
    expect(streams).toHaveLength(20);
    expect(streams.reduce((n, st) => n + st.eventCount, 0)).toBe(400);
    expect(processor.stats.duplicatesIgnored).toBe(200);
  });

  test('a new owner epoch fences the previous owner out', async () => {
    const trigger = simpleTrigger({});
    const a = store(1);
    const b = store(1);
    await a.claim();
    await a.applyKey(trigger, 'k', [{ ...matched(trigger, 'compute.instance.update', 'x', 10) }], 'event', 0);
    await b.claim();
    await expect(
      a.applyKey(trigger, 'k', [{ ...matched(trigger, 'compute.instance.update', 'x', 11) }], 'event', 0),
    ).rejects.toBeInstanceOf(LostOwnershipError);
    await expect(a.storeOffset('5')).rejects.toBeInstanceOf(LostOwnershipError);
    await b.applyKey(trigger, 'k', [{ ...matched(trigger, 'compute.instance.update', 'x', 12) }], 'event', 0);
    expect((await b.listStreams())[0].eventCount).toBe(2);
    await b.storeOffset('7');
    expect(await store(1).claim()).toBe('7');
  });

  test('leaving active removes the key pointer only if it still names the stream', async () => {
    const trigger = simpleTrigger({ expireAfterSeconds: 10 });
    const s = store(2);
    await s.claim();
    const emitted: StreamRecord[] = [];
    const processor = new PartitionProcessor(
      s,
      new Map([[trigger.name, trigger]]),
      'event',
      async (records) => {
        emitted.push(...records);
      },
    );
    await processor.apply([matched(trigger, 'compute.instance.update', 'z', 100, 'old')], 0);
    // At t=200 the old stream's time is over: a successor opens and takes the pointer.
    await processor.apply([matched(trigger, 'compute.instance.update', 'z', 200, 'new')], 0);
    await processor.runTimers(150 * S); // expires the old one only
    expect(emitted.map((r) => r.events.map((e) => e.message_id))).toEqual([['old']]);
    // The successor is still the active stream of the key: the next event joins it.
    await processor.apply([matched(trigger, 'compute.instance.update', 'z', 201, 'next')], 0);
    await processor.runTimers(1000 * S);
    expect(emitted.map((r) => r.events.map((e) => e.message_id))).toEqual([['old'], ['new', 'next']]);
    expect(await s.pendingEmissions(new Map([[trigger.name, trigger]]))).toEqual([]);
  });

  test('timers racing appends: no event lost, none in two streams', async () => {
    const trigger = simpleTrigger({ fireType: 'compute.instance.exists', expireAfterSeconds: 1e6 });
    const s = store(3);
    await s.claim();
    const emitted: StreamRecord[] = [];
    const processor = new PartitionProcessor(
      s,
      new Map([[trigger.name, trigger]]),
      'wall',
      async (records) => {
        emitted.push(...records);
      },
    );
    const ids: string[] = [];
    for (let round = 0; round < 30; round++) {
      const now = Date.now() * 1000;
      const fire = matched(trigger, 'compute.instance.exists', `r${round}`, now / S, `f${round}`);
      await processor.apply([fire], now - 10);
      ids.push(`f${round}`);
      const late = Array.from({ length: 5 }, (_, j) => {
        ids.push(`l${round}.${j}`);
        return matched(trigger, 'compute.instance.update', `r${round}`, now / S, `l${round}.${j}`);
      });
      // The timer takes the stream while appends race it: each append lands before or after.
      await Promise.all([processor.runTimers(now + 1), ...late.map((l) => processor.apply([l], now))]);
    }
    await processor.runTimers(Date.now() * 1000 + 1e6 * S * 2);
    const placed = emitted.flatMap((r) => r.events.map((e) => e.message_id));
    const active = await s.listStreams({ state: 'active' });
    expect(active).toEqual([]);
    expect(placed.sort()).toEqual([...ids].sort());
    expect(new Set(emitted.map((r) => r.stream_id)).size).toBe(emitted.length);
  });
});
