import { MemoryPartitionStore } from '../../../src/streams/memory-store';
import { MatchedEvent, StreamRecord } from '../../../src/streams/model';
import { PartitionProcessor } from '../../../src/streams/processor';
import { ClockMode } from '../../../src/streams/engine';
import { TriggerRuntime } from '../../../src/streams/trigger-runtime';
import { simpleTrigger, testEvent } from '../../support/simple-trigger';
import { WinchesterEvent } from '../../../src/events/event';

const S = 1_000_000;

function harness(trigger: TriggerRuntime, clock: ClockMode = 'event') {
  const emitted: StreamRecord[] = [];
  const store = new MemoryPartitionStore(0);
  const processor = new PartitionProcessor(
    store,
    new Map([[trigger.name, trigger]]),
    clock,
    async (records) => {
      emitted.push(...records);
    },
  );
  const feed = async (events: WinchesterEvent[], advance = true) => {
    for (const event of events) {
      const m = trigger.match(event);
      if (!m) continue;
      const record: MatchedEvent = {
        trigger: trigger.name,
        key: m.key,
        distinguished: m.distinguished,
        event,
      };
      await processor.apply([record], event.timestamp);
      if (advance) await processor.runTimers(event.timestamp);
    }
  };
  return { emitted, store, processor, feed };
}

describe('stream engine rules (memory store)', () => {
  test('groups by distinguishing trait and fires when the criterion holds, in stream order', async () => {
    const h = harness(simpleTrigger({}));
    await h.feed([
      testEvent('compute.instance.update', 'a', 10, 'a2'),
      testEvent('compute.instance.update', 'b', 10, 'b1'),
      testEvent('compute.instance.create.start', 'a', 10, 'a1'),
      testEvent('compute.instance.exists', 'a', 20, 'a3'),
      testEvent('compute.instance.update', 'a', 21, 'a4'), // after the fire time: a new stream
    ]);
    expect(h.emitted).toHaveLength(1);
    const [fired] = h.emitted;
    expect(fired.kind).toBe('fired');
    expect(fired.pipeline).toBe('fire_pipe');
    // Ties on timestamp are broken by message_id.
    expect(fired.events.map((e) => e.message_id)).toEqual(['a1', 'a2', 'a3']);
    const active = await h.store.listStreams({ state: 'active' });
    expect(active.map((s) => s.eventCount).sort()).toEqual([1, 1]);
  });

  test('a duplicate message_id is ignored and changes nothing, even after the stream fired', async () => {
    const h = harness(simpleTrigger({}));
    const first = testEvent('compute.instance.exists', 'a', 10, 'x1');
    await h.feed([first, testEvent('compute.instance.update', 'a', 11, 'x2')]);
    await h.processor.runTimers(100 * S);
    expect(h.emitted).toHaveLength(1);
    await h.feed([first]);
    await h.processor.runTimers(100_000 * S);
    expect(h.processor.stats.duplicatesIgnored).toBe(1);
    // x2 joined neither the fired stream (after its fire time) nor was duplicated.
    expect(h.emitted.flatMap((r) => r.events.map((e) => e.message_id)).sort()).toEqual(['x1', 'x2']);
  });

  test('expires when the clock passes the expire time; fire before expire at equal times', async () => {
    const h = harness(simpleTrigger({ expireAfterSeconds: 10, fireDelaySeconds: 10 }));
    await h.feed([testEvent('compute.instance.exists', 'a', 100, 'e1')]);
    // Fire time 110 and expire time 110: the fire wins.
    await h.processor.runTimers(111 * S);
    expect(h.emitted.map((r) => r.kind)).toEqual(['fired']);
    await h.feed([testEvent('compute.instance.update', 'b', 200, 'e2')]);
    await h.processor.runTimers(210 * S); // not strictly after 210 yet
    expect(h.emitted).toHaveLength(1);
    await h.processor.runTimers(210 * S + 1);
    expect(h.emitted.map((r) => [r.kind, r.pipeline])).toEqual([
      ['fired', 'fire_pipe'],
      ['expired', 'expire_pipe'],
    ]);
  });

  test('a stream whose fire time falls after its expiry expires', async () => {
    const h = harness(simpleTrigger({ expireAfterSeconds: 5, fireDelaySeconds: 30 }));
    await h.feed([testEvent('compute.instance.exists', 'a', 100)]);
    await h.processor.runTimers(1000 * S);
    expect(h.emitted.map((r) => r.kind)).toEqual(['expired']);
  });

  test('event clock: an event at or after the expire time opens a new stream', async () => {
    const h = harness(simpleTrigger({ expireAfterSeconds: 10 }));
    await h.feed(
      [
        testEvent('compute.instance.update', 'a', 100, 'p1'),
        testEvent('compute.instance.update', 'a', 110, 'p2'),
      ],
      false,
    );
    const streams = await h.store.listStreams();
    expect(streams).toHaveLength(2);
    await h.processor.runTimers(1000 * S);
    expect(h.emitted.map((r) => r.events.map((e) => e.message_id))).toEqual([['p1'], ['p2']]);
  });

  test('wall clock: an event joins the active stream until its expire time has passed', async () => {
    const trigger = simpleTrigger({ expireAfterSeconds: 3600 });
    const h = harness(trigger, 'wall');
    const nowSeconds = Math.floor(Date.now() / 1000);
    const ev = (id: string, seconds: number) => {
      const event = testEvent('compute.instance.update', 'a', seconds, id);
      return { trigger: trigger.name, ...trigger.match(event)!, event };
    };
    await h.processor.apply([ev('w1', nowSeconds)], nowSeconds * S);
    await h.processor.apply([ev('w2', nowSeconds + 1)], (nowSeconds + 1) * S);
    expect((await h.store.listStreams()).map((s) => s.eventCount)).toEqual([2]);
    // Past the expire time (last + 1h), the next event opens a new stream.
    await h.processor.apply([ev('w3', nowSeconds + 2)], (nowSeconds + 3602) * S);
    expect((await h.store.listStreams()).map((s) => s.eventCount)).toEqual([2, 1]);
    // Old timestamps under the wall clock: each event finds its predecessor already expired.
    await h.processor.apply([ev('w4', 10)], (nowSeconds + 3603) * S);
    await h.processor.apply([ev('w5', 11)], (nowSeconds + 3604) * S);
    expect((await h.store.listStreams()).map((s) => s.eventCount)).toEqual([2, 1, 1, 1]);
  });

  test('fire counters need `number` matching events', async () => {
    const h = harness(simpleTrigger({ fireCount: 3 }));
    await h.feed([
      testEvent('compute.instance.exists', 'a', 1),
      testEvent('compute.instance.exists', 'a', 2),
      testEvent('compute.instance.update', 'a', 3),
    ]);
    await h.processor.runTimers(4 * S);
    expect(h.emitted).toHaveLength(0);
    await h.feed([
      testEvent('compute.instance.exists', 'a', 4),
      testEvent('compute.instance.update', 'a', 5),
    ]);
    expect(h.emitted).toHaveLength(1);
    expect(h.emitted[0].events).toHaveLength(4);
  });
});
