import { Trait } from '../../events/event';
import { isDict, pyReprString, pyStr, pyTypeName } from '../../distiller/python';
import { EventFilter, FilterOp, Pagination, SortSpec, TraitFilter } from '../../store/model';
import { pankoOperator, pankoSort, pankoTraitValue } from '../../store/panko-query';
import { Micros, parseIso8601Python } from '../../time/micros';
import { EventArguments, RawQuery } from './arguments';
import { clientFault, invalidInput } from './errors';
import { Scope } from './identity';
import { literalEval } from './python-literal';

/**
 * Panko's reading of GET /v2/events arguments (`_event_query_to_event_filter` and
 * `set_pagination_options`): q items in order, then limit, sort and marker. What a query string
 * can say is checked by store/panko-query.ts (shared with `winchester events`); this adds what
 * WSME and JSON bodies bring: missing values, nulls, non-string operators, empty types.
 */

/** Python's truth value of a JSON value (`not x`). */
export function pyFalsy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return isDict(value) && Object.keys(value).length === 0;
}

const MODEL_FIELDS = ['event_type', 'message_id', 'start_timestamp', 'end_timestamp'] as const;
type ModelField = (typeof MODEL_FIELDS)[number];
/** The one operator each model field takes. */
const MODEL_OPERATOR: Record<ModelField, FilterOp> = {
  event_type: 'eq',
  message_id: 'eq',
  start_timestamp: 'ge',
  end_timestamp: 'le',
};

const SUPPORTED_TYPES = ['integer', 'float', 'string', 'datetime'];

export function toEventFilter(items: RawQuery[], scope: Scope): EventFilter {
  const model: Partial<Record<ModelField, string | null>> = {};
  const traits: TraitFilter[] =
    scope.kind === 'member'
      ? [textFilter('project_id', scope.project), textFilter('user_id', scope.user)]
      : [];
  let adminProject = scope.kind === 'admin' ? scope.project : undefined;
  for (const item of items) {
    const op = operatorOf(item.op);
    const field = item.field;
    if (isModelField(field)) {
      if (op !== MODEL_OPERATOR[field]) {
        throw clientFault(
          `Operator ${op} is not supported. Only \`${MODEL_OPERATOR[field]}' operator is available for field ${field}`,
        );
      }
      // The last one wins; an empty value means no filter.
      model[field] = item.value;
    } else if (field === 'all_tenants' && (scope.kind === 'all' || adminProject)) {
      // A token caller sees every project already: all_tenants changes nothing for it.
      if (boolFromString(item.value)) adminProject = undefined;
    } else {
      traits.push(traitFilter(item, op));
    }
  }
  return {
    ...(model.event_type ? { eventType: model.event_type } : {}),
    ...(model.message_id ? { messageId: model.message_id } : {}),
    ...(model.start_timestamp ? { startTimestamp: timestampOf(model.start_timestamp) } : {}),
    ...(model.end_timestamp ? { endTimestamp: timestampOf(model.end_timestamp) } : {}),
    traits,
    ...(adminProject ? { adminProject } : {}),
  };
}

const textFilter = (key: string, value: string): TraitFilter => ({
  key,
  op: 'eq',
  trait: { type: 'text', value },
});

const isModelField = (field: unknown): field is ModelField => MODEL_FIELDS.includes(field as ModelField);

/** Panko's `not op`: any false value (a JSON 0 or false too) means `eq`. */
const operatorOf = (op: unknown): FilterOp =>
  pyFalsy(op) ? 'eq' : pankoOperator(typeof op === 'string' ? op : pyStr(op));

/** What Python's `str()` shows for a value that was not given (WSME's Unset) or JSON null. */
const shownValue = (value: string | null | undefined) =>
  value === undefined ? 'Unset' : value === null ? 'None' : value;

/** Python's `str.strip()` whitespace. */
// eslint-disable-next-line no-control-regex -- \x1c-\x1f are whitespace to Python
const PY_STRIP = /^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/g;

/** oslo's `bool_from_string`, not strict: `1`, `t`, `true`, `on`, `y`, `yes` in any case. */
function boolFromString(value: string | null | undefined): boolean {
  const text = shownValue(value).replace(PY_STRIP, '').toLowerCase();
  return ['1', 't', 'true', 'on', 'y', 'yes'].includes(text);
}

