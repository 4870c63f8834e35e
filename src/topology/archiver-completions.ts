import { TraitType } from '../events/event';
import { CompletedStream } from '../store/completed-streams';
import { DistinguishedValue, DistinguishedValues, StreamKind } from '../streams/model';
import { Micros } from '../time/micros';

/**
 * A worker's completion record (`streams.completed`, CompletionRecord in
 * src/pipeline/stream-run.ts) as the archiver keeps it: checked field by field, so a record
 * the store could never hold goes to the DLQ with the reason instead of failing every write.
 */

/** Why a completion record cannot be kept; the message is the DLQ reason. */
export class CompletionRecordError extends Error {}

const KINDS: readonly StreamKind[] = ['fired', 'expired'];
const OUTCOMES: ReadonlyArray<CompletedStream['outcome']> = ['completed', 'error', 'expire_error'];
const TRAIT_TYPES: readonly TraitType[] = ['text', 'int', 'float', 'datetime'];
/** `serial` is an integer column. */
const MAX_SERIAL = 2 ** 31 - 1;

/** Fields completion records gained after their first version: records from before lack them. */
const LATER_FIELDS = ['distinguished_by', 'first', 'last'];

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The completed stream a JSON completion record describes; `completedAt` is when it was published. */
export function completedStreamOf(
  value: Buffer | null,
  namespace: string,
  completedAt: Micros,
): CompletedStream {
  return completedStreamFrom(parseObject(value), namespace, completedAt);
}

/** The same from a completion record already decoded (from JSON or Avro). */
export function completedStreamFrom(
  doc: Record<string, unknown>,
  namespace: string,
  completedAt: Micros,
): CompletedStream {
  const record = new Fields(doc);
  const error = record.optionalText('error');
  return {
    namespace,
    stream_id: record.text('stream_id', true),
    trigger: record.text('trigger', true),
    kind: record.oneOf('kind', KINDS),
    pipeline: record.textOrNull('pipeline'),
    serial: record.integer('serial', 0, MAX_SERIAL),
    outcome: record.oneOf('outcome', OUTCOMES),
    message_ids: record.texts('message_ids'),
    new_event_ids: record.texts('new_event_ids'),
    ...(error === undefined ? {} : { error }),
    distinguished_by: record.distinguished('distinguished_by'),
    first: record.instant('first'),
    last: record.instant('last'),
    completed_at: checkedInstant('the Kafka record timestamp', completedAt),
  };
}

function parseObject(value: Buffer | null): Record<string, unknown> {
  if (!value || value.length === 0) throw new CompletionRecordError('completion record is empty');
  let doc: unknown;
  try {
    doc = JSON.parse(utf8.decode(value));
  } catch (error) {
    const why = error instanceof SyntaxError ? error.message : 'not UTF-8';
    throw new CompletionRecordError(`completion record is not JSON: ${why}`);
  }
  if (!isObject(doc)) throw new CompletionRecordError('completion record is not an object');
  return doc;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Text the store can hold: no NUL character, no lone surrogate. */
// eslint-disable-next-line no-control-regex
const storable = (text: string) => !/[\u0000\p{Surrogate}]/u.test(text);

/** A whole number of µs: safe integers span the years 1685 to 2255, all of which the store holds. */
function checkedInstant(name: string, t: unknown): Micros {
  if (!Number.isSafeInteger(t)) {
    throw new CompletionRecordError(`${name}: expected microseconds since the epoch, got ${shown(t)}`);
  }
  return t as Micros;
}

function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  return typeof v === 'number' ? String(v) : JSON.stringify(v).slice(0, 80);
}

/** The record's fields, each read with its check; a failed check names the field. */
class Fields {
  constructor(private readonly doc: Record<string, unknown>) {}

  private fail(name: string, expected: string, value: unknown): never {
    const missing =
      value === undefined && LATER_FIELDS.includes(name) ? ' (written by an older worker?)' : '';
    throw new CompletionRecordError(
      `completion record ${name}: expected ${expected}, got ${shown(value)}${missing}`,
    );
  }

  text(name: string, nonEmpty = false): string {
    const v = this.doc[name];
    if (typeof v !== 'string' || (nonEmpty && v === '')) this.fail(name, 'text', v);
    if (!storable(v)) this.fail(name, 'text without NUL characters or lone surrogates', v);
    return v;
  }

  optionalText(name: string): string | undefined {
    return this.doc[name] === undefined ? undefined : this.text(name);
  }

  textOrNull(name: string): string | null {
    return this.doc[name] === null ? null : this.text(name);
  }

  texts(name: string): string[] {
    const v = this.doc[name];
    if (!Array.isArray(v)) this.fail(name, 'a list of text', v);
    const bad = v.find((item) => typeof item !== 'string' || !storable(item));
    if (bad !== undefined) this.fail(`${name} item`, 'text without NUL characters or lone surrogates', bad);
    return v as string[];
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    const v = this.doc[name];
    if (!values.includes(v as T)) this.fail(name, values.join(' or '), v);
    return v as T;
  }

  integer(name: string, min: number, max: number): number {
    const v = this.doc[name];
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
      this.fail(name, `an integer from ${min} to ${max}`, v);
    }
    return v as number;
  }

  instant(name: string): Micros {
    const v = this.doc[name];
    if (v === undefined) this.fail(name, 'microseconds since the epoch', v);
    return checkedInstant(`completion record ${name}`, v);
  }

  distinguished(name: string): DistinguishedValues {
    const v = this.doc[name];
    if (!isObject(v)) this.fail(name, 'an object of distinguishing values', v);
    // No prototype: a trait named __proto__ is a value like any other.
    const values = Object.create(null) as DistinguishedValues;
    for (const [trait, value] of Object.entries(v)) {
      if (!storable(trait))
        this.fail(`${name} name`, 'text without NUL characters or lone surrogates', trait);
      values[trait] = distinguishedValue(`${name}.${trait}`, value);
    }
    return values;
  }
}

/** `{type, value}` (a trait's value) or `{begin, end}` (a timex range). */
function distinguishedValue(name: string, v: unknown): DistinguishedValue {
  const expected = '{"type", "value"} or {"begin", "end"}';
  if (!isObject(v))
    throw new CompletionRecordError(`completion record ${name}: expected ${expected}, got ${shown(v)}`);
  if ('begin' in v) {
    return {
      begin: checkedInstant(`completion record ${name}.begin`, v.begin),
      end: checkedInstant(`completion record ${name}.end`, v.end),
    };
  }
  const { type, value } = v;
  const typed = TRAIT_TYPES.includes(type as TraitType);
  const fits =
    typeof value === 'number' ? Number.isFinite(value) : typeof value === 'string' && storable(value);
  if (!typed || !fits)
    throw new CompletionRecordError(`completion record ${name}: expected ${expected}, got ${shown(v)}`);
  return { type: type as TraitType, value: value as string | number };
}
