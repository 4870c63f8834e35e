import { TraitType } from '../events/event';
import { completeSort } from '../store/filter';
import { DTYPE, EventFilter, FilterOp, Pagination, SortSpec, TraitFilter } from '../store/model';
import { floatText } from './event-rows';
import { pgTimestampBound } from './timestamps';

/**
 * Panko's event filter as SQL, the same rules as src/store/filter.ts: a trait filter holds
 * when the event has a trait of that name and type whose value compares so (an int 5 is
 * never the string "5"), the admin scope is Panko's rule, the order is completed with
 * message_id, and a marker continues after its sort values (keyset pagination). Text
 * compares in C collation, by code point.
 *
 * How it runs: a trait filter that matches few events (at most `candidates`) is answered from
 * the typed traits table's index, and the query reads just those events; otherwise the
 * events are read in the requested order and each is checked against the traits kept in
 * its own row, until the page is full. Which way is decided inside the one statement: each
 * filter's candidates are fetched (capped) first, and only the branch they choose runs.
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

/** A trait's value as SQL of its type in the traits table. */
const TABLE_VALUE: Record<TraitType, string> = {
  text: 't.t_string',
  int: 't.t_int',
  float: 't.t_float',
  datetime: 't.t_datetime',
};
/** The SQL type a non-text value in the row's JSON is read as. */
const JSON_CAST: Record<Exclude<TraitType, 'text'>, string> = {
  int: 'bigint',
  float: 'float8',
  datetime: 'timestamp',
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

interface CompiledFilter {
  filter: TraitFilter;
  compare: Comparison;
}

export function eventQuery(
  filter: EventFilter,
  page: Pagination,
  marker?: MarkerPosition,
  candidates = DEFAULT_CANDIDATES,
): EventQuery {
  const params = new Params();
  const sort = completeSort(page.sort);
  const traitFilters = (filter.traits ?? []).map((f) => ({
    filter: f,
    compare: lazily(() => comparison(f, params)),
  }));
  const where = eventConditions(filter, params);
  where.push(...traitFilters.map(({ filter: f, compare }) => inEventRow(f, compare, params)));
  if (marker) where.push(afterMarker(sort, marker, params));
  const order = sort.map((s) => `e.${s.key} ${s.direction.toUpperCase()}`).join(', ');
  const tail = ` ORDER BY ${order}${limitClause(page, params)}`;
  const select = (from: string, gate = 'TRUE') =>
    `SELECT ${COLUMNS} FROM ${from} WHERE ${[gate, ...where].join('\n AND ')}${tail}`;
  if (traitFilters.length === 0 || filter.messageId !== undefined) {
    return { sql: select('events e'), values: params.values };
  }
  const bounds = timeBounds('t', filter, params);
  // Candidates before the marker's position can never be on this page.
  if (marker && sort[0].key === 'generated') {
    const from = sort[0].direction === 'asc' ? '>=' : '<=';
    bounds.push(`t.generated ${from} ${params.add(marker.generated)}::timestamp`);
  }
  const fetched = traitFilters.map((f, i) => candidateRows(f, i, bounds, candidates, params));
  const sql = `WITH ${fetched.join(',\n')},
    n AS MATERIALIZED (SELECT ${traitFilters.map((_, i) => `(SELECT count(*) FROM c${i}) AS n${i}`).join(', ')})
    SELECT * FROM (${branches(traitFilters.length, sort, candidates, select).join('\nUNION ALL\n')}) e${tail}`;
  return { sql, values: params.values };
}

/**
 * One branch per filter, reading that filter's candidates (in the page's order when it is
 * by time, so the page fills after about as many look-ups as it has rows), and the
 * row-by-row branch; the gates let exactly one of them run.
 */
function branches(
  count: number,
  sort: SortSpec[],
  candidates: number,
  select: (from: string, gate: string) => string,
): string[] {
  const inOrder = sort[0].key === 'generated' ? ` ORDER BY generated ${sort[0].direction.toUpperCase()}` : '';
  const indexed = Array.from({ length: count }, (_, i) =>
    select(
      `(SELECT generated, event_id FROM c${i}${inOrder}) c
        JOIN events e ON e.generated = c.generated AND e.id = c.event_id`,
      chosen(i, count, candidates),
    ),
  );
  const many = Array.from({ length: count }, (_, i) => `n${i} > ${candidates}`).join(' AND ');
  return [...indexed, select('events e', `(SELECT ${many} FROM n)`)].map((branch) => `(${branch})`);
}

/** A filter's matching (generated, event_id) from the traits index, one more than the cap at most. */
function candidateRows(
  { filter, compare }: CompiledFilter,
  i: number,
  bounds: string[],
  candidates: number,
  params: Params,
): string {
  const type = filter.trait.type;
  const rows = `t.type = ${DTYPE[type]} AND t.name = ${params.add(filter.key)} AND ${compare(TABLE_VALUE[type], 't.t_int::numeric')}`;
  return `c${i} AS MATERIALIZED (SELECT t.generated, t.event_id FROM traits t
    WHERE ${[rows, ...bounds].join(' AND ')} LIMIT ${candidates + 1})`;
}

function limitClause(page: Pagination, params: Params): string {
  if (page.limit === undefined) return '';
  if (!Number.isInteger(page.limit) || page.limit < 0)
    throw new RangeError(`limit ${page.limit} is not a count`);
  return ` LIMIT ${params.add(page.limit)}`;
}

/** The gate of branch `i`: its filter has the fewest candidates (the first such), and few enough. */
function chosen(i: number, count: number, candidates: number): string {
  const terms = [`n${i} <= ${candidates}`];
  for (let j = 0; j < count; j++) if (j !== i) terms.push(`n${i} ${j < i ? '<' : '<='} n${j}`);
  return `(SELECT ${terms.join(' AND ')} FROM n)`;
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
 * The filter checked against the traits JSON of the event row, which this store's writer
 * made with JSON.stringify: an element of trait (name, type) starts with exactly
 * `["name","type",` and that text occurs nowhere else (inside a JSON string every `"` is
 * escaped). So the value is found by position, with no JSON parsing, except for text
 * compared by order, which is decoded first.
 */
function inEventRow(filter: TraitFilter, compare: Comparison, params: Params): string {
  if (!isStorableText(filter.key)) return 'FALSE';
  const type = filter.trait.type;
  if (type === 'text') return textInEventRow(filter, compare, params);
  const head = params.add(elementHead(filter));
  const found = `strpos(e.traits::text, ${head})`;
  const value = `btrim(split_part(substr(e.traits::text, ${found} + length(${head})), ']', 1), '"')`;
  // CASE, so a value is only cast once the element is there.
  return `CASE WHEN ${found} > 0 THEN ${compare(`(${value})::${JSON_CAST[type]}`, `(${value})::numeric`)} ELSE FALSE END`;
}

const elementHead = (filter: TraitFilter) => `[${JSON.stringify(filter.key)},"${filter.trait.type}",`;

function textInEventRow(filter: TraitFilter, compare: Comparison, params: Params): string {
  const value = filter.trait.value as string;
  if ((filter.op === 'eq' || filter.op === 'ne') && isStorableText(value)) {
    const head = params.add(elementHead(filter));
    const element = `strpos(e.traits::text, ${head}::text || ${params.add(`${JSON.stringify(value)}]`)}) > 0`;
    return filter.op === 'eq' ? element : `(strpos(e.traits::text, ${head}) > 0 AND NOT ${element})`;
  }
  const holds = compare('(x->>2) COLLATE "C"', '');
  if (holds === 'FALSE') return 'FALSE';
  return `EXISTS (SELECT 1 FROM json_array_elements(e.traits) x
    WHERE CASE WHEN x->>0 = ${params.add(filter.key)} AND x->>1 = 'text' THEN ${holds} ELSE FALSE END)`;
}

/**
 * A comparison that binds its value only when first used: PostgreSQL refuses a statement
 * with a parameter it cannot type, which an unused one is (a text eq/ne read from the row).
 */
function lazily(make: () => Comparison): Comparison {
  let made: Comparison | undefined;
  return (typed, numeric) => (made ??= make())(typed, numeric);
}

/** SQL comparing a value expression (typed, or numeric for an int bigint cannot hold) with the filter's value. */
type Comparison = (typed: string, numeric: string) => string;

/** The comparison in the trait's own type, exact also for values no stored trait can have. */
function comparison(filter: TraitFilter, params: Params): Comparison {
  const { op, trait } = filter;
  if (!isStorableText(filter.key)) return () => 'FALSE';
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
