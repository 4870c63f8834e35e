import { WinchesterEvent } from '../events/event';
import { Micros } from '../time/micros';
import { DistinguishedValues, MatchedEvent } from './model';

/**
 * What the stream engine needs of a trigger definition. The trigger language
 * (src/triggers) provides it; the engine never looks at criteria itself.
 */
export interface TriggerRuntime {
  readonly name: string;
  readonly firePipeline: string | null;
  readonly expirePipeline: string | null;
  readonly fireDelaySeconds: number;
  readonly fireCriteriaCount: number;
  /**
   * A digest of `distinguished_by` (see distinguishedByFingerprint): an event joins an open
   * stream only under the same one. Undefined for hand-built triggers: they never differ.
   */
  readonly distinguishedByFingerprint?: string;
  /** The stream an event belongs to, or undefined when the trigger does not match it. */
  match(event: WinchesterEvent): { key: string; distinguished: DistinguishedValues } | undefined;
  /** Indexes of the fire criteria this event counts towards. */
  fireCounters(event: WinchesterEvent): number[];
  shouldFire(counters: readonly number[]): boolean;
  /** The stream's expire time; `now` binds `$timestamp`. */
  expiration(first: Micros, last: Micros, now: Micros): Micros;
}

/**
 * One trigger's definitions by topology version: an event is checked with the version it was
 * routed under, a stream is counted, fired and expired with the version it was opened with.
 */
export interface VersionedTrigger {
  readonly name: string;
  /** The definition of `version` (the caller's fallback when that version is not to be had). */
  at(version: number): TriggerRuntime;
}

/**
 * Trigger definitions by name and topology version. A plain `Map` of name → definition is one:
 * it ignores the version (a single topology, today's matcher without live changes).
 */
export interface TriggerLookup {
  get(name: string, version?: number): TriggerRuntime | undefined;
  /** The version current now, which stream records name as their pipeline version (absent: 0). */
  readonly currentVersion?: number;
}

/** A plain definition as a versioned one: the same definition whatever the version. */
export function versioned(trigger: TriggerRuntime | VersionedTrigger): VersionedTrigger {
  if ('at' in trigger) return trigger;
  return { name: trigger.name, at: () => trigger };
}

/**
 * Stage 1 of matching: the event once per trigger that matches it, keyed by that trigger's
 * stream, carrying the topology `version` the triggers belong to (when given). Shared by the
 * matcher's event router and the in-process simulation.
 */
export function matchTriggers(
  triggers: readonly TriggerRuntime[],
  event: WinchesterEvent,
  wire?: string,
  version?: number,
): MatchedEvent[] {
  const matched: MatchedEvent[] = [];
  for (const trigger of triggers) {
    const match = trigger.match(event);
    if (!match) continue;
    const record: MatchedEvent = {
      trigger: trigger.name,
      key: match.key,
      distinguished: match.distinguished,
      event,
      wire,
    };
    if (version !== undefined) record.version = version;
    matched.push(record);
  }
  return matched;
}
