import { KeyApplyResult } from '../../../src/streams/engine';
import { KeyBatchEntry, KeyGroup } from '../../../src/streams/store';
import {
  appliedPart,
  KeyBatchProgress,
  KeyPlanContext,
  KeyRead,
  planKeyBatch,
} from '../../../src/redis/key-batch';
import { parseStreamMeta } from '../../../src/redis/stream-meta';
import { simpleTrigger, testEvent } from '../../support/simple-trigger';

const trigger = simpleTrigger({ expireAfterSeconds: 100 });

function entry(type: string, t: number, id: string): KeyBatchEntry {
  const event = testEvent(type, 'i-1', t, id);
  return { event, distinguished: trigger.match(event)!.distinguished };
}

/** One key's batch under the event clock: three streams, each opened past the one before's expiry; one duplicate. */
const batch: KeyBatchEntry[] = [
  entry('compute.instance.update', 1000, 'a1'),
  entry('compute.instance.update', 1010, 'a2'),
  entry('compute.instance.update', 2000, 'b1'),
  entry('compute.instance.update', 1010, 'a2'),
  entry('compute.instance.update', 2050, 'b2'),
  entry('compute.instance.update', 3000, 'c1'),
];
const group: KeyGroup = { trigger, key: trigger.match(batch[0].event)!.key, batch };

function context(): KeyPlanContext {
  let next = 0;
  return {
    partition: 2,
    clock: 'event',
    now: 0,
    seenAt: 1_000_000,
    seenRetentionSeconds: 60,
    newStreamId: () => `2.s${++next}`,
  };
}

const nothingRead = (entries: number): KeyRead => ({
  activeId: null,
  activeText: null,
  seenScores: new Array<string | null>(entries).fill(null),
});

/** A result with its stream ids replaced by their order of appearance, to compare runs that made other ids. */
function shape(result: KeyApplyResult) {
  const ids = new Map<string, string>();
  const named = (id: string | null) =>
    id === null ? null : (ids.get(id) ?? ids.set(id, `#${ids.size}`).get(id));
  return {
    changes: result.changes.map((c) => ({
      id: named(c.meta.id),
      created: c.created,
      added: c.added.map((e) => e.message_id),
      eventCount: c.meta.eventCount,
      serial: c.meta.serial,
    })),
    activeId: named(result.activeId),
    duplicates: result.duplicates,
    newlySeen: result.newlySeen,
  };
}

describe('a key batch as stream-change writes', () => {
  test('one write per stream, each expecting the pointer and metadata the one before it leaves', () => {
    const plan = planKeyBatch(group, nothingRead(batch.length), context());
    expect(plan.writes.map((w) => [w.streamId, w.expectedPointer, w.created])).toEqual([
      ['2.s1', null, true],
      ['2.s2', '2.s1', true],
      ['2.s3', '2.s2', true],
    ]);
    expect(plan.writes[1].expectedMetaText).toBe(plan.writes[0].metaText);
    expect(plan.writes[2].expectedMetaText).toBe(plan.writes[1].metaText);
    expect(plan.writes.map((w) => w.events.map(([id]) => id))).toEqual([['a1', 'a2'], ['b1', 'b2'], ['c1']]);
    expect(plan.writes[0]).toMatchObject({
      seenAt: 1_000_000,
      forgetSeenBefore: 1_000_000 - 60_000,
      expireAt: 1110 * 1_000_000,
      fireAt: null,
    });
    expect(plan.lastEntry).toEqual([1, 4, 5]);
    expect(plan.result.duplicates).toBe(1);
  });

  test('an existing active stream is the first write, guarded by the text it was read as', () => {
    const first = planKeyBatch({ ...group, batch: batch.slice(0, 1) }, nothingRead(1), context());
    const text = first.writes[0].metaText;
    const read = { activeId: '2.s1', activeText: text, seenScores: [null] };
    const next = planKeyBatch(
      { ...group, batch: [entry('compute.instance.update', 1020, 'a3')] },
      read,
      context(),
    );
    expect(next.writes).toHaveLength(1);
    expect(next.writes[0]).toMatchObject({
      streamId: '2.s1',
      expectedPointer: '2.s1',
      expectedMetaText: text,
    });
    expect(next.writes[0].created).toBe(false);
    expect(parseStreamMeta(next.writes[0].metaText)?.eventCount).toBe(2);
  });

  test('a prefix of the writes takes the entries up to its last event, duplicates before it counted', () => {
    const plan = planKeyBatch(group, nothingRead(batch.length), context());
    expect(appliedPart(plan, 0)).toMatchObject({ consumed: 0, result: { changes: [], duplicates: 0 } });
    const two = appliedPart(plan, 2);
    expect(two.consumed).toBe(5);
    expect(shape(two.result)).toMatchObject({
      activeId: '#1',
      duplicates: 1,
      newlySeen: ['a1', 'a2', 'b1', 'b2'],
    });
    expect(appliedPart(plan, 3)).toEqual({ result: plan.result, consumed: batch.length });
  });

  test('a batch applied in parts (a lost race after each write) ends as the whole batch at once', () => {
    const whole = planKeyBatch(group, nothingRead(batch.length), context()).result;
    const ids = context();
    const progress = new KeyBatchProgress(group);
    let read = nothingRead(batch.length);
    const seen = new Set<string>();
    while (!progress.done) {
      const pending = progress.pending();
      const plan = planKeyBatch(pending, read, ids);
      // Only the first write lands each time.
      progress.settle(plan, Math.min(1, plan.writes.length));
      const landed = plan.writes[0];
      if (landed) landed.events.forEach(([id]) => seen.add(id));
      const rest = progress.pending().batch;
      read = {
        activeId: landed?.streamId ?? read.activeId,
        activeText: landed?.metaText ?? read.activeText,
        seenScores: rest.map((e) => (seen.has(e.event.message_id) ? '1' : null)),
      };
    }
    expect(shape(progress.result)).toEqual(shape(whole));
  });

  test('an empty batch is done at once, with nothing applied', () => {
    const progress = new KeyBatchProgress({ ...group, batch: [] });
    expect(progress.done).toBe(true);
    expect(progress.result).toEqual({ changes: [], activeId: null, duplicates: 0, newlySeen: [] });
  });
});
