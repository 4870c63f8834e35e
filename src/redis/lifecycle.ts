import type { FailedAttempts } from '../pipeline/retry';
import { StreamMeta, StreamState } from '../streams/model';
import { formatMicros } from '../time/micros';
import { RedisClient } from './client';
import { StreamLifecycleError, TransactionConflictError } from './errors';
import { keysForStream, PartitionKeys } from './keys';
import { CONFLICT, retryOnConflict } from './retry';
import { scripts } from './scripts';
import {
  EMITTABLE_STATES,
  parseStreamMeta,
  parseTombstone,
  streamMetaText,
  Tombstone,
  tombstoneText,
} from './stream-meta';

/** Attempts of a lifecycle move whose stream keeps changing between its read and its write. */
const LIFECYCLE_ATTEMPTS = 20;

export type ClaimResult = 'claimed' | 'held-by-other' | 'not-runnable';

/** A stream's metadata with the exact text it was read from: the guard of the compare-and-set scripts. */
interface MetaSnapshot {
  meta: StreamMeta;
  text: string;
}

async function readSnapshot(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
): Promise<MetaSnapshot | null> {
  const text = await redis.get(keys.stream(streamId));
  const meta = parseStreamMeta(text);
  return meta && text ? { meta, text } : null;
}

/** Whether a stream record of this serial may still run: its stream awaits a worker at that serial. */
const runnableAt = (snapshot: MetaSnapshot | null, serial: number): snapshot is MetaSnapshot =>
  snapshot !== null && snapshot.meta.serial === serial && EMITTABLE_STATES.has(snapshot.meta.state);

const claimValue = (holder: string, serial: number) => `${holder}|${serial}`;

/** Who claims which stream at which state serial, and for how long before the claim lapses. */
export interface StreamClaim {
  streamId: string;
  serial: number;
  holder: string;
  ttlMs: number;
}

/**
 * A worker's claim on a stream before its pipeline runs: a fenced, expiring key. The
 * holder renews it while the pipeline runs; a dead holder's claim lapses.
 */
export function claimStream(
  redis: RedisClient,
  keys: PartitionKeys,
  claim: StreamClaim,
): Promise<ClaimResult> {
  const { streamId, serial, holder, ttlMs } = claim;
  return retryOnConflict(`claim stream ${streamId}`, LIFECYCLE_ATTEMPTS, async () => {
    const snapshot = await readSnapshot(redis, keys, streamId);
    if (!runnableAt(snapshot, serial)) return 'not-runnable';
    const value = claimValue(holder, serial);
    const reply = await scripts.claimStream(redis, keys, streamId, { metaText: snapshot.text, value, ttlMs });
    return reply === 'changed' ? CONFLICT : reply;
  });
}

/** Extends the claim only if this holder still has it. */
export function renewClaim(redis: RedisClient, keys: PartitionKeys, claim: StreamClaim): Promise<boolean> {
  const value = claimValue(claim.holder, claim.serial);
  return scripts.renewClaim(redis, keys, claim.streamId, { value, ttlMs: claim.ttlMs });
}

/** How a stream leaves firing/expiring (or retry_*): its completion, and what failed if it failed. */
export interface FinishMove {
  purge: boolean;
  tombstoneSeconds: number;
  /** The completion record's text, kept in the tombstone. */
  outcome: string;
  /** A stream ending in error: its failed attempts, kept beside it. */
  failure?: FailedAttempts;
  /** A stream ending in error: its `streams.errors` record's text, kept in the tombstone. */
  errorRecord?: string;
}

/**
 * Moves a stream out of firing/expiring (or retry_*) when its state serial still equals
 * the record's: an optimistic transition, so a stale or duplicate record changes nothing.
 */
export function finishStream(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
  serial: number,
  to: Extract<StreamState, 'completed' | 'error' | 'expire_error'>,
  opts: FinishMove,
): Promise<'finished' | 'stale'> {
  return retryOnConflict(`finish stream ${streamId}`, LIFECYCLE_ATTEMPTS, async () => {
    const snapshot = await readSnapshot(redis, keys, streamId);
    if (!runnableAt(snapshot, serial)) return 'stale';
    const next: StreamMeta = { ...snapshot.meta, state: to, serial: serial + 1 };
    const tombstone: Tombstone = {
      state: to,
      serial: next.serial,
      outcome: opts.outcome,
      ...(opts.errorRecord === undefined ? {} : { error_record: opts.errorRecord }),
    };
    const reply = await scripts.finishStream(redis, keys, streamId, {
      metaText: snapshot.text,
      nextMetaText: to === 'completed' && opts.purge ? null : streamMetaText(next),
      tombstoneText: tombstoneText(tombstone),
      tombstoneSeconds: opts.tombstoneSeconds,
      failureText: to !== 'completed' && opts.failure ? JSON.stringify(opts.failure) : null,
    });
    return reply === 'changed' ? CONFLICT : 'finished';
  });
}

