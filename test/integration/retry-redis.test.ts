/**
 * The retry bookkeeping on a real Redis: the scheduleRetry / takeRetry / releaseRetry scripts,
 * the record a due retry is rebuilt into, what finishing keeps of a failure, and the
 * `streams retry` command over it.
 */
import Redis from 'ioredis';
import { buildApi } from '../../src/api/server';
import { registerStreams } from '../../src/cli/streams';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { afterFailedRun, FailedAttempts, RetryPolicy } from '../../src/pipeline/retry';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { keysForStream } from '../../src/redis/keys';
import {
  claimStream,
  finishStream,
  readFailedAttempts,
  readTombstone,
  scheduleRetry,
} from '../../src/redis/lifecycle';
import { checkPartitionCount, RedisPartitionStore } from '../../src/redis/partition-store';
import { getStreamView } from '../../src/redis/query';
import { findDueRetries, releaseRetry, retryRecord, takeRetry } from '../../src/redis/retry-queue';
import { StreamRecord } from '../../src/streams/model';
import { PartitionProcessor } from '../../src/streams/processor';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { simpleTrigger, testEvent } from '../support/simple-trigger';

const ns = testNamespace();
const S = 1_000_000;
const policy: RetryPolicy = { attempts: 3, backoffSeconds: 30, maxBackoffSeconds: 600 };
const failedRun = { failedHandler: 'usage', errorMessage: 'boom' };

/** Fired streams (firing, awaiting a worker) in both partitions of a namespace of their own. */
async function firedStreams(redis: Redis, pool: RedisConnectionPool, namespace: string, count: number) {
  await checkPartitionCount(redis, namespace, 2);
  const trigger = simpleTrigger({ expireAfterSeconds: 100 });
  const emitted: StreamRecord[] = [];
  for (const p of [0, 1]) {
    const store = new RedisPartitionStore(p, pool, { namespace, seenRetentionSeconds: 60, maxAttempts: 10 });
    await store.claim();
    const processor = new PartitionProcessor(
      store,
      new Map([[trigger.name, trigger]]),
      'event',
      async (records) => void emitted.push(...records),
    );
    for (let i = 0; i < count; i++) {
      const event = testEvent('compute.instance.exists', `p${p}-${i}`, 1000 + i, `p${p}-${i}-m`);
      await processor.apply([{ trigger: trigger.name, ...trigger.match(event)!, event }], 0);
    }
    await processor.runTimers(2000 * S);
    await store.emitted(emitted.map((r) => r.stream_id));
  }
  return emitted.map((r) => ({ ...r, pipeline: 'audit' }));
}

