import { buildApi } from '../../src/api/server';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { createRedisClient } from '../../src/redis/client';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { finishStream } from '../../src/redis/lifecycle';
import { PartitionProcessor } from '../../src/streams/processor';
import { checkPartitionCount, RedisPartitionStore } from '../../src/redis/partition-store';
import { StreamRecord } from '../../src/streams/model';
import { CompletedStream, MemoryCompletedStreams } from '../../src/store/completed-streams';
import { logger } from '../../src/util/logger';
import { redisTargets, testNamespace } from '../support/namespace';
import { simpleTrigger, testEvent } from '../support/simple-trigger';

const ns = testNamespace();

describe.each(redisTargets())('admin API against $name', ({ url }) => {
  const ns = testNamespace(url);
  const redis = createRedisClient(url);
  const pool = new RedisConnectionPool(url, 2);
  const app = buildApi({
    metrics: new WinchesterMetrics('api'),
    redis,
    namespace: ns.prefix,
    bearerToken: 's3cret',
  });
  const auth = { authorization: 'Bearer s3cret' };
  let base = '';
  beforeAll(async () => {
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  // Real HTTP over loopback, as a client sees it.
  const call = async (path: string, opts: { method?: string; headers?: Record<string, string> } = {}) => {
    const response = await fetch(`${base}${path}`, { method: opts.method ?? 'GET', headers: opts.headers });
    const body = await response.text();
    return { statusCode: response.status, body, json: () => JSON.parse(body) };
  };
  afterAll(async () => {
    await app.close();
    await pool.close();
    redis.disconnect();
  });

  test('lists, filters, pages, shows and resets streams; rejects bad parameters', async () => {
    await checkPartitionCount(redis, ns.prefix, 2);
    const trigger = simpleTrigger({ expireAfterSeconds: 100 });
    const emitted: StreamRecord[] = [];
    for (const p of [0, 1]) {
      const store = new RedisPartitionStore(p, pool, {
        namespace: ns.prefix,
        seenRetentionSeconds: 60,
        maxAttempts: 10,
      });
      await store.claim();
      const processor = new PartitionProcessor(
        store,
        new Map([[trigger.name, trigger]]),
        'event',
        async (records) => void emitted.push(...records),
      );
      for (let i = 0; i < 3; i++) {
        const event = testEvent('compute.instance.update', `p${p}i${i}`, 1000 + i);
        await processor.apply([{ trigger: trigger.name, ...trigger.match(event)!, event }], 0);
      }
      if (p === 1) await processor.runTimers(1101 * 1e6 + 1); // expires p1i0 only
    }
    const failed = emitted[0];
    await pool.with((c) =>
      finishStream(
        c,
        new RedisPartitionStore(1, pool, { namespace: ns.prefix, seenRetentionSeconds: 60, maxAttempts: 1 })
          .keys,
        failed.stream_id,
        failed.serial,
        'expire_error',
        { purge: true, tombstoneSeconds: 60, outcome: '{}' },
      ),
    );

    expect((await call('/v1/streams')).statusCode).toBe(401);
    const all = (await call('/v1/streams?count=4', { headers: auth })).json();
    expect(all.streams).toHaveLength(4);
    const rest = (await call(`/v1/streams?count=4&marker=${all.next_marker}`, { headers: auth })).json();
    expect(rest.streams).toHaveLength(2);
    expect(rest.next_marker).toBeNull();
    const errored = (await call('/v1/streams?state=expire_error', { headers: auth })).json();
    expect(errored.streams.map((s: { id: string }) => s.id)).toEqual([failed.stream_id]);
    const byTrait = (
      await call('/v1/streams?instance_id=p0i2&include_events=true', { headers: auth })
    ).json();
    expect(byTrait.streams).toHaveLength(1);
    expect(byTrait.streams[0].events[0]).toMatchObject({
      event_type: 'compute.instance.update',
      timestamp: '1970-01-01T00:16:42.000000Z',
    });
    const one = await call(`/v1/streams/${failed.stream_id}`, { headers: auth });
    expect(one.json()).toMatchObject({
      state: 'expire_error',
      distinguishing_traits: { instance_id: 'p1i0' },
    });

    const reset = await call(`/v1/streams/${failed.stream_id}/reset`, { method: 'POST', headers: auth });
    expect(reset.json()).toMatchObject({ state: 'retry_expire' });
    const again = await call(`/v1/streams/${failed.stream_id}/reset`, { method: 'POST', headers: auth });
    expect(again.statusCode).toBe(409);

    const ids = async (query: string) =>
      (await call(`/v1/streams?${query}`, { headers: auth }))
        .json()
        .streams.map((s: { id: string }) => s.id)
        .sort();
    const everyId = [...all.streams, ...rest.streams].map((s: { id: string }) => s.id).sort();
    // Trigger name (upstream's `name`, or `trigger`).
    expect(await ids(`name=${trigger.name}&count=100`)).toEqual(everyId);
    expect(await ids(`trigger=${trigger.name}&count=100`)).toEqual(everyId);
    expect(await ids('name=no_such_trigger')).toEqual([]);
    // Time windows on the stream's first event: 1000, 1001 and 1002 s after the epoch (i = 0..2).
    expect(await ids('older_than=1970-01-01T00:16:41Z')).toHaveLength(2);
    expect(await ids('older_than=1970-01-01T00:16:42.000001Z&count=100')).toEqual(everyId);
    expect(await ids('younger_than=1970-01-01T00:16:41Z')).toHaveLength(2);
    expect(await ids('younger_than=1970-01-01T00:16:39Z&count=100')).toEqual(everyId);
    expect(await ids('younger_than=1970-01-01T00:16:42Z')).toEqual([]);
    expect(await ids('younger_than=1970-01-01T00:16:40Z&older_than=1970-01-01T00:16:42Z')).toHaveLength(2);
    // Distinguishing traits, also in the `traits=name:value` form.
    expect(await ids('traits=instance_id:p1i0')).toEqual([failed.stream_id]);
    expect(await ids('traits=instance_id:nobody')).toEqual([]);
    // A wrong token is refused like a missing one; health checks need none.
    expect((await call('/v1/streams', { headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    expect((await call('/healthz/live')).json()).toEqual({ status: 'ok' });
    expect((await call('/healthz/ready')).statusCode).toBe(200);

    for (const bad of [
      'state=sleeping',
      'count=0',
      'count=1001',
      'older_than=yesterday',
      'younger_than=2026-13-01',
      'include_events=maybe',
      'traits=instance_id',
    ]) {
      const response = await call(`/v1/streams?${bad}`, { headers: auth });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe('bad_request');
    }
    expect((await call('/v1/streams/nope', { headers: auth })).statusCode).toBe(400);
    const health = await call('/healthz');
    expect(health.json()).toEqual({ status: 'ok', checks: { redis: 'ok' } });
    const metrics = await call('/metrics', { headers: auth });
    expect(metrics.body).toContain('process_cpu_user_seconds_total');
  });

  test('completed streams come from the archive when the API has one: filters and pages as the live ones', async () => {
    const archive = new MemoryCompletedStreams();
    const completed = (id: string, instance: string, first: number): CompletedStream => ({
      namespace: ns.prefix,
      stream_id: id,
      trigger: 'usage',
      kind: 'fired',
      pipeline: 'audit',
      serial: 3,
      outcome: 'completed',
      message_ids: [`${id}-a`, `${id}-b`],
      new_event_ids: [],
      distinguished_by: { instance_id: { type: 'text', value: instance } },
      first,
      last: first + 5_000_000,
      completed_at: first + 60_000_000,
    });
    await archive.recordCompletedStreams([
      completed('s1', 'i-1', 1_000_000),
      completed('s2', 'i-2', 2_000_000),
      completed('s3', 'i-1', 3_000_000),
      { ...completed('s4', 'i-1', 4_000_000), outcome: 'error', error: 'atompub: timed out' },
      { ...completed('s5', 'i-1', 4_000_000), namespace: 'elsewhere' },
    ]);
    const archived = buildApi({
      metrics: new WinchesterMetrics('api'),
      redis,
      namespace: ns.prefix,
      completedStreams: archive,
    });
    const list = async (query: string) =>
      (await archived.inject({ url: `/v1/streams?state=completed&${query}` })).json() as {
        streams: Array<Record<string, unknown>>;
        next_marker: string | null;
      };
    const all = await list('count=2');
    expect(all.streams.map((s) => s.id)).toEqual(['s1', 's2']);
    expect(all.next_marker).toBe('s2');
    expect((await list('marker=s2')).streams.map((s) => s.id)).toEqual(['s3']);
    expect((await list('traits=instance_id:i-1')).streams.map((s) => s.id)).toEqual(['s1', 's3']);
    expect((await list('older_than=1970-01-01T00:00:02Z')).streams.map((s) => s.id)).toEqual(['s1']);
    expect(all.streams[0]).toEqual({
      id: 's1',
      name: 'usage',
      state: 'completed',
      serial: 3,
      partition: null,
      first_event: '1970-01-01T00:00:01.000000Z',
      last_event: '1970-01-01T00:00:06.000000Z',
      expire_timestamp: null,
      fire_timestamp: null,
      distinguishing_traits: { instance_id: 'i-1' },
      event_count: 2,
      kind: 'fired',
      completed_at: '1970-01-01T00:01:01.000000Z',
      message_ids: ['s1-a', 's1-b'],
    });
    await archived.close();
  });
});

describe('the API hardened, against real Redis', () => {
  const redis = createRedisClient(ns.settings.redisUrl);
  afterAll(() => redis.disconnect());

  test('a parameter given twice is refused, not half-read; /metrics needs no token unless it has one', async () => {
    const app = buildApi({
      metrics: new WinchesterMetrics('api'),
      redis,
      namespace: ns.prefix,
      bearerToken: 's3cret',
    });
    const get = (url: string, token?: string) =>
      app.inject({ url, headers: token ? { authorization: `Bearer ${token}` } : {} });
    for (const repeated of [
      'state=error&state=active',
      'older_than=x&older_than=y',
      'traits=a:1&traits=b:2',
      'instance_id=a&instance_id=b',
    ]) {
      const response = await get(`/v1/streams?${repeated}`, 's3cret');
      expect([repeated, response.statusCode, response.json().error]).toEqual([repeated, 400, 'bad_request']);
    }
    expect((await get('/v1/streams?count=1&count=2', 's3cret')).json().message).toBe(
      'count is given 2 times: give it once',
    );
    expect((await get('/metrics')).statusCode).toBe(200);
    await app.close();
  });

  test('stream retries: their own token when one is given, and a rate per client (429, Retry-After)', async () => {
    const admin = buildApi({
      metrics: new WinchesterMetrics('api'),
      redis,
      namespace: ns.prefix,
      bearerToken: 'reader',
      adminToken: 'operator',
      adminRateLimit: {
        perClient: { ratePerSecond: 0.01, burst: 2 },
        global: { ratePerSecond: 100, burst: 100 },
        maxClients: 10,
      },
    });
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const retry = (token: string) =>
      admin.inject({
        method: 'POST',
        url: '/v1/streams/0.00000000-0000-0000-0000-000000000000/retry',
        headers: as(token),
      });
    expect((await admin.inject({ url: '/v1/streams', headers: as('reader') })).statusCode).toBe(200);
    expect((await admin.inject({ url: '/v1/streams', headers: as('operator') })).statusCode).toBe(401);
    const refused = await retry('reader');
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    // A refused token costs no retry: both of the burst are left for the operator.
    expect((await retry('operator')).statusCode).toBe(404);
    expect((await retry('operator')).statusCode).toBe(404);
    const limited = await retry('operator');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.json()).toEqual({
      error: 'too_many_requests',
      message: `too many stream retries from this client: retry in ${limited.headers['retry-after']} s`,
    });
    // Reads are not limited.
    expect((await admin.inject({ url: '/v1/streams', headers: as('reader') })).statusCode).toBe(200);
    await admin.close();
  });
});

describe('failures, against real Redis', () => {
  const redis = createRedisClient(ns.settings.redisUrl);
  afterAll(() => redis.disconnect());

  test('a failure behind a route answers 500 with an id only', async () => {
    const failing = new MemoryCompletedStreams();
    failing.findCompletedStreams = () =>
      Promise.reject(new Error('archive at 10.0.0.9 refused user "winchester"'));
    const archived = buildApi({
      metrics: new WinchesterMetrics('api'),
      redis,
      namespace: ns.prefix,
      completedStreams: failing,
    });
    const logged = jest.spyOn(logger, 'error').mockImplementation(() => undefined);
    try {
      const response = await archived.inject({ url: '/v1/streams?state=completed' });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({ error: 'internal', id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      expect(response.body).not.toContain('10.0.0.9');
      expect(logged.mock.calls[0][0]).toMatchObject({ errorId: response.json().id, err: expect.any(Error) });
    } finally {
      logged.mockRestore();
      await archived.close();
    }
  });
});
