import Redis from 'ioredis';
import { encodeEvent } from '../../src/events/wire';
import { buildApi } from '../../src/api/server';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { keysForStream } from '../../src/redis/keys';
import { claimStream, finishStream, readTombstone, renewClaim, resetStream } from '../../src/redis/lifecycle';
import { checkPartitionCount, RedisPartitionStore } from '../../src/redis/partition-store';
import { getStreamView } from '../../src/redis/query';
import { StreamRecord } from '../../src/streams/model';
import { PartitionProcessor } from '../../src/streams/processor';
import { testNamespace } from '../support/namespace';
import { simpleTrigger, testEvent } from '../support/simple-trigger';

const ns = testNamespace();
const S = 1_000_000;
const FAILED_PER_PARTITION = 6;

/**
 * Streams in every state a reset meets: per partition, failed ones (fired → error,
 * expired → expire_error) and one still active.
 */
async function seedStreams(redis: Redis, pool: RedisConnectionPool, namespace: string) {
  await checkPartitionCount(redis, namespace, 2);
  const trigger = simpleTrigger({ expireAfterSeconds: 100 });
  const failed: StreamRecord[] = [];
  const active: string[] = [];
  for (const p of [0, 1]) {
    const store = new RedisPartitionStore(p, pool, { namespace, seenRetentionSeconds: 60, maxAttempts: 10 });
    await store.claim();
    const emitted: StreamRecord[] = [];
    const processor = new PartitionProcessor(
      store,
      new Map([[trigger.name, trigger]]),
      'event',
      async (records) => void emitted.push(...records),
    );
    for (let i = 0; i < FAILED_PER_PARTITION; i++) {
      const type = i % 2 ? 'compute.instance.update' : 'compute.instance.exists';
      const event = testEvent(type, `p${p}f${i}`, 1000 + i);
      await processor.apply([{ trigger: trigger.name, ...trigger.match(event)!, event }], 0);
    }
    const later = testEvent('compute.instance.update', `p${p}active`, 5000);
    await processor.apply([{ trigger: trigger.name, ...trigger.match(later)!, event: later }], 0);
    await processor.runTimers(2000 * S);
    for (const record of emitted) {
      const to = record.kind === 'fired' ? 'error' : 'expire_error';
      const keys = keysForStream(namespace, record.stream_id);
      const opts = { purge: true, tombstoneSeconds: 60, outcome: '{}' };
      expect(await finishStream(redis, keys, record.stream_id, record.serial, to, opts)).toBe('finished');
    }
    failed.push(...emitted);
    active.push(...(await store.listStreams({ state: 'active' })).map((s) => s.id));
  }
  return { failed, active };
}

describe('stream resets through the API, all on one shared Redis connection', () => {
  const redis = new Redis(ns.settings.redisUrl);
  const pool = new RedisConnectionPool(ns.settings.redisUrl, 2);
  const app = buildApi({ metrics: new WinchesterMetrics('api'), redis, namespace: ns.prefix });
  let seeded: Awaited<ReturnType<typeof seedStreams>>;
  beforeAll(async () => {
    seeded = await seedStreams(redis, pool, ns.prefix);
  });
  afterAll(async () => {
    await app.close();
    await pool.close();
    redis.disconnect();
  });

  const reset = async (id: string) => {
    const response = await app.inject({ method: 'POST', url: `/v1/streams/${id}/reset` });
    return { status: response.statusCode, body: response.json() };
  };

  test('concurrent resets of one stream: exactly one succeeds, the others are refused as wrong_state', async () => {
    for (const stream of seeded.failed.slice(0, 3)) {
      const before = (await getStreamView(redis, ns.prefix, stream.stream_id))!;
      const answers = await Promise.all(Array.from({ length: 12 }, () => reset(stream.stream_id)));
      const won = answers.filter((a) => a.status === 200);
      expect(won).toHaveLength(1);
      expect(won[0].body.serial).toBe(before.serial + 1);
      for (const lost of answers.filter((a) => a.status !== 200)) {
        expect(lost).toMatchObject({ status: 409, body: { error: 'conflict', code: 'wrong_state' } });
      }
      const after = (await getStreamView(redis, ns.prefix, stream.stream_id))!;
      expect(after).toMatchObject({
        state: before.state === 'error' ? 'retry_fire' : 'retry_expire',
        serial: before.serial + 1,
      });
      const keys = keysForStream(ns.prefix, stream.stream_id);
      expect(await redis.sismember(keys.pending, stream.stream_id)).toBe(1);
      expect(await readTombstone(redis, keys, stream.stream_id)).toBeNull();
    }
  });

  test('concurrent resets of different streams all succeed', async () => {
    const others = seeded.failed.slice(3);
    expect(others.length).toBeGreaterThan(4);
    const answers = await Promise.all(others.map((s) => reset(s.stream_id)));
    expect(answers.map((a) => a.status)).toEqual(others.map(() => 200));
    expect(answers.map((a) => a.body.state)).toEqual(
      others.map((s) => (s.kind === 'fired' ? 'retry_fire' : 'retry_expire')),
    );
  });

  test('refusals carry their code: not_found is 404, wrong_state 409', async () => {
    const missing = `0.${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`;
    expect(await reset(missing)).toMatchObject({ status: 404, body: { code: 'not_found' } });
    expect(await reset(seeded.active[0])).toMatchObject({
      status: 409,
      body: { code: 'wrong_state', message: expect.stringContaining('is active') },
    });
  });
});

