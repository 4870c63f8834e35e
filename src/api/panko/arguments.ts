import { ConversionFailure, isDict, pyInt, pyStr, pyTypeName } from '../../distiller/python';
import { clientFault, invalidInput, unknownArgument } from './errors';

/**
 * The arguments of a /v2 request as Panko's web framework (WSME) reads them from the query
 * string and from a JSON body, with its error messages. Validation of their meaning (operators,
 * fields, types, sort keys) is in event-query.ts.
 */

/**
 * A q item. An attribute that was not given is `undefined` (WSME's Unset); `null` is a JSON
 * null. Query strings give strings only; a JSON body may give an `op` of any type.
 */
export interface RawQuery {
  type?: string | null;
  field?: string | null;
  op?: unknown;
  value?: string | null;
}

/** The arguments of GET /v2/events, each present only when given. */
export interface EventArguments {
  q?: RawQuery[] | null;
  limit?: number | null;
  sort?: unknown[] | null;
  marker?: unknown;
}

export type ArgumentName = keyof EventArguments;
export const EVENT_ARGUMENTS: readonly ArgumentName[] = ['q', 'limit', 'sort', 'marker'];

/** WSME fills q items attribute by attribute, in this order. */
const Q_ATTRIBUTES = ['type', 'field', 'op', 'value'] as const;

export type QueryPairs = [name: string, value: string][];

/**
 * Python's `parse_qsl(query, keep_blank_values=True)`: `&`-separated, `+` is a space, a name
 * without `=` has the value '', invalid %-escapes stay as they are, bad UTF-8 becomes U+FFFD.
 */
export function parseQueryString(query: string): QueryPairs {
  const pairs: QueryPairs = [];
  for (const piece of query.split('&')) {
    if (!piece) continue;
    const at = piece.indexOf('=');
    const [name, value] = at < 0 ? [piece, ''] : [piece.slice(0, at), piece.slice(at + 1)];
    pairs.push([unquotePlus(name), unquotePlus(value)]);
  }
  return pairs;
}

function unquotePlus(text: string): string {
  const spaced = text.replace(/\+/g, ' ');
  if (!spaced.includes('%')) return spaced;
  return spaced.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) =>
    Buffer.from(run.replace(/%/g, ''), 'hex').toString('utf8'),
  );
}

const valuesOf = (pairs: QueryPairs, name: string) => pairs.filter(([n]) => n === name).map(([, v]) => v);

/**
 * Arguments of GET /v2/events from the query string. Errors come in Panko's order: a bare
 * `q`, then `limit`, then unknown names.
 */
export function eventArgumentsFromQuery(pairs: QueryPairs): EventArguments {
  const args: EventArguments = {};
  const bareQ = valuesOf(pairs, 'q');
  if (bareQ.length > 0) {
    // Deliberately a clear 400: Panko answers with a Python TypeError's text.
    throw invalidInput('q', shownList(bareQ), 'q is given as q.field, q.op, q.type and q.value');
  }
  const limits = valuesOf(pairs, 'limit');
  if (limits.length > 1) {
    throw invalidInput(
      'limit',
      shownList(limits),
      "unable to convert to int. Error: int() argument must be a string, a bytes-like object or a number, not 'list'",
    );
  }
  if (limits.length === 1) args.limit = convertInt('limit', limits[0], 'unable to convert to int. Error: ');
  const seen = new Set(['limit', 'sort', 'marker']);
  const sorts = valuesOf(pairs, 'sort');
  if (sorts.length > 0) args.sort = sorts;
  const markers = valuesOf(pairs, 'marker');
  if (markers.length > 0) args.marker = markers[markers.length - 1];
  const q = queryItems(pairs, seen);
  if (q) args.q = q;
  rejectUnknown(pairs, seen);
  return args;
}

/** For routes that take no arguments: any name is unknown. */
export function rejectUnknown(pairs: QueryPairs, known: Set<string> = new Set()): void {
  const unknown = new Set(pairs.map(([name]) => name).filter((name) => !known.has(name)));
  // Panko lists them in a Python set's order; sorted here, so the message is stable.
  if (unknown.size > 0) throw unknownArgument([...unknown].sort());
}

/** What a Python list of strings looks like in a message: `['2', '3']`, or the one string. */
const shownList = (values: string[]) => (values.length === 1 ? values[0] : pyStr(values));

/** Python's `int()` for `limit`; beyond ±2^53 is refused (the store counts in JS numbers). */
function convertInt(field: string, value: unknown, prefix = ''): number {
  try {
    return pyInt(value);
  } catch (error) {
    if (!(error instanceof ConversionFailure)) throw error;
    throw invalidInput(field, pyStr(value), `${prefix}${error.reason}`);
  }
}

/** `q.field=…&q.value=…` (lists by position) or `q[0].field=…` (by index). */
function queryItems(pairs: QueryPairs, seen: Set<string>): RawQuery[] | undefined {
  if (pairs.some(([name]) => /^q\.[^.]/.test(name))) return itemsByPosition(pairs, seen);
  return itemsByIndex(pairs, seen);
}

/**
 * The i-th `q.field` goes with the i-th `q.op`, `q.type` and `q.value`. A list may be shorter
 * than the ones before it (its items keep their defaults); when a list is longer than an earlier
 * one, WSME mixes items up and fails with a 500: answered 400 here, naming the lists.
 */
