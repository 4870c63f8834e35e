import { PyNumber } from '../distiller/python';
import { parseJsonExact } from '../distiller/exact-json';
import { newTraits, Trait, WinchesterEvent } from '../events/event';
import { compareText } from './filter';
import { NamedTrait, StoredEvent } from './model';
import { parseIso8601Python } from '../time/micros';

/**
 * Events as the store keeps them, from the events the topology makes: from the `events`
 * topic (the archiver) and from canonical event JSON, the lines `winchester distill` prints
 * (`winchester events import`).
 */

/** The event as stored: generated at its timestamp, traits sorted by name as PostgreSQL's C collation sorts. */
export function storedEventOf(event: WinchesterEvent, raw: unknown = null): StoredEvent {
  const traits: NamedTrait[] = Object.keys(event.traits)
    .sort(compareText)
    .map((name) => ({ name, trait: event.traits[name] }));
  return {
    message_id: event.message_id,
    event_type: event.event_type,
    generated: event.timestamp,
    traits,
    raw,
  };
}

export class CanonicalEventError extends Error {
  constructor(
    message: string,
    /** The line's message_id, when it had one. */
    readonly messageId?: string,
  ) {
    super(message);
    this.name = 'CanonicalEventError';
  }
}

/** How toCanonicalJson writes a datetime; a text trait written so reads back as a datetime. */
const CANONICAL_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const ENVELOPE = new Set(['message_id', 'event_type', 'timestamp']);

/**
 * One line of canonical event JSON back into an event: the inverse of toCanonicalJson as far
 * as the format carries types. Integers are int traits and numbers with a point or an
 * exponent float traits (`5.0` stays a float); strings written exactly as canonical datetimes
 * are datetime traits, any other string a text trait (so a non-finite float, which the format
 * writes as "NaN" or "Infinity", comes back as text).
 */
export function parseCanonicalEvent(line: string): WinchesterEvent {
  const object = canonicalObject(line);
  const messageId = object.message_id;
  if (typeof messageId !== 'string' || messageId === '') throw new CanonicalEventError('no message_id');
  const fail = (message: string): never => {
    throw new CanonicalEventError(message, messageId);
  };
  if (typeof object.event_type !== 'string') fail('no event_type');
  if (typeof object.timestamp !== 'string') fail('no timestamp (an ISO 8601 string)');
  const timestamp = parseIso8601Python(object.timestamp as string);
  if (typeof timestamp === 'string') fail(`timestamp: ${timestamp}`);
  const traits = newTraits();
  for (const name of Object.keys(object)) {
    if (ENVELOPE.has(name)) continue;
    const trait = traitOf(object[name]);
    if (typeof trait === 'string') fail(`trait ${JSON.stringify(name)}: ${trait}`);
    traits[name] = trait as Trait;
  }
  return {
    message_id: messageId,
    event_type: object.event_type as string,
    timestamp: timestamp as number,
    traits,
  };
}

/** The line as a JSON object, read exactly: `5.0` stays distinct from `5`, big integers keep their digits. */
function canonicalObject(line: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    JSON.parse(line); // validates first: parseJsonExact expects valid JSON
    parsed = parseJsonExact(line);
  } catch (error) {
    throw new CanonicalEventError(`not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || parsed instanceof PyNumber) {
    throw new CanonicalEventError('not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** A trait from its JSON value, or why it cannot be one. */
function traitOf(value: unknown): Trait | string {
  if (typeof value === 'string') {
    if (!CANONICAL_DATETIME.test(value)) return { type: 'text', value };
    const t = parseIso8601Python(value);
    return typeof t === 'number' ? { type: 'datetime', value: t } : { type: 'text', value };
  }
  if (typeof value === 'number') {
    // parseJsonExact leaves integral floats as PyNumbers: a plain integral number is an int.
    return Number.isInteger(value) ? { type: 'int', value } : { type: 'float', value };
  }
  if (value instanceof PyNumber) {
    if (PyNumber.isFloat(value)) return { type: 'float', value: PyNumber.value(value) };
    return `int value ${PyNumber.text(value)} is out of the supported range (±2^53)`;
  }
  const kind = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
  return `${kind} is not a trait value (text, integer, float or datetime)`;
}
