import { performance } from 'node:perf_hooks';
import { ArchiverOutcomes, WriteOperation } from './archiver-outcomes';
import { BatchLiveness } from './batch-loop';
import { RoleEvents } from './role-events';

/** How long the archiver waits before writing a failed chunk again: doubling from `initialMs` up to `maxMs`. */
export interface BackOff {
  initialMs: number;
  maxMs: number;
}

export const STORE_BACK_OFF: BackOff = { initialMs: 500, maxMs: 30_000 };

/**
 * Heartbeats while a write is in flight or paused, well inside the shortest session timeout
 * the roles use: a store that hangs or is down must not cost the group a rebalance.
 */
const HEARTBEAT_EVERY_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one chunk's write is: which store call, over how many records, and the call itself. */
export interface ChunkWrite<T> {
  operation: WriteOperation;
  records: number;
  call: () => Promise<T>;
}

/** A write that went through: the call's answer and how long the successful call took. */
export interface Written<T> {
  value: T;
  seconds: number;
}

/**
 * Writes one chunk to the store with one call, and keeps trying until it is written: a failed
 * call (the store down, a connection lost) pauses the partition with back-off while
 * heartbeating. It gives up only when the batch stops being this consumer's (revoked, or the
 * role stopping), so the offsets of an unwritten chunk are never resolved.
 */
export class ChunkWriter {
  constructor(
    private readonly events: RoleEvents<ArchiverOutcomes>,
    private readonly backOff: BackOff = STORE_BACK_OFF,
    private readonly heartbeatEveryMs = HEARTBEAT_EVERY_MS,
  ) {}

  /** The call's answer once it succeeds; undefined when the batch was given up unwritten. */
  async write<T>(write: ChunkWrite<T>, batch: BatchLiveness): Promise<Written<T> | undefined> {
    const pausedAt = performance.now();
    let failures = 0;
    for (let delay = this.backOff.initialMs; ; delay = Math.min(delay * 2, this.backOff.maxMs)) {
      const written = await this.attempt(write, batch, failures + 1, delay);
      if (written) {
        if (failures > 0) {
          const pausedSeconds = (performance.now() - pausedAt) / 1000;
          this.events.emit('resumed', { operation: write.operation, failures, pausedSeconds });
        }
        return written;
      }
      failures++;
      if (!(await this.pause(delay, batch))) return undefined;
    }
  }

  /** One call; undefined when it failed (the failure is emitted). */
  private async attempt<T>(
    { operation, records, call }: ChunkWrite<T>,
    batch: BatchLiveness,
    attempt: number,
    retryInMs: number,
  ): Promise<Written<T> | undefined> {
    const started = performance.now();
    try {
      const value = await this.heartbeating(batch, call);
      return { value, seconds: (performance.now() - started) / 1000 };
    } catch (error) {
      this.events.emit('storeError', { operation, error, records, attempt, retryInMs });
      return undefined;
    }
  }

  /** Runs `work` with heartbeats every second meanwhile (a failed heartbeat shows again after it). */
  private async heartbeating<T>(batch: BatchLiveness, work: () => Promise<T>): Promise<T> {
    const timer = setInterval(() => void batch.heartbeat().catch(() => undefined), this.heartbeatEveryMs);
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }

  /** Waits `ms`, heartbeating; false as soon as the batch is no longer this consumer's to finish. */
  private async pause(ms: number, batch: BatchLiveness): Promise<boolean> {
    const until = performance.now() + ms;
    for (let left = ms; left > 0; left = until - performance.now()) {
      if (!batch.isRunning() || batch.isStale()) return false;
      await sleep(Math.min(left, this.heartbeatEveryMs));
      // A rebalance shows here as a throw: kafkajs then rejoins and delivers the chunk again.
      await batch.heartbeat();
    }
    return batch.isRunning() && !batch.isStale();
  }
}
