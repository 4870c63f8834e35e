import { Kafka } from 'kafkajs';
import { WinchesterEvent } from '../../src/events/event';
import { encodeEvent } from '../../src/events/wire';
import { createKafka } from '../../src/kafka/client';
import { groupLag } from '../../src/kafka/group-lag';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { RedisPartitionStore } from '../../src/redis/partition-store';
import { END_OF_TIME, Simulation, streamSummary } from '../../src/streams/simulate';
import { TriggerCatalog, TriggerVersionLog } from '../../src/streams/trigger-catalog';
import { TriggerRuntime } from '../../src/streams/trigger-runtime';
import { MatcherRole, startMatcher } from '../../src/topology/matcher-role';
import { triggerRuntime } from '../../src/triggers';
import { TopologySettings } from '../../src/config/topology-settings';
import { testNamespace } from '../support/namespace';
import { testEvent } from '../support/simple-trigger';
import {
  advanceClock,
  collectSettledStreams,
  produce,
  topologyFixture,
  waitFor,
} from '../support/topology-harness';
import { trigger } from '../unit/triggers/helpers';

/*
 * Live trigger changes in the matcher role on real Kafka and Redis: two matchers, each with
 * its own version source (as each process has its own topology follower), take two changes
 * mid-run without a restart or a rebalance, and give the streams `simulate` gives with the same
 * changes at the same events.
 */

const S = 1_000_000;

const definition = (config: Record<string, unknown>): TriggerRuntime =>
  triggerRuntime(
    trigger({
      distinguished_by: ['instance_id'],
      expire_pipeline: 'expired',
      ...config,
    }),
  );

const exists = (overrides: Record<string, unknown> = {}) =>
  definition({
    name: 'exists',
    distinguished_by: ['instance_id', { timestamp: 'day' }],
    expiration: '$last + 600s',
    fire_pipeline: 'audit',
    match_criteria: [{ event_type: 'compute.instance.*' }],
    fire_criteria: [{ event_type: 'compute.instance.exists' }],
    ...overrides,
  });
const deletes = definition({
  name: 'deletes',
  expiration: '$last + 300s',
  fire_pipeline: 'cleanup',
  match_criteria: [{ event_type: 'compute.instance.delete.*' }],
  fire_criteria: [{ event_type: 'compute.instance.delete.end' }],
});
const updates = definition({
  name: 'updates',
  expiration: '$last + 400s',
  fire_pipeline: 'updates',
  match_criteria: [{ event_type: 'compute.instance.update' }],
  fire_criteria: [{ event_type: 'compute.instance.update', number: 3 }],
});

/** Version 1: `exists` changed (same grouping), `updates` new. Version 2: `deletes` gone, `exists` regrouped. */
const VERSIONS: TriggerRuntime[][] = [
  [exists(), deletes],
  [
    exists({
      expiration: '$last + 900s',
      fire_criteria: [{ event_type: 'compute.instance.exists', number: 2 }],
    }),
    deletes,
    updates,
  ],
  [exists({ distinguished_by: ['instance_id', { timestamp: 'day + 0h' }] }), updates],
];

/** 60 instances over 3 simulated hours, in timestamp order. */
function synthetic(): WinchesterEvent[] {
  const types = [
    'compute.instance.update',
    'compute.instance.delete.start',
    'compute.instance.exists',
    'compute.instance.delete.end',
  ];
  const events: WinchesterEvent[] = [];
  let t = 1_800_000_000;
  for (let i = 0; i < 3000; i++) {
    t += 1 + (i % 7);
    events.push(testEvent(types[((i * 7) % 11) % 4], `inst-${(i * 13) % 60}`, t, `msg-${i}`));
  }
  return events;
}

async function simulatedWithChanges(events: WinchesterEvent[], at: number[]): Promise<string[]> {
  const simulation = new Simulation(VERSIONS[0], 'event');
  for (const [index, event] of events.entries()) {
    const change = at.indexOf(index);
    if (change >= 0) await simulation.changeTriggers(VERSIONS[change + 1]);
    await simulation.push(event);
  }
  await simulation.advance(END_OF_TIME);
  return simulation.records.map((r) => JSON.stringify(streamSummary(r))).sort();
}

/** Stage 1 has routed everything produced so far: the matcher group's offsets on `events` are at the end. */
async function routed(kafka: Kafka, settings: TopologySettings): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await waitFor(
      async () => (await groupLag(admin, `${settings.namespace}.matcher`, [settings.topics.events])) === 0,
      60000,
    );
  } finally {
    await admin.disconnect();
  }
}

