import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { newTraits, Trait, TraitType, WinchesterEvent } from '../events/event';
import { WireFormatError } from '../events/wire';
import type { CompletionRecord, StreamOutcome } from '../pipeline/stream-run';
import type { DistinguishedValue, DistinguishedValues, StreamKind, StreamRecord } from '../streams/model';

/*
 * The Avro forms of the records on Kafka (schemas/*.avsc) and their mapping to Winchester's
 * own types. Decoding reads a record as its writer's schema made it: fields this version does
 * not know are ignored, and every value it needs is checked, so a record that does not fit
 * fails with the field named (the roles send it to their DLQ with that reason).
 */

/** A trait as a row: its type names the one field that holds its value. */
export interface AvroTrait {
  name: string;
  type: TraitType;
  text: string | null;
  int: number | null;
  float: number | null;
  datetime: number | null;
}

export interface AvroEvent {
  message_id: string;
  event_type: string;
  timestamp: number;
  hops: number;
  traits: AvroTrait[];
}

/** A distinguishing value: a trait's typed value, or a timex range (`type` null, `begin` and `end` set). */
export interface AvroDistinguishing extends Omit<AvroTrait, 'type'> {
  type: TraitType | null;
  begin: number | null;
  end: number | null;
}

export interface AvroStreamRecord extends Omit<
  StreamRecord,
  'events' | 'distinguished_by' | 'pipeline_version'
> {
  events: AvroEvent[];
  distinguished_by: AvroDistinguishing[];
  pipeline_version: number | null;
}

export interface AvroCompletion extends Omit<CompletionRecord, 'error' | 'distinguished_by'> {
  error: string | null;
  distinguished_by: AvroDistinguishing[];
}

const TRAIT_TYPES: readonly TraitType[] = ['text', 'int', 'float', 'datetime'];
const KINDS: readonly StreamKind[] = ['fired', 'expired'];
const OUTCOMES: readonly StreamOutcome[] = ['completed', 'error', 'expire_error'];
const NO_VALUE = { text: null, int: null, float: null, datetime: null } as const;

/** A file of schemas/ in this package, from src/ (tests) or dist/src/ (built). */
export function schemaFile(name: string): string {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'schemas', name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`schemas/${name} not found above ${__dirname}`);
}

export function toAvroEvent(event: WinchesterEvent): AvroEvent {
  const traits: AvroTrait[] = [];
  for (const name of Object.keys(event.traits)) {
    const trait = event.traits[name];
    if (!TRAIT_TYPES.includes(trait.type)) {
      throw new WireFormatError(
        `event ${event.message_id}: trait ${name} has unknown type ${(trait as Trait).type}`,
      );
    }
    traits.push({ name, type: trait.type, ...NO_VALUE, [trait.type]: trait.value });
  }
  return {
    message_id: event.message_id,
    event_type: event.event_type,
    timestamp: event.timestamp,
    hops: event.hops ?? 0,
    traits,
  };
}

/** Checks of the values a decoded Avro record must hold; a failure names the record and field. */
class Fields {
  private readonly doc: Record<string, unknown>;

  constructor(
    private readonly what: string,
    raw: unknown,
  ) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new WireFormatError(`${what} is not a record`);
    }
    this.doc = raw as Record<string, unknown>;
  }

  private fail(name: string, expected: string): never {
    throw new WireFormatError(`${this.what}: ${name} is not ${expected}`);
  }

  text(name: string): string {
    const v = this.doc[name];
    return typeof v === 'string' ? v : this.fail(name, 'text');
  }

  textOrNull(name: string): string | null {
    const v = this.doc[name];
    return v === null || v === undefined ? null : this.text(name);
  }

  integerOrNull(name: string): number | null {
    const v = this.doc[name];
    return v === null || v === undefined ? null : this.integer(name);
  }

  integer(name: string, fallback?: number): number {
    const v = this.doc[name] ?? fallback;
    return Number.isSafeInteger(v) ? (v as number) : this.fail(name, 'an integer');
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T {
    const v = this.doc[name];
    return values.includes(v as T) ? (v as T) : this.fail(name, values.join(' or '));
  }

  list(name: string): unknown[] {
    const v = this.doc[name] ?? [];
    return Array.isArray(v) ? v : this.fail(name, 'a list');
  }

  /** The value of a trait row: the field its type names, a string for text, else a number. */
  typedValue(name: string, type: TraitType): string | number {
    const v = this.doc[type];
    const fits = type === 'text' ? typeof v === 'string' : typeof v === 'number';
    if (!fits) throw new WireFormatError(`${this.what} ${name} of type ${type} has no value`);
    return v as string | number;
  }
}

