import { encodeEvent } from '../../src/events/wire';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { locateStreamHolding, getStreamView } from '../../src/redis/query';
import { MemoryPartitionStore } from '../../src/streams/memory-store';
import { PartitionProcessor } from '../../src/streams/processor';
import { PartitionStore } from '../../src/streams/store';
import { LostOwnershipError } from '../../src/redis/errors';
import { checkPartitionCount, RedisPartitionStore } from '../../src/redis/partition-store';
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

  test('grouped transactions (many keys per MULTI, racing redeliveries) give the memory store streams', async () => {
    const trigger = simpleTrigger({ fireType: 'compute.instance.exists', expireAfterSeconds: 50 });
    const triggers = new Map([[trigger.name, trigger]]);
    // Seeded, so a failure reproduces: 3,000 events over 90 instances, every 7th a firing one.
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const events: MatchedEvent[] = [];
    for (let i = 0; i < 3000; i++) {
      const type = random() < 1 / 7 ? 'compute.instance.exists' : 'compute.instance.update';
      events.push(matched(trigger, type, `g${Math.floor(random() * 90)}`, 1000 + i / 8, `grp-${i}`));
    }
    const run = async (s: PartitionStore, concurrentRedelivery: boolean) => {
      const emitted: StreamRecord[] = [];
      const processor = new PartitionProcessor(s, triggers, 'event', async (records) => {
        emitted.push(...records);
      });
      for (let at = 0; at < events.length; at += 250) {
        const batch = events.slice(at, at + 250);
        // A redelivery of the batch racing the original: the groups conflict and fall back to
        // one transaction per key; every event is still applied once.
        if (concurrentRedelivery) await Promise.all([processor.apply(batch, 0), processor.apply(batch, 0)]);
        else await processor.apply(batch, 0);
        await processor.runTimers(batch[batch.length - 1].event.timestamp);
      }
      await processor.runTimers(10_000 * S);
      return emitted.map((r) => ({ kind: r.kind, ids: r.events.map((e) => e.message_id) }));
    };
    let conflicts = 0;
    // Connections enough for both applies' lanes at once, so their identical chunks overlap.
    const widePool = new RedisConnectionPool(ns.settings.redisUrl, 32);
    const redis = new RedisPartitionStore(4, widePool, {
      namespace: ns.prefix,
      seenRetentionSeconds: 3600,
      maxAttempts: 200,
      onConflict: () => conflicts++,
    });
    await redis.claim();
    const expected = await run(new MemoryPartitionStore(4), false);
    expect(expected.length).toBeGreaterThan(300);
    expect(await run(redis, true)).toEqual(expected);
    expect(await redis.listStreams({ state: 'active' })).toEqual([]);
    expect(conflicts).toBeGreaterThan(0); // the race really happened
    await widePool.close();
  });

  describe('stored events', () => {
    const trigger = simpleTrigger({ fireType: 'compute.instance.exists', expireAfterSeconds: 1000 });
    const triggers = new Map([[trigger.name, trigger]]);
    // The stream queries go through every partition of the namespace's repartition topic.
    beforeAll(() => pool.with((c) => checkPartitionCount(c, ns.prefix, 8)));

    /** An event with a trait of every type and times at microsecond precision. */
    function typed(type: string, instance: string, second: number, id: string): MatchedEvent {
      const m = matched(trigger, type, instance, second, id);
      m.event.timestamp += 7;
      m.event.traits.memory_mb = { type: 'int', value: 2048 };
      m.event.traits.ratio = { type: 'float', value: 0.25 };
      m.event.traits.launched_at = { type: 'datetime', value: 1767304578543001 };
      m.event.traits.note = { type: 'text', value: 'ünïcødé "quoted"' };
      return m;
    }

    /** The records of these batches through a store, fired at the end. */
    async function records(s: PartitionStore, batches: MatchedEvent[][], between?: () => Promise<void>) {
      const emitted: StreamRecord[] = [];
      const processor = new PartitionProcessor(s, triggers, 'event', async (out) => {
        emitted.push(...out);
      });
      for (const [i, batch] of batches.entries()) {
        if (i > 0) await between?.();
        await processor.apply(batch, 0);
      }
      await processor.runTimers(10_000 * S);
      return emitted;
    }

    test('a list of deflated values, read back into the very records the memory store builds', async () => {
      const s = store(5);
      await s.claim();
      const batches = [
        [
          typed('compute.instance.update', 'v', 100, 'v-1'),
          typed('compute.instance.update', 'v', 101, 'v-2'),
        ],
        [typed('compute.instance.exists', 'v', 102, 'v-3')],
      ];
      let streamId = '';
      const got = await records(s, batches, async () => {
        streamId = (await s.listStreams({ state: 'active' }))[0].id;
        const kind = await pool.with((c) => c.type(s.keys.events(streamId)));
        const values = await pool.with((c) => c.lrangeBuffer(s.keys.events(streamId), 0, -1));
        expect(kind).toBe('list');
        expect(values.map((v) => v[0])).toEqual([1, 1]);
      });
      const want = await records(new MemoryPartitionStore(5), batches);
      expect(got.map((r) => JSON.stringify(r.events))).toEqual(want.map((r) => JSON.stringify(r.events)));
      const view = await pool.with((c) => getStreamView(c, ns.prefix, streamId));
      expect(JSON.stringify(view!.events)).toBe(JSON.stringify(want[0].events));
    });

    test('a stream an earlier version stored as a hash of wire text is read, extended and fired whole', async () => {
      const s = store(6);
      await s.claim();
      const first = typed('compute.instance.update', 'h', 100, 'h-1');
      const batches = [[first], [typed('compute.instance.exists', 'h', 101, 'h-2')]];
      let streamId = '';
      const got = await records(s, batches, async () => {
        // What the earlier version left: the stream's events as a hash of message_id → wire text.
        streamId = (await s.listStreams({ state: 'active' }))[0].id;
        const key = s.keys.events(streamId);
        await pool.with((c) => c.multi().del(key).hset(key, 'h-1', encodeEvent(first.event)).exec());
        const located = await pool.with((c) =>
          locateStreamHolding(c, ns.prefix, trigger.name, first.key, 'h-1'),
        );
        expect(located.meta?.id).toBe(streamId);
        expect(located.foundBy).toBe('active pointer');
      });
      const key = s.keys.events(streamId);
      expect(await pool.with((c) => c.hlen(key))).toBe(2); // the old hash took the new event
      const want = await records(new MemoryPartitionStore(6), batches);
      expect(got.map((r) => JSON.stringify(r.events))).toEqual(want.map((r) => JSON.stringify(r.events)));
    });

    test('the hash of an upgraded stream keeps taking events, and both forms of value are read', async () => {
      const s = store(7);
      await s.claim();
      const first = typed('compute.instance.update', 'u', 100, 'u-1');
      await s.applyKey(trigger, first.key, [first], 'event', 0);
      const streamId = (await s.listStreams())[0].id;
      const key = s.keys.events(streamId);
      await pool.with((c) => c.multi().del(key).hset(key, 'u-1', encodeEvent(first.event)).exec());
      const second = typed('compute.instance.update', 'u', 101, 'u-2');
      await s.applyKey(trigger, first.key, [second], 'event', 0);
      const values = await pool.with((c) => c.hgetallBuffer(key));
      expect(Object.keys(values).sort()).toEqual(['u-1', 'u-2']);
      expect(values['u-1'].toString()).toBe(encodeEvent(first.event));
      expect(values['u-2'][0]).toBe(1);
      const view = await pool.with((c) => getStreamView(c, ns.prefix, streamId));
      expect(view!.events!.map((e) => encodeEvent(e))).toEqual([
        encodeEvent(first.event),
        encodeEvent(second.event),
      ]);
      const scanned = await pool.with((c) =>
        locateStreamHolding(c, ns.prefix, trigger.name, 'elsewhere', 'u-2'),
      );
      expect([scanned.meta?.id, scanned.foundBy]).toEqual([streamId, 'stream scan']);
    });
  });
});
