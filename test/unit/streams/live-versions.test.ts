import { createHash } from 'node:crypto';
import { applyEventsToKey } from '../../../src/streams/engine';
import { StreamMeta, StreamRecord } from '../../../src/streams/model';
import { END_OF_TIME, Simulation, streamSummary } from '../../../src/streams/simulate';
import {
  TriggerCatalog,
  TriggerFallback,
  triggersFollowing,
  TriggerVersionLog,
} from '../../../src/streams/trigger-catalog';
import { TriggerRuntime } from '../../../src/streams/trigger-runtime';
import { distinguishedByFingerprint, triggerRuntime } from '../../../src/triggers';
import { decodeRepartition, encodeRepartition } from '../../../src/topology/records';
import { fromAvroStreamRecord, toAvroStreamRecord } from '../../../src/topology/serialization-avro';
import { simpleTrigger, testEvent } from '../../support/simple-trigger';
import { trigger } from '../triggers/helpers';

const S = 1_000_000;
const named = (name: string, extra: Partial<TriggerRuntime> = {}): TriggerRuntime => ({
  ...simpleTrigger({ name }),
  ...extra,
});

describe('distinguished_by fingerprints', () => {
  const fingerprintOf = (distinguished_by: unknown[]) =>
    triggerRuntime(
      trigger({
        name: 't',
        distinguished_by,
        expiration: '$last + 1h',
        fire_pipeline: 'p',
        match_criteria: [{ event_type: '*' }],
        fire_criteria: [{ event_type: 'x' }],
      }),
    ).distinguishedByFingerprint;

  test('8 hex digits; the order of distinguished_by does not count, names and timex sources do', () => {
    const base = fingerprintOf(['instance_id', { timestamp: 'day' }]);
    expect(base).toMatch(/^[0-9a-f]{8}$/);
    expect(fingerprintOf([{ timestamp: 'day' }, 'instance_id'])).toBe(base);
    expect(fingerprintOf(['instance_id', { timestamp: 'hour' }])).not.toBe(base);
    expect(fingerprintOf(['instance_id', 'timestamp'])).not.toBe(base);
    expect(fingerprintOf(['tenant_id', { timestamp: 'day' }])).not.toBe(base);
  });

  test('is the digest of the canonical JSON', () => {
    expect(distinguishedByFingerprint([{ name: 'instance_id', expression: null }])).toBe(
      // sha256 of [["instance_id",null]]
      createHash('sha256').update('[["instance_id",null]]').digest('hex').slice(0, 8),
    );
  });
});

describe('TriggerCatalog', () => {
  test('serves any version the source has; without one, the current definition stands in, reported', async () => {
    const v0 = named('t', { firePipeline: 'p0' });
    const v1 = named('t', { firePipeline: 'p1' });
    const fallbacks: TriggerFallback[] = [];
    let now = 0;
    const known = new Map<number, TriggerRuntime[]>([[0, [v0]]]);
    const changes: Array<(version: number, triggers: readonly TriggerRuntime[]) => unknown> = [];
    const source = {
      current: { version: 0, triggers: [v0] },
      triggersOf: (version: number) => known.get(version),
      onChange: (listener: (typeof changes)[number]) => void changes.push(listener),
    };
    const catalog = new TriggerCatalog(source, {
      onFallback: (f) => fallbacks.push(f),
      retryAfterMs: 5000,
      nowMs: () => now,
    });
    expect(catalog.get('t', 0)).toBe(v0);
    // Version 1 routed elsewhere, not yet known here: version 0's definition, reported once as first.
    expect(catalog.get('t', 1)).toBe(v0);
    expect(catalog.get('t', 1)).toBe(v0);
    expect(fallbacks.map((f) => [f.version, f.current, f.reason, f.first])).toEqual([
      [1, 0, 'version unavailable', true],
      [1, 0, 'version unavailable', false],
    ]);
    // Known now, but the source is asked again only after the retry period.
    known.set(1, [v1]);
    expect(catalog.get('t', 1)).toBe(v0);
    now = 5000;
    expect(catalog.get('t', 1)).toBe(v1);
    // A change makes its version current: the default of `get`, and stage 1's triggers.
    changes.forEach((listener) => listener(1, [v1]));
    expect(catalog.current.version).toBe(1);
    expect(catalog.currentVersion).toBe(1);
    expect(catalog.get('t')).toBe(v1);
    // A trigger that no version has is unknown.
    expect(catalog.get('nope', 0)).toBeUndefined();
  });

  test('a trigger missing from the version asked for falls back, with that reason', () => {
    const fallbacks: TriggerFallback[] = [];
    const log = new TriggerVersionLog([named('a')]);
    const catalog = new TriggerCatalog(log, { onFallback: (f) => fallbacks.push(f) });
    void log.apply([named('a'), named('b')]);
    expect(catalog.get('b', 0)?.name).toBe('b');
    expect(fallbacks.map((f) => f.reason)).toEqual(['trigger not in version']);
  });

  test('follows a topology follower through triggersFollowing', async () => {
    const topologies = new Map([
      [0, { triggers: [named('a')] }],
      [1, { triggers: [named('a'), named('b')] }],
    ]);
    const listeners: Array<(version: number, topology: { triggers: TriggerRuntime[] }) => unknown> = [];
    const follower = {
      current: { version: 0, topology: topologies.get(0)! },
      topologyOf: (version: number) => topologies.get(version),
      onChange: (listener: (typeof listeners)[number]) => void listeners.push(listener),
    };
    const catalog = new TriggerCatalog(triggersFollowing(follower));
    expect(catalog.current.triggers.map((t) => t.name)).toEqual(['a']);
    for (const listener of listeners) await listener(1, topologies.get(1)!);
    expect(catalog.current).toMatchObject({ version: 1 });
    expect(catalog.current.triggers.map((t) => t.name)).toEqual(['a', 'b']);
    expect(catalog.get('b', 1)).toBe(topologies.get(1)!.triggers[1]);
  });

  test('TriggerVersionLog refuses a version it never had', async () => {
    await expect(new TriggerVersionLog([]).makeCurrent(3)).rejects.toThrow(/no trigger version 3/);
  });
});

