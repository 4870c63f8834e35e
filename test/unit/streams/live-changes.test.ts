import { WinchesterEvent } from '../../../src/events/event';
import { ClockMode } from '../../../src/streams/engine';
import { MemoryPartitionStore } from '../../../src/streams/memory-store';
import { StreamRecord } from '../../../src/streams/model';
import { PartitionProcessor } from '../../../src/streams/processor';
import { END_OF_TIME } from '../../../src/streams/simulate';
import { TriggerCatalog, TriggerVersionLog } from '../../../src/streams/trigger-catalog';
import { matchTriggers, TriggerRuntime } from '../../../src/streams/trigger-runtime';
import { triggerRuntime } from '../../../src/triggers';
import { testEvent } from '../../support/simple-trigger';
import { trigger } from '../triggers/helpers';

/*
 * The rules of docs/trigger-language.md "Live changes", one test each, under both clocks. Each
 * event arrives at its own timestamp (the wall clock reads the event's time as "now"), is
 * matched with the current version (stage 1) and applied with the version it was routed
 * under (stage 2); timers run after each event, as the matcher's do.
 */

const S = 1_000_000;

/** A trigger of the trigger language from a plain config (as triggers.yaml would give it). */
function usage(overrides: Record<string, unknown> = {}): TriggerRuntime {
  return triggerRuntime(
    trigger({
      name: 'usage',
      distinguished_by: ['instance_id'],
      expiration: '$last + 100s',
      fire_pipeline: 'audit',
      expire_pipeline: 'missing',
      match_criteria: [{ event_type: 'compute.instance.*' }],
      fire_criteria: [{ event_type: 'compute.instance.exists' }],
      ...overrides,
    }),
  );
}

const deletes = () =>
  triggerRuntime(
    trigger({
      name: 'deletes',
      distinguished_by: ['instance_id'],
      expiration: '$last + 50s',
      fire_pipeline: 'cleanup',
      expire_pipeline: 'deletes_expired',
      match_criteria: [{ event_type: 'compute.instance.delete.*' }],
      fire_criteria: [{ event_type: 'compute.instance.delete.end' }],
    }),
  );

function live(clock: ClockMode, base: TriggerRuntime[]) {
  const versions = new TriggerVersionLog(base);
  const catalog = new TriggerCatalog(versions);
  const records: StreamRecord[] = [];
  const processor = new PartitionProcessor(new MemoryPartitionStore(0), catalog, clock, async (out) => {
    records.push(...out);
  });
  return {
    records,
    processor,
    versions,
    async push(event: WinchesterEvent) {
      const { version, triggers } = catalog.current;
      await processor.apply(matchTriggers(triggers, event, undefined, version), event.timestamp);
      await processor.runTimers(event.timestamp);
    },
    drain: () => processor.runTimers(END_OF_TIME),
  };
}

const view = (r: StreamRecord) => ({
  kind: r.kind,
  trigger: r.trigger,
  version: r.trigger_version ?? 0,
  pipeline: r.pipeline,
  ids: r.events.map((e) => e.message_id),
});
const sorted = (records: StreamRecord[]) =>
  records.map(view).sort((a, b) => (a.ids[0] < b.ids[0] ? -1 : a.ids[0] > b.ids[0] ? 1 : 0));

