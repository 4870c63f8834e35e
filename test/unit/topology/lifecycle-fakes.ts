/** A stand-in for Redis in the worker's unit tests: its stream lifecycle scripts in memory. */
import { FailedAttempts } from '../../../src/pipeline/retry';
import { EMITTABLE_STATES, Tombstone } from '../../../src/redis/stream-meta';
import { StreamRecord, StreamState } from '../../../src/streams/model';
import { ClosableLifecycle } from '../../../src/topology/worker-role';

/** One stream as the fake lifecycle keeps it: what Redis holds of it for the worker. */
interface FakeStream {
  state: StreamState;
  serial: number;
  /** Who holds its claim, if anyone. */
  claimedBy?: string;
}

export interface FakeLifecycle extends ClosableLifecycle {
  streams: Map<string, FakeStream>;
  tombstones: Map<string, Tombstone>;
  /** Each stream's failed attempts, as the retry bookkeeping keeps them. */
  failures: Map<string, FailedAttempts>;
  /** Every call, in order, as `name stream_id`. */
  calls: string[];
  /** A stream awaiting a worker at `serial` (firing, or expiring). */
  put(streamId: string, serial: number, state?: StreamState): void;
}

/**
 * The stream lifecycle scripts in memory, with the rules of src/redis/lifecycle.ts: a claim
 * or a finish needs the stream in an emittable state at the record's serial; a claim held by
 * another holder is refused; finishing bumps the serial, leaves a tombstone, drops the claim.
 */
export function fakeLifecycle(): FakeLifecycle {
  const streams = new Map<string, FakeStream>();
  const tombstones = new Map<string, Tombstone>();
  const failures = new Map<string, FailedAttempts>();
  const calls: string[] = [];
  const runnable = (record: StreamRecord) => {
    const stream = streams.get(record.stream_id);
    return stream && stream.serial === record.serial && EMITTABLE_STATES.has(stream.state) ? stream : null;
  };
  return {
    streams,
    tombstones,
    failures,
    calls,
    put: (streamId, serial, state = 'firing') => void streams.set(streamId, { state, serial }),
    readTombstone: async (record) => {
      calls.push(`readTombstone ${record.stream_id}`);
      return tombstones.get(record.stream_id) ?? null;
    },
    claim: async (record, holder) => {
      calls.push(`claim ${record.stream_id}`);
      const stream = runnable(record);
      if (!stream) return 'not-runnable';
      if (stream.claimedBy && stream.claimedBy !== holder) return 'held-by-other';
      stream.claimedBy = holder;
      return 'claimed';
    },
    renew: async (record, holder) => {
      calls.push(`renew ${record.stream_id}`);
      return streams.get(record.stream_id)?.claimedBy === holder;
    },
    finish: async (record, to, opts) => {
      calls.push(`finish ${record.stream_id} ${to}`);
      const stream = runnable(record);
      if (!stream) return 'stale';
      streams.set(record.stream_id, { state: to, serial: record.serial + 1 });
      const { outcome, errorRecord } = opts;
      tombstones.set(record.stream_id, {
        state: to,
        serial: record.serial + 1,
        outcome,
        ...(errorRecord === undefined ? {} : { error_record: errorRecord }),
      });
      if (to !== 'completed' && opts.failure) failures.set(record.stream_id, opts.failure);
      else failures.delete(record.stream_id);
      return 'finished';
    },
    readFailedAttempts: async (record) => {
      calls.push(`readFailedAttempts ${record.stream_id}`);
      return failures.get(record.stream_id) ?? null;
    },
    scheduleRetry: async (record, failure) => {
      calls.push(`scheduleRetry ${record.stream_id}`);
      const stream = runnable(record);
      if (!stream) return 'stale';
      const state = record.kind === 'expired' ? 'retry_expire' : 'retry_fire';
      streams.set(record.stream_id, { state, serial: record.serial + 1 });
      failures.set(record.stream_id, failure);
      return 'scheduled';
    },
    close: async () => undefined,
  };
}
