import { formatMicros, Micros, MICROS_PER_SECOND } from '../time/micros';
import { StreamRecord } from '../streams/model';

/*
 * Automatic retries of a failed pipeline run: the policy pipelines.yaml gives a pipeline, the
 * back-off schedule, and what is kept about a stream's failed attempts. Pure: the worker keeps
 * the bookkeeping in Redis, `simulate --pipelines` in memory, and both decide here.
 */

/** `retry:` of a pipeline in pipelines.yaml. */
export interface RetryPolicy {
  /** Every run counts, the first included: 3 = the first run and two retries. */
  attempts: number;
  /** The wait before the first retry; each further retry waits twice as long as the one before. */
  backoffSeconds: number;
  /** The longest wait between two attempts. */
  maxBackoffSeconds: number;
}

/** A plain list of handlers: one attempt, no retry. */
export const NO_RETRY: RetryPolicy = { attempts: 1, backoffSeconds: 0, maxBackoffSeconds: 0 };

export const DEFAULT_BACKOFF_SECONDS = 30;
export const DEFAULT_MAX_BACKOFF_SECONDS = 600;

/** A retry policy's pipeline, or NO_RETRY for one without (or for a stream with no pipeline). */
export function retryPolicyOf(
  retries: ReadonlyMap<string, RetryPolicy> | undefined,
  pipeline: string | null,
): RetryPolicy {
  return (pipeline !== null && retries?.get(pipeline)) || NO_RETRY;
}

/** The wait before retry number `retry` (1 = the second attempt): backoff × 2^(retry−1), capped. */
export function backoffSeconds(policy: RetryPolicy, retry: number): number {
  const doubled = policy.backoffSeconds * 2 ** Math.max(0, retry - 1);
  return Math.min(doubled, policy.maxBackoffSeconds);
}

/** Longest error text kept and published: an error may quote a whole bad input. */
export const ERROR_TEXT_MAX_CHARS = 1024;

/** Head and tail of a long message: the reason often comes after what it quotes. */
export function cappedErrorText(text: string): string {
  if (text.length <= ERROR_TEXT_MAX_CHARS) return text;
  return `${text.slice(0, ERROR_TEXT_MAX_CHARS - 301)}…${text.slice(text.length - 300)}`;
}

/**
 * What is kept about a stream's failed attempts (Redis `retry:<id>`, beside its metadata):
 * written when a run fails, while the stream waits for its next attempt and once it is in
 * `error`/`expire_error`; dropped when it completes or an operator retries it.
 */
export interface FailedAttempts {
  /** Runs so far, all of them failed. */
  attempts: number;
  /** The pipeline the record named: a retry's stream record is rebuilt with it. */
  pipeline: string | null;
  /**
   * The topology version whose pipelines the failed run ran: a retry runs it again, whatever
   * is current by then. Absent when written before versions (the retry runs the current one).
   */
  pipeline_version?: number;
  /** The handler whose creation or call failed last. */
  handler: string | null;
  /** The last failure's message, capped. */
  error: string;
  first_failed_at: Micros;
  last_failed_at: Micros;
  /** When the next attempt is due; null once the attempts are exhausted. */
  retry_at: Micros | null;
  /** The state serial the stream waits at (retry_fire / retry_expire) or ended at (error). */
  serial: number;
}

/**
 * The bookkeeping after a failed run of `record`: attempts counted on from `previous` when it
 * belongs to this serial (a retry), from 1 otherwise (a first run, or a run an operator asked
 * for), and the next attempt scheduled at `failedAt` + back-off while the policy allows one.
 * `pipelineVersion` is the version the run ran (a record without one runs the current one).
 */
export function afterFailedRun(
  record: StreamRecord,
  /** What a failed run tells (StreamRun has these): which handler failed, and its message. */
  run: { errorMessage?: string; failedHandler?: string },
  context: {
    previous: FailedAttempts | null;
    policy: RetryPolicy;
    failedAt: Micros;
    pipelineVersion?: number;
  },
): FailedAttempts {
  const { policy, failedAt } = context;
  const pipelineVersion = context.pipelineVersion ?? record.pipeline_version;
  const previous = context.previous?.serial === record.serial ? context.previous : null;
  const attempts = (previous?.attempts ?? 0) + 1;
  const retries = attempts < policy.attempts;
  const waitMicros = Math.round(backoffSeconds(policy, attempts) * MICROS_PER_SECOND);
  return {
    attempts,
    pipeline: record.pipeline,
    // A record naming no valid version keeps none: its retry runs the current one.
    ...(Number.isSafeInteger(pipelineVersion) ? { pipeline_version: pipelineVersion } : {}),
    handler: run.failedHandler ?? null,
    error: cappedErrorText(run.errorMessage ?? 'failed'),
    first_failed_at: previous?.first_failed_at ?? failedAt,
    last_failed_at: failedAt,
    // A retry waits at the next serial: the failed run's record is stale from then on.
    retry_at: retries ? failedAt + waitMicros : null,
    serial: record.serial + 1,
  };
}

/**
 * The record a retry runs: the failed run's, at the serial the stream waits at, under the
 * topology version the failed run ran (the worker rebuilds the same from Redis: retry-queue.ts).
 */
export function retriedRecord(record: StreamRecord, failure: FailedAttempts): StreamRecord {
  const { pipeline_version } = failure;
  return {
    ...record,
    serial: failure.serial,
    ...(pipeline_version === undefined ? {} : { pipeline_version }),
  };
}

/** What `<namespace>.streams.errors` carries for each stream whose last attempt failed. */
export interface StreamErrorRecord {
  stream_id: string;
  trigger: string;
  kind: StreamRecord['kind'];
  pipeline: string | null;
  /** The topology version whose pipelines failed (absent: from before versions). */
  pipeline_version?: number;
  /** The state serial the stream ended at. */
  serial: number;
  state: 'error' | 'expire_error';
  handler: string | null;
  error: string;
  attempts: number;
  first_failed_at: string;
  failed_at: string;
}

export function streamErrorRecord(record: StreamRecord, failure: FailedAttempts): StreamErrorRecord {
  return {
    stream_id: record.stream_id,
    trigger: record.trigger,
    kind: record.kind,
    pipeline: record.pipeline,
    ...(failure.pipeline_version === undefined ? {} : { pipeline_version: failure.pipeline_version }),
    serial: failure.serial,
    state: record.kind === 'expired' ? 'expire_error' : 'error',
    handler: failure.handler,
    error: failure.error,
    attempts: failure.attempts,
    first_failed_at: formatMicros(failure.first_failed_at),
    failed_at: formatMicros(failure.last_failed_at),
  };
}