describe('streams from before live changes', () => {
  test('meta without version and fingerprint is version 0 and takes an event of any fingerprint', () => {
    const old: StreamMeta = {
      id: 's-1',
      trigger: 't',
      key: 'k',
      partition: 0,
      state: 'active',
      serial: 1,
      first: 10 * S,
      last: 10 * S,
      expireAt: 1000 * S,
      fireAt: null,
      counters: [0],
      distinguished: {},
      eventCount: 1,
    };
    // Version 0 fires on .exists; version 2 (another fingerprint) never would.
    const v0 = named('t');
    const v2 = named('t', { distinguishedByFingerprint: 'ffffffff', fireCounters: () => [] });
    const result = applyEventsToKey(
      { active: old, alreadySeen: new Set() },
      [{ event: testEvent('compute.instance.exists', 'a', 20, 'e2'), distinguished: {}, version: 2 }],
      { name: 't', at: (version) => (version === 0 ? v0 : v2) },
      { clock: 'event', now: 20 * S, partition: 0, key: 'k', newStreamId: () => 'new' },
    );
    expect(result.changes.map((c) => [c.meta.id, c.created])).toEqual([['s-1', false]]);
    expect(result.changes[0].meta.fireAt).toBe(20 * S);
    expect(result.changes[0].meta.version).toBeUndefined();
  });

  test('a new stream records its version and fingerprint in its meta', () => {
    const v3 = named('t', { distinguishedByFingerprint: 'abcd0123' });
    const result = applyEventsToKey(
      { active: null, alreadySeen: new Set() },
      [{ event: testEvent('compute.instance.update', 'a', 20, 'e1'), distinguished: {}, version: 3 }],
      v3,
      { clock: 'wall', now: 20 * S, partition: 0, key: 'k', newStreamId: () => 'new' },
    );
    expect(result.changes[0].meta).toMatchObject({ id: 'new', version: 3, fingerprint: 'abcd0123' });
  });
});

describe('versions on the wire', () => {
  const matched = (version?: number) => ({
    trigger: 't',
    key: 'k',
    distinguished: { instance_id: { type: 'text' as const, value: 'a' } },
    event: testEvent('compute.instance.update', 'a', 10, 'e1'),
    ...(version === undefined ? {} : { version }),
  });

  test('a repartition record carries the version it was routed under; version 0 is written as before', () => {
    const v2 = encodeRepartition({ type: 'event', matched: matched(2) });
    expect(v2.split('\n')[0]).toContain('"v":2');
    expect(decodeRepartition(Buffer.from(v2))).toMatchObject({ type: 'event', matched: { version: 2 } });
    const v0 = encodeRepartition({ type: 'event', matched: matched(0) });
    expect(v0).toBe(encodeRepartition({ type: 'event', matched: matched() }));
    const decoded = decodeRepartition(Buffer.from(v0));
    expect(decoded.type === 'event' && decoded.matched.version).toBeUndefined();
  });

  test('a version that is not one is a wire format error', () => {
    const bad = encodeRepartition({ type: 'event', matched: matched(2) }).replace('"v":2', '"v":"2"');
    expect(() => decodeRepartition(Buffer.from(bad))).toThrow(/topology version "2"/);
  });

  test('a stream record keeps trigger_version through Avro; absent reads as version 0', () => {
    const record: StreamRecord = {
      stream_id: '0.x',
      partition: 0,
      trigger: 't',
      trigger_version: 4,
      kind: 'fired',
      pipeline: 'p',
      distinguished_by: {},
      first: 1,
      last: 2,
      expire: 3,
      serial: 2,
      events: [],
    };
    expect(fromAvroStreamRecord(toAvroStreamRecord(record)).trigger_version).toBe(4);
    const { trigger_version: _, ...old } = record;
    const avro = toAvroStreamRecord(old);
    expect(avro.trigger_version).toBe(0);
    expect(fromAvroStreamRecord({ ...avro, trigger_version: undefined }).trigger_version).toBeUndefined();
  });
});

describe('Simulation.changeTriggers', () => {
  test('numbers versions from 1, matches with the new one from the next event, and says so in the summary', async () => {
    const simulation = new Simulation([named('a')], 'event');
    await simulation.push(testEvent('compute.instance.update', 'x', 10, 'x1'));
    expect(await simulation.changeTriggers([named('a'), named('b')])).toBe(1);
    expect(simulation.version).toBe(1);
    await simulation.push(testEvent('compute.instance.exists', 'x', 20, 'x2'));
    await simulation.advance(END_OF_TIME);
    const summaries = simulation.records.map(streamSummary);
    expect(summaries.map((s) => [s.trigger, s.trigger_version, s.message_ids])).toEqual([
      ['a', undefined, ['x1', 'x2']],
      ['b', 1, ['x2']],
    ]);
    // Records taken under version 1 name it as their pipeline version.
    expect(simulation.records.map((r) => r.pipeline_version)).toEqual([1, 1]);
  });
});
