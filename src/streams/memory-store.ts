import { WinchesterEvent } from '../events/event';
import { Micros } from '../time/micros';
import {
  applyEventsToKey,
  ClockMode,
  isDue,
  KeyApplyResult,
  takenStreamRecord,
  transitionForTimer,
} from './engine';
import { compareDueTimers, DueTimer, StreamMeta, StreamRecord, StreamState } from './model';
import { KeyBatchEntry, KeyGroup, PartitionStore, partitionClock } from './store';
import { MinHeap } from '../util/min-heap';
import { TriggerLookup, TriggerRuntime, VersionedTrigger } from './trigger-runtime';

/** In-process stream state for `simulate` and tests; the same rules as the Redis store. */
export class MemoryPartitionStore implements PartitionStore {
  private readonly streams = new Map<string, StreamMeta>();
  private readonly events = new Map<string, WinchesterEvent[]>();
  private readonly active = new Map<string, string>();
  private readonly seen = new Map<string, Set<string>>();
  private readonly pending = new Set<string>();
  /** Every fire/expire time ever set; entries a stream has moved past are skipped when due. */
  private readonly timers = new MinHeap<DueTimer>((a, b) => compareDueTimers(a, b) < 0);
  private readonly watermarks = new Map<number, Micros>();
  private floor: Micros | null = null;
  private clock: Micros | null = null;
  private nextId = 1;

  constructor(
    readonly partition: number,
    private readonly idPrefix = `p${partition}-`,
  ) {}

  async applyKey(
    trigger: TriggerRuntime | VersionedTrigger,
    key: string,
    batch: KeyBatchEntry[],
    clock: ClockMode,
    now: Micros,
  ): Promise<KeyApplyResult> {
    const activeId = this.active.get(key);
    const seen = this.seen.get(key) ?? new Set<string>();
    const result = applyEventsToKey(
      { active: activeId ? (this.streams.get(activeId) ?? null) : null, alreadySeen: seen },
      batch,
      trigger,
      { clock, now, partition: this.partition, key, newStreamId: () => `${this.idPrefix}${this.nextId++}` },
    );
    for (const change of result.changes) {
      const { meta } = change;
      const before = this.streams.get(meta.id);
      this.streams.set(meta.id, meta);
      if (before?.expireAt !== meta.expireAt) {
        this.timers.push({ kind: 'expired', due: meta.expireAt, streamId: meta.id });
      }
      if (meta.fireAt !== null && before?.fireAt !== meta.fireAt) {
        this.timers.push({ kind: 'fired', due: meta.fireAt, streamId: meta.id });
      }
      const list = this.events.get(change.meta.id) ?? [];
      list.push(...change.added);
      this.events.set(change.meta.id, list);
    }
    if (result.activeId) this.active.set(key, result.activeId);
    for (const id of result.newlySeen) seen.add(id);
    this.seen.set(key, seen);
    return result;
  }

  async applyKeys(groups: KeyGroup[], clock: ClockMode, now: Micros): Promise<KeyApplyResult[]> {
    const results: KeyApplyResult[] = [];
    for (const { trigger, key, batch } of groups)
      results.push(await this.applyKey(trigger, key, batch, clock, now));
    return results;
  }

  async dueTimers(now: Micros, limit: number): Promise<DueTimer[]> {
    const due: DueTimer[] = [];
    for (let next = this.timers.peek(); next && isDue(next.due, now) && due.length < limit;) {
      this.timers.pop();
      if (this.isCurrent(next)) due.push(next);
      next = this.timers.peek();
    }
    return due;
  }

  private isCurrent(timer: DueTimer): boolean {
    const meta = this.streams.get(timer.streamId);
    if (!meta || meta.state !== 'active') return false;
    return timer.kind === 'fired' ? meta.fireAt === timer.due : meta.expireAt === timer.due;
  }

  async takeDueMany(timers: DueTimer[], triggers: TriggerLookup): Promise<Array<StreamRecord | null>> {
    const records: Array<StreamRecord | null> = [];
    for (const timer of timers) records.push(await this.takeDue(timer, triggers));
    return records;
  }

  async takeDue(timer: DueTimer, triggers: TriggerLookup): Promise<StreamRecord | null> {
    const next = transitionForTimer(this.streams.get(timer.streamId) ?? null, timer, triggers.currentVersion);
    const record = next && takenStreamRecord(next, this.events.get(next.id) ?? [], triggers);
    if (!next || !record) return null;
    this.streams.set(next.id, next);
    if (this.active.get(next.key) === next.id) this.active.delete(next.key);
    this.pending.add(next.id);
    return record;
  }

  async emitted(streamIds: string[]): Promise<void> {
    for (const id of streamIds) this.pending.delete(id);
  }

  async pendingEmissions(triggers: TriggerLookup): Promise<StreamRecord[]> {
    const records: StreamRecord[] = [];
    for (const id of this.pending) {
      const meta = this.streams.get(id);
      const record = meta && takenStreamRecord(meta, this.events.get(id) ?? [], triggers);
      if (record) records.push(record);
    }
    return records;
  }

  async recordWatermarks(marks: ReadonlyMap<number, Micros>, sourceCount: number): Promise<Micros | null> {
    for (const [source, watermark] of marks) {
      this.watermarks.set(source, Math.max(watermark, this.watermarks.get(source) ?? -Infinity));
    }
    return this.readClock(sourceCount);
  }

  async advanceClock(to: Micros, sourceCount: number): Promise<Micros | null> {
    this.floor = Math.max(to, this.floor ?? -Infinity);
    return this.readClock(sourceCount);
  }

  async readClock(sourceCount: number): Promise<Micros | null> {
    const candidate = partitionClock(this.watermarks, this.floor, sourceCount);
    // The clock never goes backwards.
    if (candidate !== null && (this.clock === null || candidate > this.clock)) this.clock = candidate;
    return this.clock;
  }

  async getStream(streamId: string): Promise<StreamMeta | null> {
    return this.streams.get(streamId) ?? null;
  }

  async listStreams(filter?: { state?: StreamState }): Promise<StreamMeta[]> {
    return [...this.streams.values()].filter((s) => !filter?.state || s.state === filter.state);
  }
}
