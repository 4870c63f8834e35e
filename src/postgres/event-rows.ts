import { Trait, TraitType } from '../events/event';
import { compareText } from '../store/filter';
import { DTYPE, NamedTrait, StoredEvent } from '../store/model';
import { fromPgTimestamp, isStorableMicros, toPgTimestamp } from './timestamps';

/**
 * Events as rows: what is checked before a batch is sent, and the typed JSON an event row
 * keeps its traits in (`[[name, type, value], ...]`, sorted by name), so a page of events
 * reads without a join. Values in that JSON: text and int as JSON strings and numbers, a
 * datetime as `YYYY-MM-DD HH:MM:SS.ffffff`, a float as a number or, when JSON has no
 * number for it, as its text (`"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0"`).
 */

export type TraitJson = [string, TraitType, string | number];

/** An event ready for the batch insert. */
export interface EventRow {
  event: StoredEvent;
  traits: NamedTrait[];
  traitsJson: string;
  rawJson: string | null;
}

const BIGINT_LIMIT = 2 ** 63;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Why PostgreSQL's text cannot hold this string, if it cannot. */
function textProblem(what: string, text: unknown): string | undefined {
  if (typeof text !== 'string') return `${what} is not a string`;
  if (text.includes('\u0000')) return `${what} contains a NUL character, which PostgreSQL text cannot hold`;
  if (LONE_SURROGATE.test(text)) return `${what} is not valid Unicode (it has a lone surrogate)`;
  return undefined;
}

function valueProblem(what: string, trait: Trait): string | undefined {
  const value: unknown = trait.value;
  switch (trait.type) {
    case 'text':
      return textProblem(what, value);
    case 'int':
      if (
        typeof value === 'number' &&
        Number.isInteger(value) &&
        value >= -BIGINT_LIMIT &&
        value < BIGINT_LIMIT
      )
        return undefined;
      return `${what} = ${String(value)} is not an integer a bigint can hold`;
    case 'float':
      return typeof value === 'number' ? undefined : `${what} = ${String(value)} is not a number`;
    case 'datetime':
      return isStorableMicros(value)
        ? undefined
        : `${what} = ${String(value)} is not a whole microsecond between years 1 and 9999`;
    default:
      return `${what} has the unknown type ${JSON.stringify((trait as { type: unknown }).type)}`;
  }
}

function traitsProblem(traits: unknown): string | undefined {
  if (!Array.isArray(traits)) return 'traits is not a list';
  const seen = new Set<string>();
  for (const named of traits as NamedTrait[]) {
    const problem =
      textProblem('a trait name', named?.name) ??
      (typeof named.trait === 'object' && named.trait !== null
        ? valueProblem(`trait ${named.name}`, named.trait)
        : `trait ${named.name} has no typed value`);
    if (problem) return problem;
    const key = `${named.trait.type}\u0000${named.name}`;
    if (seen.has(key)) return `trait ${named.name} appears twice with type ${named.trait.type}`;
    seen.add(key);
  }
  return undefined;
}

function rawJsonOf(raw: unknown): string | null {
  if (raw === null || raw === undefined) return null;
  return JSON.stringify(raw) ?? null;
}

/** The row for an event, or why it cannot be stored (Panko's `unknown_problem`). */
export function eventRow(event: StoredEvent): EventRow | { problem: string } {
  const problem =
    textProblem('message_id', event.message_id) ??
    textProblem('event_type', event.event_type) ??
    (isStorableMicros(event.generated)
      ? undefined
      : `generated = ${String(event.generated)} is not a whole microsecond between years 1 and 9999`) ??
    traitsProblem(event.traits);
  if (problem) return { problem };
  let rawJson: string | null;
  try {
    rawJson = rawJsonOf(event.raw);
  } catch (error) {
    return { problem: `raw is not JSON: ${(error as Error).message}` };
  }
  const traits = [...event.traits].sort((a, b) => compareText(a.name, b.name));
  return { event, traits, traitsJson: JSON.stringify(traits.map(traitJson)), rawJson };
}