function itemsByPosition(pairs: QueryPairs, seen: Set<string>): RawQuery[] {
  const items: RawQuery[] = [];
  let first: { name: string; count: number } | undefined;
  for (const attribute of Q_ATTRIBUTES) {
    const name = `q.${attribute}`;
    seen.add(name);
    const values = valuesOf(pairs, name);
    if (values.length > items.length) {
      if (first) {
        throw clientFault(
          `${name} is given ${values.length} times but ${first.name} ${first.count}: ` +
            'give each of q.field, q.op, q.type and q.value once per filter (or leave it out of every filter)',
        );
      }
      items.push(...values.map(() => ({})));
    }
    if (values.length > 0) first ??= { name, count: values.length };
    values.forEach((value, i) => (items[i][attribute] = value));
  }
  return items;
}

/** `q[3].field`: items in index order; repeated, the last value counts. */
function itemsByIndex(pairs: QueryPairs, seen: Set<string>): RawQuery[] | undefined {
  const indexes = new Set<number>();
  for (const [name] of pairs) {
    const m = /^q\[(\d+)\]/.exec(name);
    if (m) indexes.add(Number(m[1]));
  }
  if (indexes.size === 0) return undefined;
  const items: RawQuery[] = [];
  for (const index of [...indexes].sort((a, b) => a - b)) {
    const item: RawQuery = {};
    for (const attribute of Q_ATTRIBUTES) {
      const name = `q[${index}].${attribute}`;
      const values = valuesOf(pairs, name);
      if (values.length === 0) continue;
      seen.add(name);
      item[attribute] = values[values.length - 1];
    }
    // An index with no attribute (`q[0]=x`, `q[00].field`) leaves a name unknown: a 400 follows.
    if (Object.keys(item).length > 0) items.push(item);
  }
  return items;
}

const JSON_TYPES = new Set(['application/json', 'text/javascript', 'application/javascript']);

/**
 * Arguments from a request body (Panko reads one on GET). An empty body is ignored whatever its
 * type; a missing Content-Type counts as text/plain, as Panko's WSGI server reports it.
 */
export function argumentsFromBody(
  body: Buffer,
  contentType: string | undefined,
  known: readonly ArgumentName[],
): EventArguments {
  if (body.length === 0) return {};
  const mediaType = (contentType ?? 'text/plain').split(';')[0].trim();
  if (mediaType === 'application/x-www-form-urlencoded') return {};
  if (mediaType === 'text/xml') {
    throw clientFault('XML request bodies are not supported: send application/json', 415);
  }
  if (!JSON_TYPES.has(mediaType)) throw clientFault(`Unknown mimetype: ${mediaType}`, 415);
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch {
    throw clientFault('Request is not in valid JSON format');
  }
  if (!isDict(data)) throw clientFault('Request must be a JSON dict');
  const args: EventArguments = {};
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (!known.includes(key as ArgumentName)) unknown.push(key);
    else setBodyArgument(args, key as ArgumentName, value);
  }
  if (unknown.length > 0) throw unknownArgument(unknown);
  return args;
}

function setBodyArgument(args: EventArguments, key: ArgumentName, value: unknown): void {
  if (key === 'marker') args.marker = value;
  else if (value === null) args[key] = null;
  else if (key === 'limit') args.limit = convertInt('limit', intArgument(value));
  else {
    if (!Array.isArray(value))
      throw invalidInput(key, pyStr(value), `Value not a valid list: ${pyStr(value)}`);
    if (key === 'sort') args.sort = value;
    else args.q = value.map(queryItemFromJson);
  }
}

/** int() refuses containers (Panko answers 500; a 400 here). */
function intArgument(value: unknown): unknown {
  if (typeof value !== 'object') return value;
  throw invalidInput(
    'limit',
    pyStr(value),
    `int() argument must be a string, a bytes-like object or a number, not '${pyTypeName(value)}'`,
  );
}

const Q_KEYS = new Set<string>(Q_ATTRIBUTES);

function queryItemFromJson(item: unknown): RawQuery {
  if (!isDict(item)) {
    // Panko fails with a 500 on these.
    throw invalidInput('q', pyStr(item), 'Each q item must be a JSON object with field, op, type and value');
  }
  const extra = Object.keys(item).filter((key) => !Q_KEYS.has(key));
  if (extra.length > 0) {
    const noun = extra.length > 1 ? 'attributes' : 'attribute';
    throw clientFault(`Unknown ${noun} for argument q: ${extra.sort().join(', ')}`);
  }
  const query: RawQuery = {};
  for (const attribute of Q_ATTRIBUTES) {
    if (!(attribute in item)) continue;
    const value = item[attribute];
    if (attribute !== 'op' && value !== null && typeof value !== 'string') {
      throw invalidInput(
        attribute,
        pyStr(value),
        `Wrong type. Expected '<class 'str'>', got '<class '${pyTypeName(value)}'>'`,
      );
    }
    query[attribute] = value as string | null;
  }
  if (!('value' in item)) throw invalidInput('value', 'None', 'Mandatory field missing.');
  return query;
}

/**
 * Query string and body together. The same argument in both is refused (WSME: "Parameter q was
 * given several times"); the body's names are checked in their order.
 */
export function combineArguments(fromQuery: EventArguments, fromBody: EventArguments): EventArguments {
  for (const name of Object.keys(fromBody)) {
    if (name in fromQuery) throw clientFault(`Parameter ${name} was given several times`);
  }
  return { ...fromQuery, ...fromBody };
}
