import { StreamMeta } from '../streams/model';
import { RedisClient } from './client';
import { StreamLifecycleError } from './errors';
import { resetStream } from './lifecycle';
import { findStreams } from './query';

/** What `streams retry --all-errors` did: each stream retried, and each one refused with why. */
export interface RetryAllOutcome {
  retried: StreamMeta[];
  refused: Array<{ id: string; reason: string }>;
}

/** Streams read per page while looking for failed ones. */
const PAGE = 500;

/**
 * Retries every stream in `error` or `expire_error` (resetStream, one at a time): each goes to
 * retry_fire / retry_expire with a fresh count of attempts and its matcher re-emits it. One
 * that changed meanwhile (retried by someone else) is refused, not forced; the rest go on.
 */
export async function retryFailedStreams(redis: RedisClient, namespace: string): Promise<RetryAllOutcome> {
  const outcome: RetryAllOutcome = { retried: [], refused: [] };
  for (const state of ['error', 'expire_error'] as const) {
    let marker: string | undefined;
    for (;;) {
      const page = await findStreams(redis, namespace, { state, count: PAGE, marker });
      for (const stream of page) await retryOne(redis, namespace, stream.id, outcome);
      if (page.length < PAGE) break;
      marker = page[page.length - 1].id;
    }
  }
  return outcome;
}

async function retryOne(redis: RedisClient, namespace: string, id: string, outcome: RetryAllOutcome) {
  try {
    outcome.retried.push(await resetStream(redis, namespace, id));
  } catch (error) {
    if (!(error instanceof StreamLifecycleError)) throw error;
    outcome.refused.push({ id, reason: error.message });
  }
}
