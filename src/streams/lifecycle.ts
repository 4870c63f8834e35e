import Redis from 'ioredis';
import { StreamMeta, StreamState } from './model';
import { PartitionKeys, EMITTABLE_STATES } from './redis-store';

/** The partition a stream id names (ids are `<partition>.<uuid>`). */
export function partitionOfStreamId(streamId: string): number {
  const p = Number(streamId.slice(0, streamId.indexOf('.')));
  if (!Number.isInteger(p) || p < 0) throw new Error(`"${streamId}" is not a stream id (<partition>.<uuid>)`);
  return p;
}

export function keysForStream(namespace: string, streamId: string): PartitionKeys {
  return new PartitionKeys(namespace, partitionOfStreamId(streamId));
}

/** How a finished stream ended; kept after a purge so a redelivered record is recognised. */
export interface Tombstone {
  state: StreamState;
  serial: number;
  outcome: string;
}

export type ClaimResult = 'claimed' | 'held-by-other' | 'not-runnable';

/**
 * A worker's claim on a stream before its pipeline runs: a fenced, expiring key. The
 * holder renews it while the pipeline runs; a dead holder's claim lapses.
 */
export async function claimStream(
  redis: Redis,
  keys: PartitionKeys,
  streamId: string,
  serial: number,
  holder: string,
  ttlMs: number,
): Promise<ClaimResult> {
  const raw = await redis.get(keys.stream(streamId));
  const meta = raw ? (JSON.parse(raw) as StreamMeta) : null;
  if (!meta || meta.serial !== serial || !EMITTABLE_STATES.has(meta.state)) return 'not-runnable';
  const value = `${holder}|${serial}`;
  const set = await redis.set(keys.claim(streamId), value, 'PX', ttlMs, 'NX');
  if (set === 'OK') return 'claimed';
  return (await redis.get(keys.claim(streamId))) === value ? 'claimed' : 'held-by-other';
}

/** Extends the claim only if this holder still has it. */
export async function renewClaim(
  redis: Redis,
  keys: PartitionKeys,
  streamId: string,
  serial: number,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  const key = keys.claim(streamId);
  await redis.watch(key);
  if ((await redis.get(key)) !== `${holder}|${serial}`) {
    await redis.unwatch();
    return false;
  }
  return (await redis.multi().pexpire(key, ttlMs).exec()) !== null;
}

/**
 * Moves a stream out of firing/expiring (or retry_*) when its state serial still equals
 * the record's: an optimistic transition, so a stale or duplicate record changes nothing.
 */
export async function finishStream(
  redis: Redis,
  keys: PartitionKeys,
  streamId: string,
  serial: number,
  to: Extract<StreamState, 'completed' | 'error' | 'expire_error'>,
  opts: { purge: boolean; tombstoneSeconds: number; outcome: string },
): Promise<'finished' | 'stale'> {
  for (let attempt = 0; attempt < 20; attempt++) {
    await redis.watch(keys.stream(streamId));
    const raw = await redis.get(keys.stream(streamId));
    const meta = raw ? (JSON.parse(raw) as StreamMeta) : null;
    if (!meta || meta.serial !== serial || !EMITTABLE_STATES.has(meta.state)) {
      await redis.unwatch();
      return 'stale';
    }
    const next: StreamMeta = { ...meta, state: to, serial: serial + 1 };
    const tombstone: Tombstone = { state: to, serial: next.serial, outcome: opts.outcome };
    const multi = redis.multi();
    if (to === 'completed' && opts.purge) {
      multi.del(keys.stream(streamId), keys.events(streamId));
      multi.srem(keys.ids, streamId);
    } else {
      multi.set(keys.stream(streamId), JSON.stringify(next));
    }
    multi.set(keys.done(streamId), JSON.stringify(tombstone), 'EX', opts.tombstoneSeconds);
    multi.del(keys.claim(streamId));
    multi.srem(keys.pending, streamId);
    if ((await multi.exec()) !== null) return 'finished';
  }
  throw new Error(`stream ${streamId}: could not finish after 20 conflicting attempts`);
}

export async function readTombstone(
  redis: Redis,
  keys: PartitionKeys,
  streamId: string,
): Promise<Tombstone | null> {
  const raw = await redis.get(keys.done(streamId));
  return raw ? (JSON.parse(raw) as Tombstone) : null;
}

/**
 * `streams reset`: error → retry_fire, expire_error → retry_expire; the matcher that owns
 * the partition re-emits the stream to `streams`.
 */
export async function resetStream(redis: Redis, namespace: string, streamId: string): Promise<StreamMeta> {
  const keys = keysForStream(namespace, streamId);
  for (let attempt = 0; attempt < 20; attempt++) {
    await redis.watch(keys.stream(streamId));
    const raw = await redis.get(keys.stream(streamId));
    if (!raw) {
      await redis.unwatch();
      throw new Error(`stream ${streamId} not found (completed streams are purged)`);
    }
    const meta = JSON.parse(raw) as StreamMeta;
    const to = meta.state === 'error' ? 'retry_fire' : meta.state === 'expire_error' ? 'retry_expire' : null;
    if (!to) {
      await redis.unwatch();
      throw new Error(
        `stream ${streamId} is ${meta.state}; only error and expire_error streams can be reset`,
      );
    }
    const next: StreamMeta = { ...meta, state: to, serial: meta.serial + 1 };
    const done = await redis
      .multi()
      .set(keys.stream(streamId), JSON.stringify(next))
      .sadd(keys.pending, streamId)
      .del(keys.done(streamId))
      .exec();
    if (done !== null) return next;
  }
  throw new Error(`stream ${streamId}: could not reset after 20 conflicting attempts`);
}