/** A float's text for PostgreSQL and for the JSON: String() would print -0 as 0. */
export function floatText(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

function traitJson({ name, trait }: NamedTrait): TraitJson {
  switch (trait.type) {
    case 'datetime':
      return [name, trait.type, toPgTimestamp(trait.value)];
    case 'float':
      return [
        name,
        trait.type,
        Number.isFinite(trait.value) && !Object.is(trait.value, -0) ? trait.value : floatText(trait.value),
      ];
    default:
      return [name, trait.type, trait.value];
  }
}

/** The event row's JSON back to traits. */
export function traitsFromJson(json: TraitJson[]): NamedTrait[] {
  return json.map(([name, type, value]) => ({ name, trait: traitFromJson(type, value) }));
}

function traitFromJson(type: TraitType, value: string | number): Trait {
  switch (type) {
    case 'datetime':
      return { type, value: fromPgTimestamp(value as string) };
    case 'float':
      return { type, value: Number(value) };
    case 'int':
      return { type, value: value as number };
    default:
      return { type: 'text', value: value as string };
  }
}

/**
 * The batch as parallel arrays for `unnest`: per event its columns and its shape (event
 * type and trait keys, for the catalogues: a batch has few shapes), per trait the 1-based
 * position of its event and its typed value, and the keys of each shape. Numbers go as
 * text so nothing is rounded on the way.
 */
export function batchColumns(rows: EventRow[]): string[] {
  const events = {
    messageId: [] as string[],
    eventType: [] as string[],
    generated: [] as string[],
    traits: [] as string[],
    raw: [] as (string | null)[],
    project: [] as (string | null)[],
    hasText: [] as boolean[],
    shape: [] as number[],
  };
  const traits = {
    ord: [] as number[],
    type: [] as number[],
    name: [] as string[],
    text: [] as (string | null)[],
    int: [] as (string | null)[],
    float: [] as (string | null)[],
    datetime: [] as (string | null)[],
  };
  const shapes = new Shapes();
  rows.forEach((row, index) => {
    events.messageId.push(row.event.message_id);
    events.eventType.push(row.event.event_type);
    events.generated.push(toPgTimestamp(row.event.generated));
    events.traits.push(row.traitsJson);
    events.raw.push(row.rawJson);
    const project = row.traits.find(({ name, trait }) => name === 'project_id' && trait.type === 'text');
    events.project.push(project ? (project.trait.value as string) : null);
    events.hasText.push(row.traits.some(({ trait }) => trait.type === 'text'));
    events.shape.push(shapes.of(row));
    for (const { name, trait } of row.traits) {
      traits.ord.push(index + 1);
      traits.type.push(DTYPE[trait.type]);
      traits.name.push(name);
      traits.text.push(trait.type === 'text' ? trait.value : null);
      traits.int.push(trait.type === 'int' ? String(trait.value) : null);
      traits.float.push(trait.type === 'float' ? floatText(trait.value) : null);
      traits.datetime.push(trait.type === 'datetime' ? toPgTimestamp(trait.value) : null);
    }
  });
  return [...Object.values(events), ...Object.values(traits), ...Object.values(shapes.keys)].map(
    arrayLiteral,
  );
}

const ESCAPED = /[\\"]/g;

/**
 * An array as PostgreSQL's array literal (`{"a","b\\"c",NULL}`): written here because the
 * driver's generic conversion costs more than the rest of preparing a batch.
 */
export function arrayLiteral(values: (string | number | boolean | null)[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null) parts[i] = 'NULL';
    else if (typeof value === 'string') parts[i] = `"${value.replace(ESCAPED, '\\$&')}"`;
    else parts[i] = String(value);
  }
  return `{${parts.join(',')}}`;
}

/** Numbers the distinct (event type, trait keys) of a batch and lists each one's keys. */
class Shapes {
  readonly keys = { shape: [] as number[], type: [] as number[], name: [] as string[] };
  private readonly numbers = new Map<string, number>();

  of(row: EventRow): number {
    const signature = JSON.stringify([row.event.event_type, row.traits.map((t) => [t.trait.type, t.name])]);
    let shape = this.numbers.get(signature);
    if (shape === undefined) {
      shape = this.numbers.size + 1;
      this.numbers.set(signature, shape);
      for (const { name, trait } of row.traits) {
        this.keys.shape.push(shape);
        this.keys.type.push(DTYPE[trait.type]);
        this.keys.name.push(name);
      }
    }
    return shape;
  }
}
