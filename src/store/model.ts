import { Trait, TraitType } from '../events/event';
import { Micros } from '../time/micros';

/**
 * The event store's model, after Panko's `storage/base.py` and `storage/models.py`: what a
 * driver stores, how it is filtered and paged, and what it answers. Pure: no driver
 * imports, so the API, the CLI and the archiver depend on this and not on PostgreSQL.
 */

/** Panko's names for trait types, as the /v2 API spells them. */
export type PankoTraitType = 'string' | 'integer' | 'float' | 'datetime';

export const PANKO_TYPE_OF: Record<TraitType, PankoTraitType> = {
  text: 'string',
  int: 'integer',
  float: 'float',
  datetime: 'datetime',
};

export const TRAIT_TYPE_OF: Record<PankoTraitType, TraitType> = {
  string: 'text',
  integer: 'int',
  float: 'float',
  datetime: 'datetime',
};

/** Panko's dtype codes, the order in which listings group trait types (text first). */
export const DTYPE: Record<TraitType, number> = { text: 1, int: 2, float: 3, datetime: 4 };

export interface NamedTrait {
  name: string;
  trait: Trait;
}

/** An event as stored: its traits sorted by name, `raw` the original notification or null. */
export interface StoredEvent {
  message_id: string;
  event_type: string;
  generated: Micros;
  traits: NamedTrait[];
  raw: unknown;
}

export type FilterOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export const FILTER_OPS: readonly FilterOp[] = ['lt', 'le', 'eq', 'ne', 'ge', 'gt'];

/** Events having a trait `key` of this type whose value compares so with `value`. */
export interface TraitFilter {
  key: string;
  op: FilterOp;
  trait: Trait;
}

/**
 * Panko's EventFilter. Both bounds are inclusive. `adminProject` is an admin's scope:
 * events whose text trait `project_id` is that project, or that have some text trait
 * but no text `project_id` (Panko's SQL rule, kept so the same queries agree).
 */
export interface EventFilter {
  startTimestamp?: Micros;
  endTimestamp?: Micros;
  eventType?: string;
  messageId?: string;
  traits?: TraitFilter[];
  adminProject?: string;
}

export type SortKey = 'generated' | 'message_id';
export type SortDirection = 'asc' | 'desc';
export interface SortSpec {
  key: SortKey;
  direction: SortDirection;
}

/** Panko's default order. A caller's sort is always completed with `message_id`, so
 * pages never overlap or skip, even while events are being inserted. */
export const DEFAULT_SORT: SortSpec[] = [
  { key: 'generated', direction: 'asc' },
  { key: 'message_id', direction: 'asc' },
];

export interface Pagination {
  limit?: number;
  /** The message_id of the last event of the previous page. */
  marker?: string;
  sort?: SortSpec[];
}

/** Panko's record_events outcomes, one per event given, in order. */
export type RecordOutcome = 'stored' | 'duplicate' | 'incompatible_trait' | 'unknown_problem';

export interface RecordResult {
  message_id: string;
  outcome: RecordOutcome;
  reason?: string;
}

export interface TraitDescription {
  name: string;
  type: TraitType;
}

export class InvalidMarkerError extends Error {
  constructor(readonly marker: string) {
    super(`Marker ${marker} not found.`);
    this.name = 'InvalidMarkerError';
  }
}

/** What expiry removed. */
export interface ExpiryReport {
  events: number;
  partitionsDropped: number;
}

/** Capabilities in Panko's nested form; the API flattens them with `:`. */
export const STORE_CAPABILITIES = { events: { query: { simple: true } } };
export const STORAGE_CAPABILITIES = { storage: { production_ready: true } };

/**
 * A storage driver (Panko's `storage/base.py` Connection). Every driver passes the same
 * conformance suite (test/support/event-store-conformance.ts).
 */
export interface EventStore {
  readonly storageCapabilities: { storage: { production_ready: boolean } };
  recordEvents(events: StoredEvent[]): Promise<RecordResult[]>;
  getEvents(filter: EventFilter, page?: Pagination): Promise<StoredEvent[]>;
  /** Sorted by name. */
  getEventTypes(): Promise<string[]>;
  /** Distinct (name, type) pairs for the event type: text first, then int, float, datetime; names sorted. */
  getTraitTypes(eventType: string): Promise<TraitDescription[]>;
  /** Every stored trait of that event type (and name): grouped by type as above, then by name, then in event order (generated, message_id). */
  getTraits(eventType: string, traitName?: string): Promise<NamedTrait[]>;
  /** Removes events generated before now − ttl (at most `maxCount` of them when given: oldest first by generated, then message_id). */
  clearExpiredData(ttlSeconds: number, maxCount?: number, now?: Micros): Promise<ExpiryReport>;
  close(): Promise<void>;
}
