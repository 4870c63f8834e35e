import { StreamLifecycleError } from './errors';

/**
 * Key layout of one repartition partition. Every key carries the partition's hash tag, so
 * a stream, its key's active pointer, the partition's timers, clock, offset and owner epoch
 * can change in one MULTI/EXEC or script, also on Redis Cluster.
 */
export class PartitionKeys {
  readonly base: string;
  constructor(namespace: string, partition: number) {
    this.base = `${namespace}:{${namespace}.p${partition}}:`;
  }
  /** The id of a stream key's active stream. */
  active = (key: string) => `${this.base}active:${key}`;
  /** A stream's metadata (JSON of StreamMeta). */
  stream = (id: string) => `${this.base}s:${id}`;
  /**
   * A stream's events: a list of their stored values (src/events/stored-event.ts); a stream
   * stored by an earlier version keeps a hash of message_id → wire text.
   */
  events = (id: string) => `${this.base}e:${id}`;
  /** A stream key's recently seen message ids, scored by when they were seen. */
  seen = (key: string) => `${this.base}seen:${key}`;
  /** A worker's claim on a stream: `<holder>|<serial>`, expiring. */
  claim = (id: string) => `${this.base}claim:${id}`;
  /** How a finished stream ended (a tombstone), kept after a purge. */
  done = (id: string) => `${this.base}done:${id}`;
  /** A stream's failed attempts and its next retry (JSON of FailedAttempts). */
  retry = (id: string) => `${this.base}retry:${id}`;
  /** Every stream id of the partition. */
  get ids() {
    return `${this.base}ids`;
  }
  get fireTimers() {
    return `${this.base}t:fire`;
  }
  get expireTimers() {
    return `${this.base}t:expire`;
  }
  /** Streams waiting for an automatic retry, scored by when it is due (µs; a worker's lease while taken). */
  get retryTimers() {
    return `${this.base}t:retry`;
  }
  /** Streams taken for emission whose produce is not acknowledged yet. */
  get pending() {
    return `${this.base}pending`;
  }
  /** Owner epoch: INCR on assignment, WATCHed by every write of the owner. */
  get epoch() {
    return `${this.base}epoch`;
  }
  /** The last applied repartition offset. */
  get offset() {
    return `${this.base}offset`;
  }
  get clock() {
    return `${this.base}clock`;
  }
  /** The redlock lease of the instance driving the partition's timers. */
  get lease() {
    return `${this.base}lease`;
  }
}

/** The partition a stream id names (ids are `<partition>.<uuid>`). */
export function partitionOfStreamId(streamId: string): number {
  const p = Number(streamId.slice(0, streamId.indexOf('.')));
  if (!Number.isInteger(p) || p < 0) {
    throw new StreamLifecycleError('invalid_id', `"${streamId}" is not a stream id (<partition>.<uuid>)`);
  }
  return p;
}

export function keysForStream(namespace: string, streamId: string): PartitionKeys {
  return new PartitionKeys(namespace, partitionOfStreamId(streamId));
}

/** The repartition topic's partition count the namespace's state was built for. */
export const repartitionPartitionsKey = (namespace: string) => `${namespace}:meta:repartition-partitions`;

/**
 * Redrive log: a hash keyed by DLQ coordinates. A DLQ topic cannot be annotated in place,
 * and a header on the redriven copy could only be found again by reading the whole source
 * topic; one small hash per namespace answers "already redriven?" in one call and lets two
 * operators not redrive the same record twice (HSETNX before sending).
 */
export const redriveLogKey = (namespace: string) => `${namespace}:ops:dlq:redriven`;

/** Every key of a namespace (and none of a nested `<namespace>.x`'s), for SCAN MATCH. */
export const namespaceKeyPattern = (namespace: string) => `${namespace}:*`;
