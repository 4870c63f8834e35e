import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { newTraits, Trait, TraitType, WinchesterEvent } from '../events/event';
import { decodeEvent, encodeEvent, WireFormatError } from '../events/wire';

/** How events travel on the `events` topic: JSON by default, Avro through a schema registry. */
export interface EventSerializer {
  readonly format: 'json' | 'avro';
  encode(event: WinchesterEvent): Promise<Buffer | string>;
  decode(value: Buffer): Promise<WinchesterEvent>;
}

export const jsonEventSerializer: EventSerializer = {
  format: 'json',
  encode: async (event) => encodeEvent(event),
  decode: async (value) => decodeEvent(value.toString('utf8')),
};

interface AvroTrait {
  name: string;
  type: TraitType;
  text: string | null;
  int: number | null;
  float: number | null;
  datetime: number | null;
}

interface AvroEvent {
  message_id: string;
  event_type: string;
  timestamp: number;
  hops: number;
  traits: AvroTrait[];
}

export function toAvro(event: WinchesterEvent): AvroEvent {
  const traits: AvroTrait[] = [];
  for (const name of Object.keys(event.traits)) {
    const trait = event.traits[name];
    const row: AvroTrait = { name, type: trait.type, text: null, int: null, float: null, datetime: null };
    switch (trait.type) {
      case 'text':
        row.text = trait.value;
        break;
      case 'int':
        row.int = trait.value;
        break;
      case 'float':
        row.float = trait.value;
        break;
      case 'datetime':
        row.datetime = trait.value;
        break;
      default:
        throw new WireFormatError(
          `event ${event.message_id}: trait ${name} has unknown type ${(trait as Trait).type}`,
        );
    }
    traits.push(row);
  }
  return {
    message_id: event.message_id,
    event_type: event.event_type,
    timestamp: event.timestamp,
    hops: event.hops ?? 0,
    traits,
  };
}

export function fromAvro(avro: AvroEvent): WinchesterEvent {
  const traits = newTraits();
  for (const row of avro.traits) {
    const value = row[row.type];
    if (value === null || value === undefined) {
      throw new WireFormatError(
        `event ${avro.message_id}: trait ${row.name} of type ${row.type} has no value`,
      );
    }
    traits[row.name] = { type: row.type, value } as Trait;
  }
  const event: WinchesterEvent = {
    message_id: avro.message_id,
    event_type: avro.event_type,
    timestamp: avro.timestamp,
    traits,
  };
  if (avro.hops) event.hops = avro.hops;
  return event;
}

/** schemas/event.avsc of this package, from src/ (tests) or dist/src/ (built). */
export function eventSchemaFile(): string {
  for (let dir = __dirname, i = 0; i < 5; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'schemas', 'event.avsc');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`schemas/event.avsc not found above ${__dirname}`);
}

/**
 * Avro in the Confluent wire format (magic byte, schema id, body). The schema is registered
 * once at start under `<topic>-value`; decoding fetches writer schemas by id, so events
 * written with an older version of the schema still decode.
 */
export async function avroEventSerializer(registryUrl: string, topic: string): Promise<EventSerializer> {
  const registry = new SchemaRegistry({ host: registryUrl });
  const schema = readFileSync(eventSchemaFile(), 'utf8');
  const { id } = await registry.register({ type: SchemaType.AVRO, schema }, { subject: `${topic}-value` });
  return {
    format: 'avro',
    encode: (event) => registry.encode(id, toAvro(event)),
    decode: async (value) => fromAvro((await registry.decode(value)) as AvroEvent),
  };
}

export async function eventSerializer(
  registryUrl: string | undefined,
  topic: string,
): Promise<EventSerializer> {
  return registryUrl ? avroEventSerializer(registryUrl, topic) : jsonEventSerializer;
}