/**
 * Unparsable start/end timestamps: Panko answers 500 with the parser's message; a 400 here.
 * The rules are those of Panko's parser (iso8601): `2020-01-03`, `…T00:00:00Z`, `…+01:00`.
 */
function timestampOf(text: string): Micros {
  const parsed = parseIso8601Python(text);
  if (typeof parsed === 'number') return parsed;
  const unparsable = `Unable to parse date string ${pyReprString(text)}`;
  throw clientFault(parsed.startsWith('Unable to parse') ? unparsable : `${unparsable}: ${parsed}`);
}

/**
 * A trait filter: its `type` picks which traits it sees (an int trait is not found by a string
 * filter) and how the value is read; no type means string.
 */
function traitFilter(item: RawQuery, op: FilterOp): TraitFilter {
  const trait = convertValue(item.value, item.type === undefined ? 'string' : item.type);
  if (item.field === undefined || item.field === null) {
    // Panko fails with a 500 (or, for a JSON null, matches nothing).
    throw invalidInput('field', 'None', 'Mandatory field missing.');
  }
  return { key: item.field, op, trait };
}

const unableToConvert = (shown: string, type: string) =>
  clientFault(`Unable to convert the value ${shown} to the expected data type ${type}.`);

const unsupportedType = (type: string) =>
  clientFault(
    `The data type ${type} is not supported. The supported data type list is: ` +
      `[${SUPPORTED_TYPES.map((t) => `'${t}'`).join(', ')}]`,
  );

/** Panko's `_get_value_as_type`: Python's int(), float(), its ISO 8601 parser, or the text. */
function convertValue(value: string | null | undefined, type: string | null): Trait {
  const shown = shownValue(value);
  if (!type) return literalText(value, shown);
  if (!SUPPORTED_TYPES.includes(type)) throw unsupportedType(type);
  if (value !== undefined && value !== null) return pankoTraitValue(type, value);
  // str() of Unset/None is text; int() and float() of them raise TypeError, which Panko reports as a bad type.
  if (type === 'string') return { type: 'text', value: shown };
  throw type === 'datetime' ? unableToConvert(shown, type) : unsupportedType(type);
}

/**
 * An empty type: Panko searches string traits with `ast.literal_eval(value)`, or the text itself
 * when it is no literal. A literal that is not a string fails in PostgreSQL (a 500 from Panko);
 * a 400 here.
 */
function literalText(value: string | null | undefined, shown: string): Trait {
  if (value === undefined) throw clientFault('A q item with an empty type needs a value.');
  const literal = value === null ? { kind: 'other' as const, type: 'NoneType' } : literalEval(value);
  if (literal === undefined) return { type: 'text', value: value! };
  if (literal.kind === 'str') return { type: 'text', value: literal.value };
  throw clientFault(
    `Unable to compare the value ${shown} with string traits: with an empty type the value is read ` +
      `as a Python literal, here of type ${literal.type}.`,
  );
}

/** `limit` (0 or none: the default; negative: refused), `sort` and `marker`. */
export function toPagination(args: EventArguments, defaultLimit: number): Pagination & { limit: number } {
  const given = args.limit ?? 0;
  if (given < 0) throw invalidInput('limit', String(given), 'the limit should be a positive integer.');
  const sort = (args.sort ?? []).map(sortSpec);
  // Panko looks a marker up as text; a JSON number is shown as Python would.
  const marker = pyFalsy(args.marker) ? undefined : pyStr(args.marker);
  return {
    limit: given || defaultLimit,
    ...(sort.length > 0 ? { sort } : {}),
    ...(marker !== undefined ? { marker } : {}),
  };
}

function sortSpec(entry: unknown): SortSpec {
  if (typeof entry === 'string') return pankoSort(entry);
  // Panko fails with a 500 on a sort entry that is no string.
  throw invalidInput(
    'sort',
    pyStr(entry),
    `Wrong type. Expected '<class 'str'>', got '<class '${pyTypeName(entry)}'>'`,
  );
}