/** The state a stream waits in for its automatic retry: the retry_* of its kind. */
const RETRY_STATE: Partial<Record<StreamState, StreamState>> = {
  firing: 'retry_fire',
  retry_fire: 'retry_fire',
  expiring: 'retry_expire',
  retry_expire: 'retry_expire',
};

/**
 * A failed run with attempts left: the stream moves to retry_fire/retry_expire at the next
 * serial (`failure.serial`) and waits in the partition's due retries until `failure.retry_at`.
 * Only while it is still at the run's serial; else 'stale', and nothing is written.
 */
export function scheduleRetry(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
  serial: number,
  failure: FailedAttempts,
): Promise<'scheduled' | 'stale'> {
  if (failure.retry_at === null || failure.serial !== serial + 1) {
    throw new Error(`stream ${streamId}: a retry is scheduled at the next serial, with a due time`);
  }
  const due = failure.retry_at;
  return retryOnConflict(`schedule a retry of stream ${streamId}`, LIFECYCLE_ATTEMPTS, async () => {
    const snapshot = await readSnapshot(redis, keys, streamId);
    if (!runnableAt(snapshot, serial)) return 'stale';
    const next: StreamMeta = {
      ...snapshot.meta,
      state: RETRY_STATE[snapshot.meta.state]!,
      serial: serial + 1,
    };
    const reply = await scripts.scheduleRetry(redis, keys, streamId, {
      metaText: snapshot.text,
      nextMetaText: streamMetaText(next),
      failureText: JSON.stringify(failure),
      due,
    });
    return reply === 'changed' ? CONFLICT : 'scheduled';
  });
}

/** A stream's failed attempts (waiting for a retry, or in error), or null when none failed. */
export async function readFailedAttempts(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
): Promise<FailedAttempts | null> {
  const text = await redis.get(keys.retry(streamId));
  return text ? (JSON.parse(text) as FailedAttempts) : null;
}

export async function readTombstone(
  redis: RedisClient,
  keys: PartitionKeys,
  streamId: string,
): Promise<Tombstone | null> {
  return parseTombstone(await redis.get(keys.done(streamId)));
}

/** Why a stream cannot be retried by an operator: its state, and for one waiting for a retry, when. */
async function notRetriable(
  redis: RedisClient,
  keys: PartitionKeys,
  meta: StreamMeta,
): Promise<StreamLifecycleError> {
  const failure = RETRY_STATE[meta.state] ? await readFailedAttempts(redis, keys, meta.id) : null;
  const waiting =
    failure?.retry_at != null && failure.serial === meta.serial
      ? `, waiting for its automatic retry (attempt ${failure.attempts + 1}, due ${formatMicros(failure.retry_at)})`
      : '';
  return new StreamLifecycleError(
    'wrong_state',
    `stream ${meta.id} is ${meta.state}${waiting}; only error and expire_error streams can be retried`,
  );
}

const RESET_TO: Partial<Record<StreamState, StreamState>> = {
  error: 'retry_fire',
  expire_error: 'retry_expire',
};

/**
 * `streams retry` (and `streams reset`): error → retry_fire, expire_error → retry_expire,
 * with a fresh count of attempts; the matcher that owns the partition re-emits the stream to
 * `streams`. Refusals are StreamLifecycleErrors.
 */
export async function resetStream(
  redis: RedisClient,
  namespace: string,
  streamId: string,
): Promise<StreamMeta> {
  const keys = keysForStream(namespace, streamId);
  try {
    return await retryOnConflict(`reset stream ${streamId}`, LIFECYCLE_ATTEMPTS, async () => {
      const snapshot = await readSnapshot(redis, keys, streamId);
      if (!snapshot) {
        throw new StreamLifecycleError(
          'not_found',
          `stream ${streamId} not found (completed streams are purged)`,
        );
      }
      const to = RESET_TO[snapshot.meta.state];
      if (!to) throw await notRetriable(redis, keys, snapshot.meta);
      const next: StreamMeta = { ...snapshot.meta, state: to, serial: snapshot.meta.serial + 1 };
      const move = { metaText: snapshot.text, nextMetaText: streamMetaText(next) };
      return (await scripts.resetStream(redis, keys, streamId, move)) === 'changed' ? CONFLICT : next;
    });
  } catch (error) {
    if (error instanceof TransactionConflictError) throw new StreamLifecycleError('conflict', error.message);
    throw error;
  }
}
