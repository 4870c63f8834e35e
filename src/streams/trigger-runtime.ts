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
  /** The stream an event belongs to, or undefined when the trigger does not match it. */
  match(event: WinchesterEvent): { key: string; distinguished: DistinguishedValues } | undefined;
  /** Indexes of the fire criteria this event counts towards. */
  fireCounters(event: WinchesterEvent): number[];
  shouldFire(counters: readonly number[]): boolean;
  /** The stream's expire time; `now` binds `$timestamp`. */
  expiration(first: Micros, last: Micros, now: Micros): Micros;
}

/**
 * Stage 1 of matching: the event once per trigger that matches it, keyed by that trigger's
 * stream. Shared by the matcher's event router and the in-process simulation.
 */
export function matchTriggers(
  triggers: readonly TriggerRuntime[],
  event: WinchesterEvent,
  wire?: string,
): MatchedEvent[] {
  const matched: MatchedEvent[] = [];
  for (const trigger of triggers) {
    const match = trigger.match(event);
    if (match)
      matched.push({
        trigger: trigger.name,
        key: match.key,
        distinguished: match.distinguished,
        event,
        wire,
      });
  }
  return matched;
}
