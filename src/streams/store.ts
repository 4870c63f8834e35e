import { WinchesterEvent } from '../events/event';
import { Micros } from '../time/micros';
import { ClockMode, KeyApplyResult } from './engine';
import { DistinguishedValues, DueTimer, StreamMeta, StreamRecord, StreamState } from './model';
import { TriggerLookup, TriggerRuntime, VersionedTrigger } from './trigger-runtime';

export interface KeyBatchEntry {
  event: WinchesterEvent;
  distinguished: DistinguishedValues;
  /** The event's JSON wire text, when known. */
  wire?: string;
  /** The topology version whose triggers routed it (absent: 0). */
  version?: number;
}

/** One stream key's share of a batch. */
export interface KeyGroup {
  /** The trigger's definitions by version (a plain definition serves every version). */
  trigger: TriggerRuntime | VersionedTrigger;
  key: string;
  batch: KeyBatchEntry[];
}

/**
 * Stream state of one repartition partition. Two implementations share the rules in
 * engine.ts: Redis (the topology) and memory (`simulate`, tests).
 */
export interface PartitionStore {
  readonly partition: number;
  /** Applies one stream key's batch atomically (optimistic; retried on conflict). */
  applyKey(
    trigger: TriggerRuntime | VersionedTrigger,
    key: string,
    batch: KeyBatchEntry[],
    clock: ClockMode,
    now: Micros,
  ): Promise<KeyApplyResult>;
  /**
   * Applies several keys' batches, each as applyKey would (results in the same order); a
   * store may write them in one transaction.
   */
  applyKeys(groups: KeyGroup[], clock: ClockMode, now: Micros): Promise<KeyApplyResult[]>;
  /** Timers due strictly before `now`, in due order (fire before expire at equal times). */
  dueTimers(now: Micros, limit: number): Promise<DueTimer[]>;
  /**
   * Moves a due stream from `active` to `firing`/`expiring` (dropping its active pointer if
   * it still names it, and its timers) and records it as pending emission; returns the
   * record to produce, or null when the timer was stale. The record's pipelines are those of
   * the stream's own version (`triggers.get(name, version)`).
   */
  takeDue(timer: DueTimer, triggers: TriggerLookup): Promise<StreamRecord | null>;
  /** takeDue for several timers of distinct streams (results in the same order). */
  takeDueMany(timers: DueTimer[], triggers: TriggerLookup): Promise<Array<StreamRecord | null>>;
  /** The records' produce was acknowledged: they are no longer pending. */
  emitted(streamIds: string[]): Promise<void>;
  /** Records taken but not acknowledged (re-emitted on assignment). */
  pendingEmissions(triggers: TriggerLookup): Promise<StreamRecord[]>;
  /** Event clock: source partitions' latest watermarks; returns the partition clock. */
  recordWatermarks(marks: ReadonlyMap<number, Micros>, sourceCount: number): Promise<Micros | null>;
  /** Event clock: `clock advance` floor; returns the partition clock. */
  advanceClock(to: Micros, sourceCount: number): Promise<Micros | null>;
  readClock(sourceCount: number): Promise<Micros | null>;
  getStream(streamId: string): Promise<StreamMeta | null>;
  listStreams(filter?: { state?: StreamState }): Promise<StreamMeta[]>;
}

/** Partition clock: the floor, or the minimum over every source's watermark when all have one. */
export function partitionClock(
  watermarks: ReadonlyMap<number, Micros>,
  floor: Micros | null,
  sourceCount: number,
): Micros | null {
  let min: Micros | null = null;
  if (watermarks.size >= sourceCount && sourceCount > 0) {
    for (let s = 0; s < sourceCount; s++) {
      const w = watermarks.get(s);
      if (w === undefined) {
        min = null;
        break;
      }
      min = min === null ? w : Math.min(min, w);
    }
  }
  if (floor === null) return min;
  return min === null ? floor : Math.max(min, floor);
}
