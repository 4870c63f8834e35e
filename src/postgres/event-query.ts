import { TraitType } from '../events/event';
import { completeSort } from '../store/filter';
import { EventFilter, FilterOp, Pagination, SortSpec, TraitFilter } from '../store/model';
import { floatText, jsonValue, traitKey } from './event-rows';
import { isStorableMicros, pgTimestampBound } from './timestamps';

/**
 * Panko's event filter as SQL, the same rules as src/store/filter.ts: a trait filter holds
 * when the event has a trait of that name and type whose value compares so (an int 5 is
 * never the string "5"), the admin scope is Panko's rule, the order is completed with
 * message_id, and a marker continues after its sort values (keyset pagination). Text
 * compares in C collation, by code point.
 *
 * How it runs: every trait filter is checked on the event row's traits object, in the
 * trait's type. An equality that matches few events (at most `candidates`) is answered
 * from the GIN index on that object, and the query reads just those events; otherwise the
 * events are read in the requested order (by the time, type or project indexes) and each
 * is checked, until the page is full. Which way is decided inside the one statement: each
 * equality's candidates are fetched (capped) first, and only the branch they choose runs.
 */
export const DEFAULT_CANDIDATES = 10_000;

export interface EventQuery {
  sql: string;
  values: unknown[];
}

/** Where the marker event sits in the order: its sort values. */
export interface MarkerPosition {
  generated: string;
  message_id: string;
}

class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const OPERATOR: Record<FilterOp, string> = { eq: '=', ne: '<>', lt: '<', le: '<=', gt: '>', ge: '>=' };
const COLUMNS = 'e.message_id, e.event_type, e.generated, e.traits, e.raw';
const SORT_COLUMN = { generated: 'e.generated', message_id: 'e.message_id' };

/** How a value of the row's traits object (text) is read in its type. */
const AS_TYPE: Record<TraitType, (value: string) => string> = {
  text: (value) => `${value} COLLATE "C"`,
  int: (value) => `${value}::bigint`,
  float: (value) => `${value}::float8`,
  datetime: (value) => `${value}::timestamp`,
};

const LONE_SURROGATE = /\p{Surrogate}/u;

/** Where the first character PostgreSQL text cannot hold (NUL, a lone surrogate) is, or -1. */
function unstorableAt(text: string): number {
  const nul = text.indexOf('\u0000');
  const surrogate = LONE_SURROGATE.exec(text)?.index ?? -1;
  return nul < 0 || surrogate < 0 ? Math.max(nul, surrogate) : Math.min(nul, surrogate);
}

/** Whether PostgreSQL text can hold this string; one it cannot hold is never stored. */
export const isStorableText = (text: string) => unstorableAt(text) < 0;

export function eventQuery(
  filter: EventFilter,
  page: Pagination,
  marker?: MarkerPosition,
  candidates = DEFAULT_CANDIDATES,
): EventQuery {
  const params = new Params();
  const sort = completeSort(page.sort);
  const where = eventConditions(filter, params);
  where.push(...(filter.traits ?? []).map((f) => inEventRow(f, params)));
  if (marker) where.push(afterMarker(sort, marker, params));
  const order = sort.map((s) => `e.${s.key} ${s.direction.toUpperCase()}`).join(', ');
  const tail = ` ORDER BY ${order}${limitClause(page, params)}`;
  const select = (from: string, gate = 'TRUE') =>
    `SELECT ${COLUMNS} FROM ${from} WHERE ${[gate, ...where].join('\n AND ')}${tail}`;
  const indexed = indexedEqualities(filter.traits ?? []);
  if (indexed === undefined || filter.messageId !== undefined) {
    return { sql: select('events e'), values: params.values };
  }
  const bounds = timeBounds('e', filter, params);
  // Candidates before the marker's position can never be on this page.
  if (marker && sort[0].key === 'generated') {
    const from = sort[0].direction === 'asc' ? '>=' : '<=';
    bounds.push(`e.generated ${from} ${params.add(marker.generated)}::timestamp`);
  }
  const contains = indexed === 'none' ? 'FALSE' : `e.traits @> ${params.add(JSON.stringify(indexed))}::jsonb`;
  const inOrder = sort[0].key === 'generated' ? ` ORDER BY generated ${sort[0].direction.toUpperCase()}` : '';
  // Each candidate is read by primary key (LATERAL … LIMIT 1 keeps it a look-up): the planner
  // has no statistics for values inside the traits object and would rather scan every day.
  const fromIndex = select(
    `(SELECT generated, event_id FROM c${inOrder}) c CROSS JOIN LATERAL (SELECT * FROM events e
       WHERE e.generated = c.generated AND e.id = c.event_id LIMIT 1) e`,
    `(SELECT n <= ${candidates} FROM n)`,
  );
  const rowByRow = select('events e', `(SELECT n > ${candidates} FROM n)`);
  const sql = `WITH c AS MATERIALIZED (SELECT e.generated, e.id AS event_id FROM events e
      WHERE ${[contains, ...bounds].join(' AND ')} LIMIT ${candidates + 1}),
    n AS MATERIALIZED (SELECT count(*) AS n FROM c)
    SELECT * FROM ((${fromIndex})\nUNION ALL\n(${rowByRow})) e${tail}`;
  return { sql, values: params.values };
}

