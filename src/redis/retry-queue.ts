import { decodeEvent } from '../events/wire';
import type { FailedAttempts } from '../pipeline/retry';
import { buildStreamRecord } from '../streams/engine';
import { StreamRecord, StreamState } from '../streams/model';
import { Micros } from '../time/micros';
import { RedisClient } from './client';
import { PartitionKeys } from './keys';
import { scripts } from './scripts';
import { parseStreamMeta } from './stream-meta';

/*
 * The streams waiting for an automatic retry: one sorted set per repartition partition
 * (`t:retry`, scored by due time), written by the worker whose run failed (scheduleRetry in
 * lifecycle.ts). Every worker looks for due entries; the one that takes an entry (a lease, so
 * a dead worker's entry comes due again) produces the stream's record to `streams` again,
 * where the worker of its partition runs it like any other record, then releases the entry.
 *
 * No claim is held while a stream waits (scheduleRetry drops it), so nothing has to be renewed
 * for the length of a back-off; the retry's record is claimed, renewed and fenced by its serial
 * like any record. The entries are not the matcher's timers: no partition owner or timer lease
 * is needed, since a record produced twice (two workers, a lapsed lease) is a duplicate at the
 * same serial, which the claim and the finish script turn away.
 */

/** A due retry found in a partition. */
export interface DueRetry {
  partition: number;
  streamId: string;
}

/** States a stream waits in for its automatic retry. */
const WAITING = new Set<StreamState>(['retry_fire', 'retry_expire']);

/**
 * The due retries of these partitions, at most `limit` per partition. One command per
 * partition, sent together: each partition's keys have a hash slot of their own, and a
 * Redis Cluster takes no pipeline across slots.
 */
export async function findDueRetries(
  redis: RedisClient,
  namespace: string,
  partitions: readonly number[],
  now: Micros,
  limit: number,
): Promise<DueRetry[]> {
  const found = await Promise.all(
    partitions.map((p) =>
      redis.zrangebyscore(new PartitionKeys(namespace, p).retryTimers, '-inf', now, 'LIMIT', 0, limit),
    ),
  );
  return found.flatMap((ids, i) => ids.map((streamId) => ({ partition: partitions[i], streamId })));
}

/** Leases a due retry to the caller until `leaseUntil`; false when it is not due or another worker has it. */
export function takeRetry(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
  lease: { now: Micros; leaseUntil: Micros },
): Promise<boolean> {
  return scripts.takeRetry(redis, keys, streamId, lease);
}

/** Ends the caller's lease: the entry goes unless a failed run has scheduled the next retry meanwhile. */
export function releaseRetry(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
  leaseUntil: Micros,
): Promise<boolean> {
  return scripts.releaseRetry(redis, keys, streamId, leaseUntil);
}

/**
 * The stream record a due retry runs, rebuilt from what Redis holds of the stream: its
 * metadata, its events, and the pipeline and topology version its failed attempts name (so
 * the retry runs the version the failed run ran). Null when the stream no longer waits for
 * this retry (finished, reset, purged).
 *
 * Rebuilt rather than kept: the events stay in Redis until the stream finishes anyway, so
 * a copy of the encoded record would double their memory for as long as the back-off lasts,
 * and could not be larger than the record limit while the events themselves are not bound
 * by it. Read in one script, so metadata, events and attempts agree.
 */
export async function retryRecord(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
): Promise<StreamRecord | null> {
  const { metaText, attemptsText, events } = await scripts.readRetryRecord(redis, keys, streamId);
  const stream = parseStreamMeta(metaText);
  const attempts = attemptsText ? (JSON.parse(attemptsText) as FailedAttempts) : null;
  if (!stream || !attempts || !WAITING.has(stream.state) || attempts.serial !== stream.serial) return null;
  const pipeline = { firePipeline: attempts.pipeline, expirePipeline: attempts.pipeline };
  const record = buildStreamRecord(stream, events.map(decodeEvent), pipeline, attempts.pipeline_version);
  // Attempts from before versions name none: the retry runs the worker's current version.
  if (attempts.pipeline_version === undefined) delete record.pipeline_version;
  return record;
}
