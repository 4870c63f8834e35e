/** The partition's owner epoch moved on: another instance took the partition over. */
export class LostOwnershipError extends Error {
  constructor(partition: number) {
    super(`partition ${partition} is now owned by another instance (owner epoch changed)`);
    this.name = 'LostOwnershipError';
  }
}

/** An optimistic transaction lost every one of its attempts to concurrent writers. */
export class TransactionConflictError extends Error {
  constructor(what: string, attempts: number) {
    super(`${what}: gave up after ${attempts} conflicting attempts`);
    this.name = 'TransactionConflictError';
  }
}

export type StreamLifecycleCode =
  /** The text is not a stream id (`<partition>.<uuid>`). */
  | 'invalid_id'
  /** No such stream (completed streams are purged). */
  | 'not_found'
  /** The stream is in a state the change does not apply to. */
  | 'wrong_state'
  /** Concurrent writers kept changing the stream; nothing was written. */
  | 'conflict';

/** Why an operator's change to a stream was refused: callers branch on `code`, never on the message. */
export class StreamLifecycleError extends Error {
  constructor(
    readonly code: StreamLifecycleCode,
    message: string,
  ) {
    super(message);
    this.name = 'StreamLifecycleError';
  }
}
