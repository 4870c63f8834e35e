import { TraitType } from '../events/event';
import { MICROS_PER_SECOND, Micros } from '../time/micros';
import { compareEvents, compareText, compareTraits, completeSort, matchesFilter } from './filter';
import {
  DEFAULT_SORT,
  DTYPE,
  EventFilter,
  EventStore,
  ExpiryReport,
  InvalidMarkerError,
  NamedTrait,
  Pagination,
  RecordResult,
  StoredEvent,
  TraitDescription,
} from './model';

/** Groups traits Panko's way (text, int, float, datetime), then by name. */
function byTypeThenName(a: NamedTrait, b: NamedTrait): number {
  return DTYPE[a.trait.type] - DTYPE[b.trait.type] || compareText(a.name, b.name);
}

/**
 * The event store in memory, for `simulate`, unit tests and the conformance suite's
 * reference. Not durable; `production_ready` is false, as Panko says of its test drivers.
 */
export class MemoryEventStore implements EventStore {
  readonly storageCapabilities = { storage: { production_ready: false } };
  private readonly events = new Map<string, StoredEvent>();

  async recordEvents(events: StoredEvent[]): Promise<RecordResult[]> {
    return events.map((event) => {
      if (this.events.has(event.message_id)) return { message_id: event.message_id, outcome: 'duplicate' };
      const traits = [...event.traits].sort(compareTraits);
      this.events.set(event.message_id, { ...event, traits });
      return { message_id: event.message_id, outcome: 'stored' };
    });
  }

  async getEvents(filter: EventFilter, page: Pagination = {}): Promise<StoredEvent[]> {
    const sort = completeSort(page.sort);
    let found = [...this.events.values()].filter((event) => matchesFilter(event, filter));
    found.sort((a, b) => compareEvents(a, b, sort));
    if (page.marker) {
      const marker = this.events.get(page.marker);
      if (!marker) throw new InvalidMarkerError(page.marker);
      found = found.filter((event) => compareEvents(event, marker, sort) > 0);
    }
    return page.limit === undefined ? found : found.slice(0, page.limit);
  }

  async getEventTypes(): Promise<string[]> {
    return [...new Set([...this.events.values()].map((e) => e.event_type))].sort(compareText);
  }

  async getTraitTypes(eventType: string): Promise<TraitDescription[]> {
    const seen = new Map<string, TraitDescription>();
    for (const { name, trait } of this.traitsOf(eventType)) {
      seen.set(`${trait.type}\u0000${name}`, { name, type: trait.type });
    }
    const order = (d: TraitDescription) => ({ name: d.name, trait: { type: d.type } }) as NamedTrait;
    return [...seen.values()].sort((a, b) => byTypeThenName(order(a), order(b)));
  }

  async getTraits(eventType: string, traitName?: string): Promise<NamedTrait[]> {
    const traits = this.traitsOf(eventType).filter((t) => traitName === undefined || t.name === traitName);
    return traits.sort(byTypeThenName);
  }

  async clearExpiredData(
    ttlSeconds: number,
    maxCount?: number,
    now: Micros = Date.now() * 1000,
  ): Promise<ExpiryReport> {
    const cutoff = now - ttlSeconds * MICROS_PER_SECOND;
    const expired = [...this.events.values()]
      .filter((event) => event.generated < cutoff)
      .sort((a, b) => compareEvents(a, b, DEFAULT_SORT))
      .slice(0, maxCount);
    for (const event of expired) this.events.delete(event.message_id);
    return { events: expired.length, partitionsDropped: 0 };
  }

  async close(): Promise<void> {}

  /** The type's traits in event order (generated, message_id), which the stable sorts above keep. */
  private traitsOf(eventType: string): NamedTrait[] {
    return [...this.events.values()]
      .filter((e) => e.event_type === eventType)
      .sort((a, b) => compareEvents(a, b, DEFAULT_SORT))
      .flatMap((e) => e.traits);
  }
}

export type { TraitType };