/**
 * The equalities among the trait filters as one object for the GIN index (`traits @>`
 * finds the events holding every key and value, intersecting them in the index), 'none'
 * when no stored event can hold them all, undefined when no equality is indexed. A float
 * zero is left out (it is stored as 0 or "-0"; the row check finds both), as is a name
 * PostgreSQL cannot hold (that filter is FALSE on the row).
 */
function indexedEqualities(filters: TraitFilter[]): Record<string, string | number> | 'none' | undefined {
  const wanted: Record<string, string | number> = {};
  let any = false;
  for (const f of filters) {
    if (f.op !== 'eq' || !isStorableText(f.key) || (f.trait.type === 'float' && f.trait.value === 0))
      continue;
    const value = storedForm(f);
    const key = traitKey(f.trait.type, f.key);
    if (value === undefined || (key in wanted && wanted[key] !== value)) return 'none';
    wanted[key] = value;
    any = true;
  }
  return any ? wanted : undefined;
}

/** The stored JSON of a trait equal to the filter's value in its type, if one can be stored. */
function storedForm({ trait }: TraitFilter): string | number | undefined {
  switch (trait.type) {
    case 'text':
      return isStorableText(trait.value) ? trait.value : undefined;
    case 'datetime':
      return isStorableMicros(trait.value) ? jsonValue(trait) : undefined;
    default:
      return jsonValue(trait);
  }
}

function limitClause(page: Pagination, params: Params): string {
  if (page.limit === undefined) return '';
  if (!Number.isInteger(page.limit) || page.limit < 0)
    throw new RangeError(`limit ${page.limit} is not a count`);
  return ` LIMIT ${params.add(page.limit)}`;
}

function timeBounds(table: string, filter: EventFilter, params: Params): string[] {
  const bounds: string[] = [];
  if (filter.startTimestamp !== undefined)
    bounds.push(`${table}.generated >= ${params.add(pgTimestampBound(filter.startTimestamp))}::timestamp`);
  if (filter.endTimestamp !== undefined)
    bounds.push(`${table}.generated <= ${params.add(pgTimestampBound(filter.endTimestamp))}::timestamp`);
  return bounds;
}

function eventConditions(filter: EventFilter, params: Params): string[] {
  const where = timeBounds('e', filter, params);
  if (filter.eventType !== undefined) where.push(textEquals('e.event_type', filter.eventType, params));
  if (filter.messageId !== undefined) where.push(textEquals('e.message_id', filter.messageId, params));
  if (filter.adminProject !== undefined) where.push(adminScope(filter.adminProject, params));
  return where;
}

function textEquals(column: string, value: string, params: Params): string {
  return isStorableText(value) ? `${column} = ${params.add(value)}` : 'FALSE';
}

/**
 * Panko's admin scope, from two columns the writer fills: `project` is the event's text
 * project_id (NULL when it has none), `has_text` whether it has any text trait. Events
 * without text traits are hidden, as Panko's SQL hides them.
 */
function adminScope(project: string, params: Params): string {
  const own = isStorableText(project) ? `e.project = ${params.add(project)}` : 'FALSE';
  return `(${own} OR (e.project IS NULL AND e.has_text))`;
}

/**
 * The filter checked on the event row: the value under the trait's key (type letter and
 * name), read in the filter's type. An event without that key gives NULL, which holds for
 * no comparison: as in Panko, an event that lacks the trait never matches, not even `ne`.
 */
