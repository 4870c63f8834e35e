import { WinchesterEvent } from '../events/event';

/** Why a notification could not be distilled; the first word of `reason`, and a DLQ metric label. */
export type DistillErrorCategory =
  /** The text is not JSON (or an oslo envelope's message is not). */
  | 'invalid-json'
  /** Not an object, or `message_id` / `event_type` missing or not a non-empty string, or a bad envelope. */
  | 'invalid-notification'
  /** The event time (`timestamp`, else `_context_timestamp`) is present but empty, or not a datetime. */
  | 'invalid-timestamp'
  /** A trait's value cannot be converted to its type (Python's `int()`, `float()`, `str()`, iso8601). */
  | 'conversion'
  /** A trait's path raised while matching, as it does in jsonpath-rw (e.g. `[0]` applied to null). */
  | 'path'
  /** A user trait plugin threw. */
  | 'plugin'
  /** A bug: an exception the distiller did not expect. Reported, never thrown. */
  | 'internal';

/**
 * A notification that cannot become an event: it belongs on the DLQ with this reason. Returned,
 * never thrown. Also what the distiller role makes of a record that is no notification text.
 */
export class DistillError {
  readonly kind = 'error' as const;
  constructor(
    readonly category: DistillErrorCategory,
    /** What is wrong, for a person: names the trait, its type and the offending value. */
    readonly detail: string,
    readonly messageId?: string,
    readonly eventType?: string,
    /** The trait whose extraction failed, when one did. */
    readonly trait?: string,
  ) {}
  /** `category: detail`: the first word is the category, so a DLQ can count by it. */
  get reason(): string {
    return `${this.category}: ${this.detail}`;
  }
}

export type DropReason =
  /** No event definition matches the event type (and no catch-all). */
  | 'unmatched'
  /** A definition matched but no trait had a value: Winchester's condenser rejects such an event. */
  | 'no-traits';

/** A well-formed notification that yields no event, by configuration: counted, not an error. */
export class DistillDropped {
  readonly kind = 'dropped' as const;
  constructor(
    readonly reason: DropReason,
    readonly messageId: string,
    readonly eventType: string,
  ) {}
}

/** What `distill` returns: the event, or why there is none. */
export type DistillResult = WinchesterEvent | DistillDropped | DistillError;

/** The same, tagged: what the distiller role, bundles and `simulate` work with. */
export type DistillOutcome = { kind: 'event'; event: WinchesterEvent } | DistillDropped | DistillError;

export function isDistillError(result: DistillResult): result is DistillError {
  return result instanceof DistillError;
}

export function isDropped(result: DistillResult): result is DistillDropped {
  return result instanceof DistillDropped;
}

export function isEvent(result: DistillResult): result is WinchesterEvent {
  return !(result instanceof DistillError) && !(result instanceof DistillDropped);
}

/** Running counts of a distiller's outcomes. */
export interface DistillStats {
  distilled: number;
  dropped: Record<DropReason, number>;
  errors: Record<DistillErrorCategory, number>;
}

export function newDistillStats(): DistillStats {
  return {
    distilled: 0,
    dropped: { unmatched: 0, 'no-traits': 0 },
    errors: {
      'invalid-json': 0,
      'invalid-notification': 0,
      'invalid-timestamp': 0,
      conversion: 0,
      path: 0,
      plugin: 0,
      internal: 0,
    },
  };
}
