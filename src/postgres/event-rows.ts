import { Trait, TraitType } from '../events/event';
import { compareTraits } from '../store/filter';
import { DTYPE, NamedTrait, StoredEvent } from '../store/model';
import { fromPgTimestamp, isStorableMicros, toPgTimestamp } from './timestamps';

/**
 * Events as rows: what is checked before a batch is sent, and the typed JSON object an
 * event row keeps its traits in (jsonb): one key per trait, its type's letter and its name
 * (`t:host`, `i:memory_mb`, `f:load`, `d:launched_at`), so a name may carry two types and a
 * filter reads a value in its own type with `traits->>'i:memory_mb'`. Values: text and int
 * as JSON strings and numbers, a datetime as `YYYY-MM-DD HH:MM:SS.ffffff`, a float as a
 * number or, when JSON has no number for it, as its text (`"NaN"`, `"Infinity"`,
 * `"-Infinity"`, `"-0"`), which PostgreSQL's float8 reads back.
 */

/** The key of a trait in the row's traits object. */
export const traitKey = (type: TraitType, name: string) => `${TYPE_LETTER[type]}:${name}`;

const TYPE_LETTER: Record<TraitType, string> = { text: 't', int: 'i', float: 'f', datetime: 'd' };
const TYPE_OF_LETTER: Record<string, TraitType> = { t: 'text', i: 'int', f: 'float', d: 'datetime' };

/** A row's traits: trait key (traitKey) to its value in JSON. */
export type TraitsObject = Record<string, string | number>;

/** An event ready for the batch insert. */
export interface EventRow {
  event: StoredEvent;
  traits: TraitsObject;
  raw: unknown;
  project: string | null;
  hasText: boolean;
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

/** The raw notification as it will be sent: JSON.stringify's own view of it, checked here once. */
function rawOf(raw: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  const text = JSON.stringify(raw);
  return text === undefined ? null : raw;
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
  let raw: unknown;
  try {
    raw = rawOf(event.raw);
  } catch (error) {
    return { problem: `raw is not JSON: ${(error as Error).message}` };
  }
  const traits: TraitsObject = {};
  for (const { name, trait } of event.traits) traits[traitKey(trait.type, name)] = jsonValue(trait);
  const project = event.traits.find(({ name, trait }) => name === 'project_id' && trait.type === 'text');
  return {
    event,
    traits,
    raw,
    project: project ? (project.trait.value as string) : null,
    hasText: event.traits.some(({ trait }) => trait.type === 'text'),
  };
}

/** A float's text for PostgreSQL and for the JSON: String() would print -0 as 0. */
export function floatText(value: number): string {
  return Object.is(value, -0) ? '-0' : String(value);
}

/** A trait's value in the row's JSON. */
export function jsonValue(trait: Trait): string | number {
  switch (trait.type) {
    case 'datetime':
      return toPgTimestamp(trait.value);
    case 'float':
      return Number.isFinite(trait.value) && !Object.is(trait.value, -0)
        ? trait.value
        : floatText(trait.value);
    default:
      return trait.value;
  }
}

/** The row's traits object back to traits, by name and then type (Panko's order within an event). */
export function traitsFromObject(traits: TraitsObject): NamedTrait[] {
  return Object.entries(traits)
    .map(([key, value]) => {
      const type = TYPE_OF_LETTER[key[0]];
      return { name: key.slice(2), trait: traitFromJson(type, value) };
    })
    .sort(compareTraits);
}

/** A value of the row's JSON (or of a listing) in its type. */
export function traitFromJson(type: TraitType, value: string | number): Trait {
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
 * The batch as two JSON documents, which PostgreSQL reads with json_to_recordset: the
 * events (short keys: a batch carries thousands of them), and per shape (event type and
 * trait keys, for the catalogues: a batch has few shapes) its trait types and names.
 * JSON.stringify does all the escaping, natively.
 */
export function batchDocuments(rows: EventRow[]): [string, string] {
  const shapes = new Shapes();
  const events = rows.map((row) => ({
    m: row.event.message_id,
    e: row.event.event_type,
    g: toPgTimestamp(row.event.generated),
    t: row.traits,
    r: row.raw,
    p: row.project,
    h: row.hasText,
    s: shapes.of(row),
  }));
  return [JSON.stringify(events), JSON.stringify(shapes.keys)];
}

/** Numbers the distinct (event type, trait keys) of a batch and lists each one's keys. */
class Shapes {
  readonly keys: { shape: number; type: number; name: string }[] = [];
  private readonly numbers = new Map<string, number>();

  of(row: EventRow): number {
    const names = Object.keys(row.traits);
    const signature = `${row.event.event_type}\u0000${names.join('\u0000')}`;
    let shape = this.numbers.get(signature);
    if (shape === undefined) {
      shape = this.numbers.size + 1;
      this.numbers.set(signature, shape);
      for (const key of names)
        this.keys.push({ shape, type: DTYPE[TYPE_OF_LETTER[key[0]]], name: key.slice(2) });
    }
    return shape;
  }
}