export function fromAvroEvent(raw: unknown): WinchesterEvent {
  const avro = new Fields('event', raw);
  const messageId = avro.text('message_id');
  if (messageId === '') throw new WireFormatError('event has no message_id');
  const traits = newTraits();
  for (const rowValue of avro.list('traits')) {
    const row = new Fields(`event ${messageId}: trait`, rowValue);
    const name = row.text('name');
    const type = row.oneOf('type', TRAIT_TYPES);
    traits[name] = { type, value: row.typedValue(name, type) } as Trait;
  }
  const event: WinchesterEvent = {
    message_id: messageId,
    event_type: avro.text('event_type'),
    timestamp: avro.integer('timestamp'),
    traits,
  };
  const hops = avro.integer('hops', 0);
  if (hops > 0) event.hops = hops;
  return event;
}

export function toAvroDistinguished(values: DistinguishedValues): AvroDistinguishing[] {
  return Object.keys(values).map((name) => {
    const v = values[name];
    if ('begin' in v) return { name, type: null, ...NO_VALUE, begin: v.begin, end: v.end };
    return { name, type: v.type, ...NO_VALUE, [v.type]: v.value, begin: null, end: null };
  });
}

export function fromAvroDistinguished(what: string, rows: unknown[]): DistinguishedValues {
  // No prototype: a trait named __proto__ is a value like any other.
  const values = Object.create(null) as DistinguishedValues;
  for (const rowValue of rows) {
    const row = new Fields(`${what}: distinguishing value`, rowValue);
    const name = row.text('name');
    let value: DistinguishedValue;
    if (row.textOrNull('type') === null) {
      value = { begin: row.integer('begin'), end: row.integer('end') };
    } else {
      const type = row.oneOf('type', TRAIT_TYPES);
      value = { type, value: row.typedValue(name, type) };
    }
    values[name] = value;
  }
  return values;
}

export function toAvroStreamRecord(record: StreamRecord): AvroStreamRecord {
  return {
    ...record,
    events: record.events.map(toAvroEvent),
    distinguished_by: toAvroDistinguished(record.distinguished_by),
    trigger_version: record.trigger_version ?? 0,
    pipeline_version: record.pipeline_version ?? null,
  };
}

export function fromAvroStreamRecord(raw: unknown): StreamRecord {
  const avro = new Fields('stream record', raw);
  const streamId = avro.text('stream_id');
  const what = `stream record ${streamId}`;
  const pipelineVersion = avro.integerOrNull('pipeline_version');
  return {
    stream_id: streamId,
    partition: avro.integer('partition'),
    trigger: avro.text('trigger'),
    ...optionalVersion(avro.integer('trigger_version', 0)),
    kind: avro.oneOf('kind', KINDS),
    pipeline: avro.textOrNull('pipeline'),
    distinguished_by: fromAvroDistinguished(what, avro.list('distinguished_by')),
    first: avro.integer('first'),
    last: avro.integer('last'),
    expire: avro.integer('expire'),
    serial: avro.integer('serial'),
    events: avro.list('events').map(fromAvroEvent),
    ...(pipelineVersion === null ? {} : { pipeline_version: pipelineVersion }),
  };
}

/** trigger_version as the JSON form has it: absent for version 0. */
const optionalVersion = (version: number) => (version === 0 ? {} : { trigger_version: version });

export function toAvroCompletion(completion: CompletionRecord): AvroCompletion {
  return {
    ...completion,
    error: completion.error ?? null,
    distinguished_by: toAvroDistinguished(completion.distinguished_by),
  };
}

/** In the field order of the JSON form (its text is what a tombstone keeps); `error` only on failure. */
export function fromAvroCompletion(raw: unknown): CompletionRecord {
  const avro = new Fields('completion record', raw);
  const streamId = avro.text('stream_id');
  const error = avro.textOrNull('error');
  return {
    stream_id: streamId,
    trigger: avro.text('trigger'),
    kind: avro.oneOf('kind', KINDS),
    pipeline: avro.textOrNull('pipeline'),
    serial: avro.integer('serial'),
    outcome: avro.oneOf('outcome', OUTCOMES),
    message_ids: avro.list('message_ids') as string[],
    new_event_ids: avro.list('new_event_ids') as string[],
    ...(error === null ? {} : { error }),
    distinguished_by: fromAvroDistinguished(`completion record ${streamId}`, avro.list('distinguished_by')),
    first: avro.integer('first'),
    last: avro.integer('last'),
  };
}
