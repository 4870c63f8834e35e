import { ConversionFailure, pyFloat, pyInt } from '../distiller/python';
import { Trait } from '../events/event';
import { parseIso8601Python } from '../time/micros';
import { FILTER_OPS, FilterOp, PankoTraitType, SortSpec, TRAIT_TYPE_OF, TraitFilter } from './model';

/**
 * A query's parts checked and converted as Panko's /v2 API does (its `EventQuery` and
 * `_event_query_to_event_filter`), with Panko's words when they are wrong: the API and the
 * `winchester events list` command refuse the same things the same way.
 */
export class PankoQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PankoQueryError';
  }
}

const PANKO_TYPES: readonly PankoTraitType[] = ['integer', 'float', 'string', 'datetime'];
const SORT_KEYS = ['message_id', 'generated'] as const;
const SORT_DIRECTIONS = ['asc', 'desc'] as const;

/** Python's repr of a tuple or list of strings: `('lt', 'le')`, `['integer', 'float']`. */
const pyList = (items: readonly string[], open = '[', close = ']') =>
  `${open}${items.map((s) => `'${s}'`).join(', ')}${close}`;

/** An operator; empty means `eq`, as in Panko. */
export function pankoOperator(op: string): FilterOp {
  if (op === '') return 'eq';
  if ((FILTER_OPS as readonly string[]).includes(op)) return op as FilterOp;
  throw new PankoQueryError(
    `Operator ${op} is not supported. The supported operators are: ${pyList(FILTER_OPS, '(', ')')}`,
  );
}

/** A trait value of a Panko type: Python's int() and float(), ISO 8601 for datetimes. */
export function pankoTraitValue(type: string, value: string): Trait {
  if (!(PANKO_TYPES as readonly string[]).includes(type)) {
    throw new PankoQueryError(
      `The data type ${type} is not supported. The supported data type list is: ${pyList(PANKO_TYPES)}`,
    );
  }
  const unconvertible = () =>
    new PankoQueryError(`Unable to convert the value ${value} to the expected data type ${type}.`);
  try {
    switch (TRAIT_TYPE_OF[type as PankoTraitType]) {
      case 'int':
        return { type: 'int', value: pyInt(value) };
      case 'float':
        return { type: 'float', value: pyFloat(value) };
      case 'datetime': {
        const t = parseIso8601Python(value);
        if (typeof t === 'string') throw unconvertible();
        return { type: 'datetime', value: t };
      }
      case 'text':
        return { type: 'text', value };
    }
  } catch (error) {
    if (error instanceof ConversionFailure) throw unconvertible();
    throw error;
  }
}

/** A trait filter from a query item's parts; an empty type means `string`, an empty op `eq`. */
export function pankoTraitFilter(key: string, op: string, type: string, value: string): TraitFilter {
  const filterOp = pankoOperator(op);
  return { key, op: filterOp, trait: pankoTraitValue(type === '' ? 'string' : type, value) };
}

/** `key[:dir]` of Panko's `sort` parameter, split at the first colon; an empty direction is `asc`. */
export function pankoSort(text: string): SortSpec {
  const colon = text.indexOf(':');
  const key = colon < 0 ? text : text.slice(0, colon);
  const direction = colon < 0 ? '' : text.slice(colon + 1);
  const rule =
    "the sort parameter should be a pair of sort key and sort dir combined with ':', or only sort key " +
    "specified and sort dir will be default 'asc', the supported";
  if (!(SORT_KEYS as readonly string[]).includes(key)) {
    throw new PankoQueryError(
      `Invalid input for field/attribute sort. Value: '${text}'. ${rule} sort keys are: ${pyList(SORT_KEYS, '(', ')')}`,
    );
  }
  if (direction !== '' && !(SORT_DIRECTIONS as readonly string[]).includes(direction)) {
    throw new PankoQueryError(
      `Invalid input for field/attribute sort direction. Value: '${text}'. ${rule} sort directions are: ` +
        pyList(SORT_DIRECTIONS, '(', ')'),
    );
  }
  return { key: key as SortSpec['key'], direction: (direction || 'asc') as SortSpec['direction'] };
}

/** Panko's default page size (`[api] default_api_return_limit`). */
export const PANKO_DEFAULT_LIMIT = 100;

/** Panko's `limit`: an integer as Python's int() reads it; 0 means the default, a negative one is refused. */
export function pankoLimit(text: string): number {
  let limit: number;
  try {
    limit = pyInt(text);
  } catch (error) {
    if (!(error instanceof ConversionFailure)) throw error;
    throw new PankoQueryError(
      `Invalid input for field/attribute limit. Value: '${text}'. unable to convert to int. Error: ${error.reason}`,
    );
  }
  if (limit < 0) {
    throw new PankoQueryError(
      `Invalid input for field/attribute limit. Value: '${text}'. the limit should be a positive integer.`,
    );
  }
  return limit === 0 ? PANKO_DEFAULT_LIMIT : limit;
}