describe('retry bookkeeping on Redis', () => {
  const redis = new Redis(ns.settings.redisUrl);
  const pool = new RedisConnectionPool(ns.settings.redisUrl, 2);
  afterAll(async () => {
    await pool.close();
    redis.disconnect();
  });

  test('a failed run waits in retry_fire at the next serial; only a due entry is taken, and by one worker', async () => {
    const namespace = `${ns.prefix}.schedule`;
    const [record] = await firedStreams(redis, pool, namespace, 1);
    const keys = keysForStream(namespace, record.stream_id);
    const claim = { streamId: record.stream_id, serial: record.serial, holder: 'w1', ttlMs: 60_000 };
    expect(await claimStream(redis, keys, claim)).toBe('claimed');
    const now = Date.now() * 1000;
    const failure = afterFailedRun(record, failedRun, { previous: null, policy, failedAt: now });

    expect(
      await scheduleRetry(redis, keys, record.stream_id, record.serial - 1, {
        ...failure,
        serial: record.serial,
      }),
    ).toBe('stale');
    expect(await scheduleRetry(redis, keys, record.stream_id, record.serial, failure)).toBe('scheduled');
    expect(await scheduleRetry(redis, keys, record.stream_id, record.serial, failure)).toBe('stale');
    expect(await getStreamView(redis, namespace, record.stream_id)).toMatchObject({
      state: 'retry_fire',
      serial: record.serial + 1,
      failure,
    });
    expect(await redis.exists(keys.claim(record.stream_id))).toBe(0);
    // The failed run's record is stale from now on: a redelivered copy cannot run.
    expect(await claimStream(redis, keys, { ...claim, holder: 'w2' })).toBe('not-runnable');

    const partitions = [0, 1];
    expect(await findDueRetries(redis, namespace, partitions, now + 29 * S, 10)).toEqual([]);
    const due = now + 30 * S;
    const found = await findDueRetries(redis, namespace, partitions, due, 10);
    expect(found).toEqual([{ partition: record.partition, streamId: record.stream_id }]);
    expect(await takeRetry(redis, keys, record.stream_id, { now: due - 1, leaseUntil: due + 10 * S })).toBe(
      false,
    );
    const lease = { now: due, leaseUntil: due + 10 * S };
    const taken = await Promise.all([1, 2, 3].map(() => takeRetry(redis, keys, record.stream_id, lease)));
    expect(taken.filter(Boolean)).toHaveLength(1);
    // Leased: not due again until the lease has passed (a worker that died meanwhile).
    expect(await findDueRetries(redis, namespace, partitions, due + 5 * S, 10)).toEqual([]);
    expect(await findDueRetries(redis, namespace, partitions, due + 10 * S, 10)).toHaveLength(1);

    // The record rebuilt from Redis is the one the matcher emitted, at the serial it waits at.
    expect(await retryRecord(redis, keys, record.stream_id)).toEqual({
      ...record,
      serial: record.serial + 1,
    });
    expect(await releaseRetry(redis, keys, record.stream_id, lease.leaseUntil + 1)).toBe(false);
    expect(await releaseRetry(redis, keys, record.stream_id, lease.leaseUntil)).toBe(true);
    expect(await findDueRetries(redis, namespace, partitions, Number.MAX_SAFE_INTEGER, 10)).toEqual([]);
  });

  test('a failed retry reschedules over a lease; a release of the old lease leaves the new due time', async () => {
    const namespace = `${ns.prefix}.again`;
    const [record] = await firedStreams(redis, pool, namespace, 1);
    const keys = keysForStream(namespace, record.stream_id);
    const t0 = Date.now() * 1000;
    const first = afterFailedRun(record, failedRun, { previous: null, policy, failedAt: t0 });
    await scheduleRetry(redis, keys, record.stream_id, record.serial, first);
    const lease = { now: first.retry_at!, leaseUntil: first.retry_at! + 10 * S };
    expect(await takeRetry(redis, keys, record.stream_id, lease)).toBe(true);
    const retry = (await retryRecord(redis, keys, record.stream_id))!;

    // The produced record runs, and fails again, before the worker that produced it releases it.
    const second = afterFailedRun(retry, failedRun, {
      previous: await readFailedAttempts(redis, keys, record.stream_id),
      policy,
      failedAt: first.retry_at!,
    });
    expect(second).toMatchObject({ attempts: 2, first_failed_at: t0, retry_at: first.retry_at! + 60 * S });
    expect(await scheduleRetry(redis, keys, record.stream_id, retry.serial, second)).toBe('scheduled');
    expect(await releaseRetry(redis, keys, record.stream_id, lease.leaseUntil)).toBe(false);
    expect(await redis.zscore(keys.retryTimers, record.stream_id)).toBe(String(second.retry_at));

    // The third attempt fails too: error, what failed kept beside it, no retry waiting.
    const third = afterFailedRun({ ...retry, serial: retry.serial + 1 }, failedRun, {
      previous: second,
      policy,
      failedAt: second.retry_at!,
    });
    expect(third.retry_at).toBeNull();
    const opts = { purge: true, tombstoneSeconds: 60, outcome: '{}', failure: third, errorRecord: '{"e":1}' };
    expect(await finishStream(redis, keys, record.stream_id, retry.serial + 1, 'error', opts)).toBe(
      'finished',
    );
    expect(await getStreamView(redis, namespace, record.stream_id)).toMatchObject({
      state: 'error',
      failure: { attempts: 3, retry_at: null },
    });
    expect(await redis.zscore(keys.retryTimers, record.stream_id)).toBeNull();
    expect((await readTombstone(redis, keys, record.stream_id))?.error_record).toBe('{"e":1}');
    expect(await retryRecord(redis, keys, record.stream_id)).toBeNull();
  });

  test('completing (and purging) a stream drops its failed attempts and its due retry', async () => {
    const namespace = `${ns.prefix}.complete`;
    const [record] = await firedStreams(redis, pool, namespace, 1);
    const keys = keysForStream(namespace, record.stream_id);
    const failure = afterFailedRun(record, failedRun, {
      previous: null,
      policy,
      failedAt: Date.now() * 1000,
    });
    await scheduleRetry(redis, keys, record.stream_id, record.serial, failure);
    const opts = { purge: true, tombstoneSeconds: 60, outcome: '{}' };
    expect(await finishStream(redis, keys, record.stream_id, record.serial + 1, 'completed', opts)).toBe(
      'finished',
    );
    expect(await redis.exists(keys.retry(record.stream_id), keys.stream(record.stream_id))).toBe(0);
    expect(await redis.zscore(keys.retryTimers, record.stream_id)).toBeNull();
  });

  test('streams retry: one line per refusal; --all-errors retries every failed stream with fresh attempts', async () => {
    const namespace = `${ns.prefix}.cli`;
    const records = await firedStreams(redis, pool, namespace, 2);
    const now = Date.now() * 1000;
    const failed: Array<{ record: StreamRecord; failure: FailedAttempts }> = [];
    for (const record of records.slice(0, 3)) {
      const keys = keysForStream(namespace, record.stream_id);
      const failure = afterFailedRun(record, failedRun, {
        previous: null,
        policy: { ...policy, attempts: 1 },
        failedAt: now,
      });
      const opts = { purge: true, tombstoneSeconds: 60, outcome: '{}', failure };
      await finishStream(redis, keys, record.stream_id, record.serial, 'error', opts);
      failed.push({ record, failure });
    }
    const [waiting] = records.slice(3);
    const waitingFailure = afterFailedRun(waiting, failedRun, { previous: null, policy, failedAt: now });
    await scheduleRetry(
      redis,
      keysForStream(namespace, waiting.stream_id),
      waiting.stream_id,
      waiting.serial,
      waitingFailure,
    );
    const cli = (...args: string[]) =>
      runInProcess(registerStreams, ['streams', ...args, '--namespace', namespace]);

    expect(await cli('retry')).toMatchObject({
      code: 2,
      stderr: 'winchester: streams retry: give a stream id or --all-errors (not both)\n',
    });
    expect((await cli('retry', failed[0].record.stream_id, '--all-errors')).code).toBe(2);
    expect(await cli('retry', 'not-an-id')).toMatchObject({
      code: 1,
      stderr: 'winchester: "not-an-id" is not a stream id (<partition>.<uuid>)\n',
    });
    const refused = await cli('retry', waiting.stream_id);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `winchester: stream ${waiting.stream_id} is retry_fire, waiting for its automatic retry (attempt 2, due ` +
        `${new Date((now + 30 * S) / 1000).toISOString().slice(0, -1)}000Z); only error and expire_error streams can be retried\n`,
    );

    const listed = await cli('list', '--state', 'error');
    expect(listed.lines).toHaveLength(3);
    expect(listed.lines.every((line) => line.endsWith('\t1 failed attempts\tusage: boom'))).toBe(true);
    const all = await cli('retry', '--all-errors');
    expect(all.code).toBe(0);
    expect(all.lines.slice(0, -1).sort()).toEqual(
      failed.map(({ record }) => `${record.stream_id} is now retry_fire`).sort(),
    );
    expect(all.lines.at(-1)).toBe('3 failed streams retried; their matchers re-emit them');
    for (const { record } of failed) {
      const keys = keysForStream(namespace, record.stream_id);
      expect(await redis.sismember(keys.pending, record.stream_id)).toBe(1);
      expect(await readFailedAttempts(redis, keys, record.stream_id)).toBeNull();
    }
    expect((await cli('retry', '--all-errors')).lines).toEqual([
      '0 failed streams retried; their matchers re-emit them',
    ]);
  });

  test('POST /v1/streams/{id}/retry: an errored stream to retry_fire, its failure shown until then', async () => {
    const namespace = `${ns.prefix}.api`;
    const [record] = await firedStreams(redis, pool, namespace, 1);
    const keys = keysForStream(namespace, record.stream_id);
    const failure = afterFailedRun(record, failedRun, {
      previous: null,
      policy: { ...policy, attempts: 1 },
      failedAt: 5 * S,
    });
    await finishStream(redis, keys, record.stream_id, record.serial, 'error', {
      purge: true,
      tombstoneSeconds: 60,
      outcome: '{}',
      failure,
    });
    const app = buildApi({ metrics: new WinchesterMetrics('api'), redis, namespace });
    try {
      const listed = (await app.inject({ url: '/v1/streams?state=error' })).json();
      expect(listed.streams.map((s: { failure: unknown }) => s.failure)).toEqual([
        {
          attempts: 1,
          pipeline: 'audit',
          handler: 'usage',
          error: 'boom',
          first_failed_at: '1970-01-01T00:00:05.000000Z',
          last_failed_at: '1970-01-01T00:00:05.000000Z',
          next_retry_at: null,
        },
      ]);
      const retried = await app.inject({ method: 'POST', url: `/v1/streams/${record.stream_id}/retry` });
      expect([retried.statusCode, retried.json().state, retried.json().failure]).toEqual([
        200,
        'retry_fire',
        undefined,
      ]);
      const again = await app.inject({ method: 'POST', url: `/v1/streams/${record.stream_id}/retry` });
      expect([again.statusCode, again.json().code]).toEqual([409, 'wrong_state']);
    } finally {
      await app.close();
    }
  });
});