describe("a worker's claim and finish scripts", () => {
  const redis = new Redis(ns.settings.redisUrl);
  const pool = new RedisConnectionPool(ns.settings.redisUrl, 2);
  const namespace = `${ns.prefix}.worker`;
  afterAll(async () => {
    await pool.close();
    redis.disconnect();
  });

  test('one holder claims; renewal and finishing are fenced by holder and serial', async () => {
    const stream = (await seedStreams(redis, pool, namespace)).failed[0].stream_id;
    // Reset, so the stream awaits a worker again (retry_*), as the matcher re-emits it.
    const { serial } = await resetStream(redis, namespace, stream);
    const keys = keysForStream(namespace, stream);
    const claimBy = (holder: string, at: number) => ({ streamId: stream, serial: at, holder, ttlMs: 60_000 });
    const claims = await Promise.all(
      ['a', 'b', 'c'].map((holder) => claimStream(redis, keys, claimBy(holder, serial))),
    );
    expect(claims.filter((c) => c === 'claimed')).toHaveLength(1);
    expect(claims.filter((c) => c === 'held-by-other')).toHaveLength(2);
    const holder = ['a', 'b', 'c'][claims.indexOf('claimed')];
    expect(await claimStream(redis, keys, claimBy(holder, serial))).toBe('claimed');
    expect(await claimStream(redis, keys, claimBy(holder, serial - 1))).toBe('not-runnable');
    expect(await renewClaim(redis, keys, claimBy(holder, serial))).toBe(true);
    expect(await renewClaim(redis, keys, claimBy('someone-else', serial))).toBe(false);

    const opts = { purge: false, tombstoneSeconds: 60, outcome: '{"done":true}' };
    expect(await finishStream(redis, keys, stream, serial - 1, 'completed', opts)).toBe('stale');
    expect(await finishStream(redis, keys, stream, serial, 'completed', opts)).toBe('finished');
    expect(await finishStream(redis, keys, stream, serial, 'completed', opts)).toBe('stale');
    expect(await getStreamView(redis, namespace, stream)).toMatchObject({
      state: 'completed',
      serial: serial + 1,
    });
    expect(await readTombstone(redis, keys, stream)).toEqual({
      state: 'completed',
      serial: serial + 1,
      outcome: '{"done":true}',
    });
    expect(await redis.exists(keys.claim(stream))).toBe(0);
    expect(await redis.sismember(keys.pending, stream)).toBe(0);
    expect(await renewClaim(redis, keys, claimBy(holder, serial))).toBe(false);
  });

  test('a stream whose events an earlier version kept in a hash is re-emitted whole and purged', async () => {
    const upgraded = `${namespace}.upgraded`;
    const record = (await seedStreams(redis, pool, upgraded)).failed[0];
    const keys = keysForStream(upgraded, record.stream_id);
    // The earlier layout: message id → plain wire text.
    const byId = record.events.flatMap((e) => [e.message_id, encodeEvent(e)]);
    await redis
      .multi()
      .del(keys.events(record.stream_id))
      .hset(keys.events(record.stream_id), ...byId)
      .exec();
    const { serial } = await resetStream(redis, upgraded, record.stream_id);
    const store = new RedisPartitionStore(record.partition, pool, {
      namespace: upgraded,
      seenRetentionSeconds: 60,
      maxAttempts: 10,
    });
    const trigger = simpleTrigger({ expireAfterSeconds: 100 });
    const [again] = await store.pendingEmissions(new Map([[trigger.name, trigger]]));
    expect(JSON.stringify(again.events)).toBe(JSON.stringify(record.events));
    const opts = { purge: true, tombstoneSeconds: 60, outcome: '{}' };
    expect(await finishStream(redis, keys, record.stream_id, serial, 'completed', opts)).toBe('finished');
    expect(await redis.exists(keys.events(record.stream_id))).toBe(0);
  });
});