describe('matcher role with live trigger changes', () => {
  const matchers: MatcherRole[] = [];
  afterAll(async () => {
    for (const m of matchers) await m.stop();
  });

  test('two changes mid-run on two matchers (event clock): the streams of simulate with the same changes', async () => {
    const ns = testNamespace();
    const { kafka, settings } = await topologyFixture(ns, { clock: 'event' });
    const events = synthetic();
    const at = [1000, 2000];
    const expected = await simulatedWithChanges(events, at);
    expect(expected.some((s) => s.includes('"trigger_version":2'))).toBe(true);

    // One source per matcher, as each process follows the topology itself.
    const sources = [new TriggerVersionLog(VERSIONS[0]), new TriggerVersionLog(VERSIONS[0])];
    for (const [i, source] of sources.entries()) {
      const client = createKafka(ns.settings, `${ns.prefix}-m${i}`);
      matchers.push(
        await startMatcher(client, ns.settings.redisUrl, settings, VERSIONS[0], undefined, undefined, source),
      );
    }
    const messages = events.map((e) => ({ key: String(e.traits.instance_id.value), value: encodeEvent(e) }));
    const bounds = [0, ...at, events.length];
    for (let part = 0; part < bounds.length - 1; part++) {
      if (part > 0) {
        // Everything before the change is routed; then every matcher takes the new version.
        await routed(kafka, settings);
        for (const source of sources) await source.apply(VERSIONS[part]);
        expect(matchers.map((m) => m.version)).toEqual([part, part]);
      }
      await produce(kafka, settings.topics.events, messages.slice(bounds[part], bounds[part + 1]));
    }
    await routed(kafka, settings);
    await advanceClock(kafka, settings, END_OF_TIME);

    const all = await collectSettledStreams(kafka, settings.topics.streams, expected.length);
    const byId = new Map(all.map((r) => [r.stream_id, r]));
    expect([...byId.values()].map((r) => JSON.stringify(streamSummary(r))).sort()).toEqual(expected);
    // Each version's records name the version current when they were taken.
    expect(Math.max(...all.map((r) => r.pipeline_version ?? 0))).toBe(2);
    expect(matchers.reduce((n, m) => n + m.counters.triggerFallbacks, 0)).toBe(0);
  });
});

describe('stream meta in Redis across versions', () => {
  const ns = testNamespace();
  const pool = new RedisConnectionPool(ns.settings.redisUrl, 2);
  afterAll(() => pool.close());

  test('a stream records its version and fingerprint; meta written before versions is version 0 and joinable', async () => {
    const store = new RedisPartitionStore(0, pool, {
      namespace: ns.prefix,
      seenRetentionSeconds: 3600,
      maxAttempts: 20,
    });
    await store.claim();
    const v0 = exists();
    const v2 = exists({
      distinguished_by: ['instance_id', { timestamp: 'day + 0h' }],
      fire_pipeline: 'audit_v2',
    });
    const versions = new TriggerVersionLog([v0]);
    await versions.apply([v0]);
    await versions.apply([v2]);
    const catalog = new TriggerCatalog(versions);
    const at = (version: number) => catalog.get('exists', version)!;
    const entry = (type: string, t: number, id: string, version: number) => {
      const event = testEvent(type, 'i-1', t, id);
      return { event, distinguished: at(version).match(event)!.distinguished, version };
    };
    const key = at(0).match(testEvent('compute.instance.update', 'i-1', 1_800_000_000))!.key;
    const versionedExists = { name: 'exists', at };

    const [opened] = await store.applyKeys(
      [{ trigger: versionedExists, key, batch: [entry('compute.instance.update', 1_800_000_000, 'e1', 2)] }],
      'event',
      1_800_000_000 * S,
    );
    const id = opened.changes[0].meta.id;
    const raw = JSON.parse((await pool.with((c) => c.get(store.keys.stream(id))))!) as Record<
      string,
      unknown
    >;
    expect(raw).toMatchObject({ version: 2, fingerprint: v2.distinguishedByFingerprint });

    // As an older build wrote it: no version, no fingerprint.
    delete raw.version;
    delete raw.fingerprint;
    await pool.with((c) => c.set(store.keys.stream(id), JSON.stringify(raw)));
    const [joined] = await store.applyKeys(
      [{ trigger: versionedExists, key, batch: [entry('compute.instance.exists', 1_800_000_010, 'e2', 2)] }],
      'event',
      1_800_000_010 * S,
    );
    expect(joined.changes.map((c) => [c.meta.id, c.created])).toEqual([[id, false]]);

    const [record] = await store.takeDueMany(
      [{ kind: 'fired', due: 1_800_000_010 * S, streamId: id }],
      catalog,
    );
    // Version 0's trigger: its pipeline, and no trigger_version on the record.
    expect(record).toMatchObject({ kind: 'fired', pipeline: 'audit', pipeline_version: 2 });
    expect(record?.trigger_version).toBeUndefined();
    expect(record?.events.map((e) => e.message_id)).toEqual(['e1', 'e2']);
  });
});