function inEventRow(filter: TraitFilter, params: Params): string {
  if (!isStorableText(filter.key)) return 'FALSE';
  const type = filter.trait.type;
  const holds = comparison(filter, params)(AS_TYPE[type](VALUE), `${VALUE}::numeric`);
  if (holds === 'FALSE') return 'FALSE';
  // Bound only now: PostgreSQL refuses a statement with a parameter it does not use.
  const value = `(e.traits->>${params.add(traitKey(type, filter.key))}::text)`;
  // Text compared with a string no stored text can be (textComparison) holds always or never.
  if (holds === 'TRUE') return `${value} IS NOT NULL`;
  return holds.replaceAll(VALUE, value);
}

/** Where the value read from the row goes in a comparison, until its key is bound. */
const VALUE = '\u0000value\u0000';

/** SQL comparing a value expression (typed, or numeric for an int bigint cannot hold) with the filter's value. */
type Comparison = (typed: string, numeric: string) => string;

/** The comparison in the trait's own type, exact also for values no stored trait can have. */
function comparison(filter: TraitFilter, params: Params): Comparison {
  const { op, trait } = filter;
  switch (trait.type) {
    case 'text':
      return textComparison(op, trait.value, params);
    case 'int': {
      // A value bigint cannot hold (a fraction, 1e30, NaN) compares exactly as numeric, unindexed.
      if (Number.isInteger(trait.value) && Math.abs(trait.value) < 2 ** 63) {
        const value = params.add(String(trait.value));
        return (typed) => `${typed} ${OPERATOR[op]} ${value}::bigint`;
      }
      const value = params.add(String(trait.value));
      return (_, numeric) => `${numeric} ${OPERATOR[op]} ${value}::numeric`;
    }
    case 'float': {
      const value = params.add(floatText(trait.value));
      return (typed) => `${typed} ${OPERATOR[op]} ${value}::float8`;
    }
    case 'datetime': {
      const value = params.add(pgTimestampBound(trait.value));
      return (typed) => `${typed} ${OPERATOR[op]} ${value}::timestamp`;
    }
  }
}

/**
 * Text compared with a string PostgreSQL cannot hold (a NUL or a lone surrogate at `i`):
 * no stored value equals it, and in code point order a stored x is below it exactly when
 * x <= v[0:i] (NUL is the least code point) or x < v[0:i] + U+E000 (surrogates sort
 * between U+D7FF and U+E000 and stored text has none).
 */
function textComparison(op: FilterOp, value: string, params: Params): Comparison {
  const at = unstorableAt(value);
  if (at < 0) {
    const v = params.add(value);
    return (typed) => `${typed} ${OPERATOR[op]} ${v}`;
  }
  if (op === 'eq') return () => 'FALSE';
  if (op === 'ne') return () => 'TRUE';
  const prefix = value.slice(0, at);
  const below = op === 'lt' || op === 'le';
  if (value[at] === '\u0000') {
    const v = params.add(prefix);
    return (typed) => `${typed} ${below ? '<=' : '>'} ${v}`;
  }
  const v = params.add(`${prefix}\u{e000}`);
  return (typed) => `${typed} ${below ? '<' : '>='} ${v}`;
}

/**
 * Rows after the marker in this order: (k1 after v1) OR (k1 = v1 AND k2 after v2) …, and
 * the first key's bound on its own so an index on it can start there.
 */
function afterMarker(sort: SortSpec[], marker: MarkerPosition, params: Params): string {
  const value = (spec: SortSpec) =>
    spec.key === 'generated' ? `${params.add(marker.generated)}::timestamp` : params.add(marker.message_id);
  const values = sort.map(value);
  const after = (i: number) => (sort[i].direction === 'asc' ? '>' : '<');
  const terms = sort.map((spec, i) => {
    const equal = sort.slice(0, i).map((prior, j) => `${SORT_COLUMN[prior.key]} = ${values[j]}`);
    return [...equal, `${SORT_COLUMN[spec.key]} ${after(i)} ${values[i]}`].join(' AND ');
  });
  const lead = `${SORT_COLUMN[sort[0].key]} ${after(0)}= ${values[0]}`;
  return `${lead} AND (${terms.map((t) => `(${t})`).join(' OR ')})`;
}

/** The marker's sort values: looked up with no scoping, as Panko does. */
export const MARKER_QUERY = 'SELECT generated, message_id FROM events WHERE message_id = $1 LIMIT 1';
