import { WinchesterEvent } from '../events/event';
import { Micros } from '../time/micros';
import { DistinguishedValues } from './model';

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
