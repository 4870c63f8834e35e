import { Micros } from '../time/micros';
import { ClockMode } from './engine';
import { MatchedEvent, StreamRecord } from './model';
import { KeyBatchEntry, PartitionStore } from './store';
import { TriggerRuntime } from './trigger-runtime';

export interface ProcessorStats {
  eventsApplied: number;
  duplicatesIgnored: number;
  streamsOpened: number;
  streamsFired: number;
  streamsExpired: number;
}

export function emptyStats(): ProcessorStats {
  return { eventsApplied: 0, duplicatesIgnored: 0, streamsOpened: 0, streamsFired: 0, streamsExpired: 0 };
}

/**
 * Drives one repartition partition: applies matched events grouped by stream key (keys
 * concurrently, each key's events in arrival order) and runs due timers, emitting stream
 * records. Used by the matcher's stage 2 (Redis store) and by `simulate` (memory store).
 */
export class PartitionProcessor {
  readonly stats = emptyStats();
  /** Per-trigger counters, for metrics. */
  readonly perTrigger = new Map<string, ProcessorStats>();

  constructor(
    readonly store: PartitionStore,
    private readonly triggers: ReadonlyMap<string, TriggerRuntime>,
    private readonly clock: ClockMode,
    private readonly emit: (record: StreamRecord) => Promise<void>,
    private readonly concurrency = 8,
    private readonly onStat?: (trigger: string, field: keyof ProcessorStats, by: number) => void,
  ) {}

  private bump(trigger: string, field: keyof ProcessorStats, by = 1): void {
    this.stats[field] += by;
    let s = this.perTrigger.get(trigger);
    if (!s) this.perTrigger.set(trigger, (s = emptyStats()));
    s[field] += by;
    this.onStat?.(trigger, field, by);
  }

  /** Applies matched events; unknown triggers (config changed under a backlog) are returned. */
  async apply(records: MatchedEvent[], now: Micros): Promise<MatchedEvent[]> {
    const groups = new Map<string, { trigger: TriggerRuntime; batch: KeyBatchEntry[] }>();
    const unknown: MatchedEvent[] = [];
    for (const record of records) {
      const trigger = this.triggers.get(record.trigger);
      if (!trigger) {
        unknown.push(record);
        continue;
      }
      const groupKey = `${record.trigger}\u0000${record.key}`;
      let group = groups.get(groupKey);
      if (!group) groups.set(groupKey, (group = { trigger, batch: [] }));
      group.batch.push({ event: record.event, distinguished: record.distinguished });
    }
    const entries = [...groups.entries()];
    let next = 0;
    const worker = async () => {
      while (next < entries.length) {
        const [groupKey, { trigger, batch }] = entries[next++];
        const key = groupKey.slice(groupKey.indexOf('\u0000') + 1);
        const result = await this.store.applyKey(trigger, key, batch, this.clock, now);
        this.bump(trigger.name, 'eventsApplied', batch.length - result.duplicates);
        if (result.duplicates) this.bump(trigger.name, 'duplicatesIgnored', result.duplicates);
        const opened = result.changes.filter((c) => c.created).length;
        if (opened) this.bump(trigger.name, 'streamsOpened', opened);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, entries.length) }, worker));
    return unknown;
  }

  /** Fires and expires everything due strictly before `now`, in due order. */
  async runTimers(now: Micros): Promise<number> {
    let handled = 0;
    for (;;) {
      const due = await this.store.dueTimers(now, 256);
      if (due.length === 0) return handled;
      for (const timer of due) {
        const record = await this.store.takeDue(timer, this.triggers);
        if (!record) continue;
        await this.emit(record);
        await this.store.emitted(record.stream_id);
        this.bump(record.trigger, record.kind === 'fired' ? 'streamsFired' : 'streamsExpired');
        handled++;
      }
    }
  }

  /** Re-produces records whose produce was never acknowledged (after a crash or rebalance). */
  async reemitPending(): Promise<number> {
    const pending = await this.store.pendingEmissions(this.triggers);
    for (const record of pending) {
      await this.emit(record);
      await this.store.emitted(record.stream_id);
    }
    return pending.length;
  }
}
