import { WinchesterEvent } from '../events/event';
import { Micros } from '../time/micros';
import {
  applyEventsToKey,
  buildStreamRecord,
  ClockMode,
  isDue,
  KeyApplyResult,
  transitionForTimer,
} from './engine';
import { compareDueTimers, DueTimer, StreamMeta, StreamRecord, StreamState } from './model';
import { KeyBatchEntry, PartitionStore, partitionClock } from './store';
import { TriggerRuntime } from './trigger-runtime';

/** In-process stream state for `simulate` and tests; the same rules as the Redis store. */
export class MemoryPartitionStore implements PartitionStore {
  private readonly streams = new Map<string, StreamMeta>();
  private readonly events = new Map<string, WinchesterEvent[]>();
  private readonly active = new Map<string, string>();
  private readonly seen = new Map<string, Set<string>>();
  private readonly pending = new Set<string>();
  private readonly watermarks = new Map<number, Micros>();
  private floor: Micros | null = null;
  private clock: Micros | null = null;
  private nextId = 1;

  constructor(
    readonly partition: number,
    private readonly idPrefix = `p${partition}-`,
  ) {}

  async applyKey(
    trigger: TriggerRuntime,
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
      this.streams.set(change.meta.id, change.meta);
      const list = this.events.get(change.meta.id) ?? [];
      list.push(...change.added);
      this.events.set(change.meta.id, list);
    }
    if (result.activeId) this.active.set(key, result.activeId);
    for (const id of result.newlySeen) seen.add(id);
    this.seen.set(key, seen);
    return result;
  }

  async dueTimers(now: Micros, limit: number): Promise<DueTimer[]> {
    const due: DueTimer[] = [];
    for (const meta of this.streams.values()) {
      if (meta.state !== 'active') continue;
      if (meta.fireAt !== null && isDue(meta.fireAt, now))
        due.push({ kind: 'fired', due: meta.fireAt, streamId: meta.id });
      if (isDue(meta.expireAt, now)) due.push({ kind: 'expired', due: meta.expireAt, streamId: meta.id });
    }
    return due.sort(compareDueTimers).slice(0, limit);
  }

  async takeDue(
    timer: DueTimer,
    triggers: ReadonlyMap<string, TriggerRuntime>,
  ): Promise<StreamRecord | null> {
    const next = transitionForTimer(this.streams.get(timer.streamId) ?? null, timer);
    const trigger = next && triggers.get(next.trigger);
    if (!next || !trigger) return null;
    this.streams.set(next.id, next);
    if (this.active.get(next.key) === next.id) this.active.delete(next.key);
    this.pending.add(next.id);
    return buildStreamRecord(next, this.events.get(next.id) ?? [], trigger);
  }

  async emitted(streamId: string): Promise<void> {
    this.pending.delete(streamId);
  }

  async pendingEmissions(triggers: ReadonlyMap<string, TriggerRuntime>): Promise<StreamRecord[]> {
    const records: StreamRecord[] = [];
    for (const id of this.pending) {
      const meta = this.streams.get(id);
      const trigger = meta && triggers.get(meta.trigger);
      if (meta && trigger) records.push(buildStreamRecord(meta, this.events.get(id) ?? [], trigger));
    }
    return records;
  }

  async recordWatermark(source: number, watermark: Micros, sourceCount: number): Promise<Micros | null> {
    this.watermarks.set(source, Math.max(watermark, this.watermarks.get(source) ?? -Infinity));
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
