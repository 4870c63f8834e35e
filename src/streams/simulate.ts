import { canonicalTraitValue, WinchesterEvent } from '../events/event';
import { formatMicros, Micros } from '../time/micros';
import { ClockMode } from './engine';
import { MemoryPartitionStore } from './memory-store';
import { DistinguishedValues, StreamRecord } from './model';
import { PartitionProcessor } from './processor';
import { TriggerCatalog, TriggerVersionLog } from './trigger-catalog';
import { matchTriggers, TriggerRuntime } from './trigger-runtime';

/** The far end of time: `--drain` and `clock advance --end` move the clock here. */
export const END_OF_TIME: Micros = Number.MAX_SAFE_INTEGER;

/**
 * Runs events through every trigger in one process with the in-memory store: the same
 * rules as the topology. Under the event clock, the clock follows the events' timestamps
 * (never backwards) and timers run whenever it moves. `changeTriggers` applies a new
 * topology version live, between two events, as `topology apply` does to a running matcher.
 */
export class Simulation {
  private readonly processor: PartitionProcessor;
  private readonly versions: TriggerVersionLog;
  private readonly catalog: TriggerCatalog;
  private clock: Micros | null = null;
  readonly records: StreamRecord[] = [];
  unmatched = 0;

  constructor(
    triggers: TriggerRuntime[],
    private readonly clockMode: ClockMode,
    onRecord?: (record: StreamRecord) => void,
  ) {
    const store = new MemoryPartitionStore(0, 'sim-');
    this.versions = new TriggerVersionLog(triggers);
    this.catalog = new TriggerCatalog(this.versions);
    this.processor = new PartitionProcessor(
      store,
      this.catalog,
      clockMode,
      async (records) => {
        for (const record of records) {
          this.records.push(record);
          onRecord?.(record);
        }
      },
      1,
    );
  }

  get stats() {
    return this.processor.perTrigger;
  }

  /** The topology version events are matched with now (0: the triggers the simulation began with). */
  get version(): number {
    return this.catalog.current.version;
  }

  /**
   * Makes `triggers` the next version (1, 2, …) from the next event on: new triggers start
   * collecting, removed ones stop matching, and open streams keep the version they were
   * opened with until they fire or expire. Returns the version's number.
   */
  changeTriggers(triggers: TriggerRuntime[]): Promise<number> {
    return this.versions.apply(triggers);
  }

  /** The simulation's now: the event clock (0 before any event), or the wall clock. */
  get currentTime(): Micros {
    return this.now();
  }

  private now(event?: WinchesterEvent): Micros {
    if (this.clockMode === 'wall') return Date.now() * 1000;
    return this.clock ?? event?.timestamp ?? 0;
  }

  async push(event: WinchesterEvent): Promise<void> {
    const { version, triggers } = this.catalog.current;
    const matched = matchTriggers(triggers, event, undefined, version);
    if (matched.length === 0) this.unmatched++;
    else await this.processor.apply(matched, this.now(event));
    if (this.clockMode === 'event') {
      if (this.clock === null || event.timestamp > this.clock) this.clock = event.timestamp;
      await this.processor.runTimers(this.clock);
    } else {
      await this.processor.runTimers(this.now());
    }
  }

  async advance(to: Micros): Promise<void> {
    if (this.clock === null || to > this.clock) this.clock = to;
    await this.processor.runTimers(this.clockMode === 'event' ? this.clock : Math.max(to, this.now()));
  }
}

/** How `simulate` prints a distinguishing value: canonical event values, ranges as ISO begin/end. */
export function printableDistinguished(values: DistinguishedValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(values).sort()) {
    const v = values[name];
    out[name] =
      'begin' in v
        ? { begin: formatMicros(v.begin), end: formatMicros(v.end) }
        : JSON.parse(canonicalTraitValue(v as Parameters<typeof canonicalTraitValue>[0]));
  }
  return out;
}

/**
 * One line of `simulate` output, also the unit the equivalence tests compare. A stream opened
 * under a version other than 0 (after a live change) says which.
 */
export function streamSummary(record: StreamRecord) {
  return {
    kind: record.kind,
    trigger: record.trigger,
    ...(record.trigger_version ? { trigger_version: record.trigger_version } : {}),
    pipeline: record.pipeline,
    distinguished_by: printableDistinguished(record.distinguished_by),
    message_ids: record.events.map((e) => e.message_id),
  };
}