describe.each<ClockMode>(['event', 'wall'])('live trigger changes, %s clock', (clock) => {
  test('a new trigger collects from the first event after the change; earlier events are not replayed', async () => {
    const h = live(clock, [usage()]);
    await h.push(testEvent('compute.instance.delete.start', 'a', 10, 'a1'));
    expect(await h.versions.apply([usage(), deletes()])).toBe(1);
    await h.push(testEvent('compute.instance.delete.end', 'a', 20, 'a2'));
    await h.push(testEvent('compute.instance.exists', 'a', 30, 'a3'));
    await h.drain();
    expect(sorted(h.records)).toEqual([
      // The unchanged trigger's stream goes on across the change, under the version it opened with.
      { kind: 'fired', trigger: 'usage', version: 0, pipeline: 'audit', ids: ['a1', 'a2', 'a3'] },
      { kind: 'fired', trigger: 'deletes', version: 1, pipeline: 'cleanup', ids: ['a2'] },
    ]);
  });

  test('a removed trigger matches nothing new; its open stream expires under its own version, then is gone', async () => {
    const h = live(clock, [usage(), deletes()]);
    await h.push(testEvent('compute.instance.delete.start', 'a', 10, 'a1'));
    await h.versions.apply([usage()]);
    // delete.end would have fired the deletes stream: it is no longer routed to it.
    await h.push(testEvent('compute.instance.delete.end', 'a', 20, 'a2'));
    await h.push(testEvent('compute.instance.delete.start', 'b', 30, 'b1'));
    await h.drain();
    const removed = h.records.filter((r) => r.trigger === 'deletes');
    expect(removed.map(view)).toEqual([
      { kind: 'expired', trigger: 'deletes', version: 0, pipeline: 'deletes_expired', ids: ['a1'] },
    ]);
    // Its expire time is version 0's `$last + 50s`.
    expect(removed[0].expire).toBe(60 * S);
    expect(h.processor.perTrigger.get('deletes')?.streamsOpened).toBe(1);
  });

  test('a changed trigger: open streams keep their version (counting, timers, pipelines), new ones take the new', async () => {
    const h = live(clock, [usage()]);
    await h.push(testEvent('compute.instance.update', 'a', 10, 'a1'));
    await h.push(testEvent('compute.instance.update', 'b', 12, 'b1'));
    await h.versions.apply([
      usage({
        expiration: '$last + 1000s',
        fire_pipeline: 'audit_v1',
        expire_pipeline: 'missing_v1',
        fire_criteria: [{ event_type: 'compute.instance.exists', number: 2 }],
      }),
    ]);
    // Routed under version 1, joins a's version-0 stream (same distinguished_by) and is
    // counted by version 0's rule: one .exists fires it.
    await h.push(testEvent('compute.instance.exists', 'a', 20, 'a2'));
    // Joins b's stream, whose expiration stays version 0's.
    await h.push(testEvent('compute.instance.update', 'b', 25, 'b2'));
    // New streams are version 1's: one .exists is not enough.
    await h.push(testEvent('compute.instance.update', 'c', 30, 'c1'));
    await h.push(testEvent('compute.instance.exists', 'c', 40, 'c2'));
    await h.push(testEvent('compute.instance.update', 'd', 300, 'd1'));
    await h.drain();
    expect(sorted(h.records)).toEqual([
      { kind: 'fired', trigger: 'usage', version: 0, pipeline: 'audit', ids: ['a1', 'a2'] },
      { kind: 'expired', trigger: 'usage', version: 0, pipeline: 'missing', ids: ['b1', 'b2'] },
      { kind: 'expired', trigger: 'usage', version: 1, pipeline: 'missing_v1', ids: ['c1', 'c2'] },
      { kind: 'expired', trigger: 'usage', version: 1, pipeline: 'missing_v1', ids: ['d1'] },
    ]);
    const expires = new Map(h.records.map((r) => [r.events[0].message_id, r.expire]));
    expect(expires.get('b1')).toBe(125 * S);
    expect(expires.get('c1')).toBe(1040 * S);
  });

  test('a changed distinguished_by never merges an old stream with a new one, even under the same stream key', async () => {
    const byDay = { distinguished_by: ['instance_id', { timestamp: 'day' }] };
    const v0 = usage(byDay);
    // `day + 0h` is the same day: the same stream key, but another distinguished_by.
    const v1 = usage({
      distinguished_by: ['instance_id', { timestamp: 'day + 0h' }],
      fire_pipeline: 'audit_v1',
    });
    const probe = testEvent('compute.instance.update', 'a', 10);
    expect(v1.match(probe)?.key).toBe(v0.match(probe)?.key);
    expect(v1.distinguishedByFingerprint).not.toBe(v0.distinguishedByFingerprint);

    const h = live(clock, [v0]);
    await h.push(testEvent('compute.instance.update', 'a', 10, 'a1'));
    await h.versions.apply([v1]);
    await h.push(testEvent('compute.instance.update', 'a', 20, 'a2'));
    await h.push(testEvent('compute.instance.exists', 'a', 30, 'a3'));
    await h.drain();
    expect(sorted(h.records)).toEqual([
      { kind: 'expired', trigger: 'usage', version: 0, pipeline: 'missing', ids: ['a1'] },
      { kind: 'fired', trigger: 'usage', version: 1, pipeline: 'audit_v1', ids: ['a2', 'a3'] },
    ]);
  });

  test('a rollback routes under the earlier version again: a stream of the later one is not joined across a fingerprint', async () => {
    const v0 = usage({ distinguished_by: ['instance_id', { timestamp: 'day' }] });
    const v1 = usage({ distinguished_by: ['instance_id', { timestamp: 'day @ 0h' }] });
    const h = live(clock, [v0]);
    await h.versions.apply([v1]);
    await h.push(testEvent('compute.instance.update', 'a', 10, 'a1'));
    await h.versions.makeCurrent(0);
    await h.push(testEvent('compute.instance.update', 'a', 20, 'a2'));
    await h.push(testEvent('compute.instance.update', 'a', 30, 'a3'));
    await h.drain();
    expect(sorted(h.records)).toEqual([
      { kind: 'expired', trigger: 'usage', version: 1, pipeline: 'missing', ids: ['a1'] },
      { kind: 'expired', trigger: 'usage', version: 0, pipeline: 'missing', ids: ['a2', 'a3'] },
    ]);
  });
});
