import { Trait } from '../events/event';
import {
  DEFAULT_SORT,
  DTYPE,
  EventFilter,
  FilterOp,
  NamedTrait,
  SortSpec,
  StoredEvent,
  TraitFilter,
} from './model';

/**
 * Panko's filter and order rules as plain functions: the in-memory driver runs them
 * directly and the PostgreSQL driver's SQL must agree with them (the conformance suite
 * checks both against the same cases).
 */

/** Text order as PostgreSQL's C collation has it: by code point (UTF-16 order differs above U+FFFF). */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * An event's traits in the order the store gives them back: by name in code point order,
 * and one name carrying two types in Panko's type order (text, int, float, datetime).
 * Panko orders by name alone, which leaves those ties to chance.
 */
export function compareTraits(a: NamedTrait, b: NamedTrait): number {
  return compareText(a.name, b.name) || DTYPE[a.trait.type] - DTYPE[b.trait.type];
}

/** PostgreSQL's float order: NaN equals NaN and sorts above every number. */
export function compareNumbers(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareValues(stored: Trait, wanted: Trait): number {
  if (stored.type === 'text') return compareText(stored.value, wanted.value as string);
  return compareNumbers(stored.value, wanted.value as number);
}

const OP_HOLDS: Record<FilterOp, (order: number) => boolean> = {
  eq: (c) => c === 0,
  ne: (c) => c !== 0,
  lt: (c) => c < 0,
  le: (c) => c <= 0,
  gt: (c) => c > 0,
  ge: (c) => c >= 0,
};

/** A trait filter only sees traits of its own type: an int 5 is not the string "5". */
export function traitMatches(event: StoredEvent, filter: TraitFilter): boolean {
  return event.traits.some(
    ({ name, trait }) =>
      name === filter.key &&
      trait.type === filter.trait.type &&
      OP_HOLDS[filter.op](compareValues(trait, filter.trait)),
  );
}

/** Panko's admin scope: the project's events, and events with text traits but no text project_id. */
export function inAdminProject(event: StoredEvent, project: string): boolean {
  const text = event.traits.filter(({ trait }) => trait.type === 'text');
  const projects = text.filter(({ name }) => name === 'project_id');
  if (projects.length === 0) return text.length > 0;
  return projects.some(({ trait }) => trait.value === project);
}

export function matchesFilter(event: StoredEvent, filter: EventFilter): boolean {
  if (filter.startTimestamp !== undefined && event.generated < filter.startTimestamp) return false;
  if (filter.endTimestamp !== undefined && event.generated > filter.endTimestamp) return false;
  if (filter.eventType !== undefined && event.event_type !== filter.eventType) return false;
  if (filter.messageId !== undefined && event.message_id !== filter.messageId) return false;
  if (filter.adminProject !== undefined && !inAdminProject(event, filter.adminProject)) return false;
  return (filter.traits ?? []).every((traitFilter) => traitMatches(event, traitFilter));
}

/** The caller's order completed with message_id (unique), so every page boundary is exact. */
export function completeSort(sort: SortSpec[] | undefined): SortSpec[] {
  if (!sort || sort.length === 0) return DEFAULT_SORT;
  if (sort.some((s) => s.key === 'message_id')) return sort;
  return [...sort, { key: 'message_id', direction: 'asc' }];
}

function compareBy(a: StoredEvent, b: StoredEvent, spec: SortSpec): number {
  const order =
    spec.key === 'generated'
      ? compareNumbers(a.generated, b.generated)
      : compareText(a.message_id, b.message_id);
  return spec.direction === 'asc' ? order : -order;
}

export function compareEvents(a: StoredEvent, b: StoredEvent, sort: SortSpec[]): number {
  for (const spec of sort) {
    const order = compareBy(a, b, spec);
    if (order !== 0) return order;
  }
  return 0;
}
