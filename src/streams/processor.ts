import { Micros } from '../time/micros';
import { ClockMode } from './engine';
import { DueTimer, MatchedEvent, StreamRecord } from './model';
import { KeyBatchEntry, PartitionStore } from './store';
import { TriggerLookup, TriggerRuntime, VersionedTrigger } from './trigger-runtime';

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
 * Drives one repartition partition: applies matched events grouped by stream key (chunks
 * of keys concurrently, each key's events in arrival order) and runs due timers, emitting stream
 * records. Used by the matcher's stage 2 (Redis store) and by `simulate` (memory store).
 */
export class PartitionProcessor {
  readonly stats = emptyStats();
  /** Per-trigger counters, for metrics. */
  readonly perTrigger = new Map<string, ProcessorStats>();

  constructor(
    readonly store: PartitionStore,
    /** Definitions by (name, version): a TriggerCatalog, or a plain Map for one topology. */
    private readonly triggers: TriggerLookup,
    private readonly clock: ClockMode,
    /** Produces stream records; resolves once all are acknowledged. */
    private readonly emit: (records: StreamRecord[]) => Promise<void>,
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

  /**
   * Applies matched events, each checked with the version it was routed under; those whose
   * trigger no version here knows (configuration changed under a backlog) are returned.
   */
  async apply(records: MatchedEvent[], now: Micros): Promise<MatchedEvent[]> {
    const { keyGroups, unknown } = this.groupByKey(records);
    await forEachConcurrently(chunksFor(keyGroups, this.concurrency), this.concurrency, async (chunk) => {
      const results = await this.store.applyKeys(chunk, this.clock, now);
      chunk.forEach(({ trigger, batch }, i) => {
        const result = results[i];
        this.bump(trigger.name, 'eventsApplied', batch.length - result.duplicates);
        if (result.duplicates) this.bump(trigger.name, 'duplicatesIgnored', result.duplicates);
        const opened = result.changes.filter((c) => c.created).length;
        if (opened) this.bump(trigger.name, 'streamsOpened', opened);
      });
    });
    return unknown;
  }

  /** Matched events by (trigger, stream key), in arrival order, with their trigger's definitions by version. */
  private groupByKey(records: MatchedEvent[]) {
    const groups = new Map<string, { trigger: VersionedTrigger; key: string; batch: KeyBatchEntry[] }>();
    const unknown: MatchedEvent[] = [];
    for (const record of records) {
      const version = record.version ?? 0;
      const routed = this.triggers.get(record.trigger, version);
      if (!routed) {
        unknown.push(record);
        continue;
      }
      const groupKey = `${record.trigger}\u0000${record.key}`;
      let group = groups.get(groupKey);
      if (!group) {
        const trigger = this.definitions(record.trigger, routed);
        groups.set(groupKey, (group = { trigger, key: record.key, batch: [] }));
      }
      const { event, distinguished, wire } = record;
      group.batch.push({ event, distinguished, wire, version });
    }
    return { keyGroups: [...groups.values()], unknown };
  }

  /** A trigger's definitions by version; one this process cannot find stands in for any it lacks. */
  private definitions(name: string, standIn: TriggerRuntime): VersionedTrigger {
    return { name, at: (version) => this.triggers.get(name, version) ?? standIn };
  }

  /**
   * Fires and expires everything due strictly before `now`, in due order, a batch at a time:
   * the batch's transitions run in concurrent chunks (one store transaction each), then its
   * records go out in one produce and are marked emitted once acknowledged.
   */
  async runTimers(now: Micros): Promise<number> {
    let handled = 0;
    for (;;) {
      const due = await this.store.dueTimers(now, 256);
      if (due.length === 0) return handled;
      // A stream's fire and expire may both be due: its first in due order runs, which
      // leaves the other stale.
      const firstPerStream = new Map<string, DueTimer>();
      for (const timer of due)
        if (!firstPerStream.has(timer.streamId)) firstPerStream.set(timer.streamId, timer);
      const timers = [...firstPerStream.values()];
      const chunks = chunksFor(timers, this.concurrency);
      const taken: Array<Array<StreamRecord | null>> = new Array(chunks.length);
      await forEachConcurrently(chunks, this.concurrency, async (chunk, i) => {
        taken[i] = await this.store.takeDueMany(chunk, this.triggers);
      });
      // In due order, whichever chunk finished first.
      const records = taken.flat().filter((r): r is StreamRecord => r !== null);
      if (records.length === 0) continue;
      await this.emit(records);
      await this.store.emitted(records.map((r) => r.stream_id));
      for (const record of records) {
        this.bump(record.trigger, record.kind === 'fired' ? 'streamsFired' : 'streamsExpired');
      }
      handled += records.length;
    }
  }

  /** Re-produces records whose produce was never acknowledged (after a crash or rebalance). */
  async reemitPending(): Promise<number> {
    const pending = await this.store.pendingEmissions(this.triggers);
    if (pending.length === 0) return 0;
    await this.emit(pending);
    await this.store.emitted(pending.map((r) => r.stream_id));
    return pending.length;
  }
}

/** Most stream keys (or timers) one store transaction takes. */
const MAX_CHUNK = 64;

/** Splits work into chunks for the store: enough to keep every lane busy, none over MAX_CHUNK. */
function chunksFor<T>(items: readonly T[], lanes: number): T[][] {
  const size = Math.min(MAX_CHUNK, Math.max(1, Math.ceil(items.length / lanes)));
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Runs fn over items with at most `limit` calls in flight. */
async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
