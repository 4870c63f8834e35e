import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { createSchemaRegistry } from '../kafka/registry-client';
import { WinchesterEvent } from '../events/event';
import { decodeEvent, encodeEvent, WireFormatError } from '../events/wire';
import type { CompletionRecord } from '../pipeline/stream-run';
import type { StreamRecord } from '../streams/model';
import type { TopologySettings } from '../config/topology-settings';
import { decodeStreamRecord, encodeStreamRecord } from './records';
import {
  fromAvroCompletion,
  fromAvroEvent,
  fromAvroStreamRecord,
  schemaFile,
  toAvroCompletion,
  toAvroEvent,
  toAvroStreamRecord,
} from './serialization-avro';
import {
  avroSchemaId,
  decodeAvro,
  isAvroRecord,
  registerSchema,
  requireRegistry,
} from './serialization-registry';

export { schemaFile, toAvroEvent } from './serialization-avro';
export { avroSchemaId, isAvroRecord, SchemaRegistryError } from './serialization-registry';

/*
 * How records travel on the topology's topics: JSON by default, Avro in Confluent's wire
 * format through a schema registry (SCHEMA_REGISTRY_URL, with the credentials and
 * certificates of the SCHEMA_REGISTRY_* variables: src/config/registry-settings.ts). A writer
 * writes one format; every reader reads both, telling them apart by the record's first byte
 * (0: Avro), so a topic may hold both while the processes of a namespace move from one to the
 * other.
 */

export type WireFormat = 'json' | 'avro';

export interface RecordDecoder<T> {
  /** JSON or Avro, whichever the record is; Avro needs a registry. A bad record throws. */
  decode(value: Buffer): Promise<T>;
}

export interface RecordSerializer<T> extends RecordDecoder<T> {
  /** What `encode` writes. */
  readonly format: WireFormat;
  encode(value: T): Promise<Buffer | string>;
}

export type EventSerializer = RecordSerializer<WinchesterEvent>;

/** The three kinds of records the roles write: events, stream records and completion records. */
export interface TopologySerializers {
  readonly format: WireFormat;
  events: EventSerializer;
  streams: RecordSerializer<StreamRecord>;
  completions: RecordSerializer<CompletionRecord>;
}

/** The same three kinds, for a process that only reads them. */
export interface TopologyDecoders {
  events: RecordDecoder<WinchesterEvent>;
  streams: RecordDecoder<StreamRecord>;
  completions: RecordDecoder<CompletionRecord>;
}

/** One kind of record: its schema, its JSON form, its Avro form. */
interface RecordKind<T> {
  what: string;
  schema: string;
  toJson(value: T): string;
  fromJson(value: Buffer): T;
  toAvro(value: T): unknown;
  fromAvro(raw: unknown): T;
  /** False for a value its schema cannot hold: written as JSON instead, which readers take too. */
  fitsAvro?(value: T): boolean;
}

/** JSON that is not even UTF-8 text fails like any other JSON that does not parse. */
function parseJson(what: string, value: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(value));
  } catch (error) {
    const why = error instanceof SyntaxError ? error.message : 'not UTF-8';
    throw new WireFormatError(`${what} is not JSON: ${why}`);
  }
}

const EVENTS: RecordKind<WinchesterEvent> = {
  what: 'event',
  schema: 'event.avsc',
  toJson: encodeEvent,
  fromJson: (value) => decodeEvent(value.toString('utf8')),
  toAvro: toAvroEvent,
  fromAvro: fromAvroEvent,
};

const STREAMS: RecordKind<StreamRecord> = {
  what: 'stream record',
  schema: 'stream-record.avsc',
  toJson: encodeStreamRecord,
  fromJson: decodeStreamRecord,
  toAvro: toAvroStreamRecord,
  fromAvro: fromAvroStreamRecord,
};

const COMPLETIONS: RecordKind<CompletionRecord> = {
  what: 'completion record',
  schema: 'completed-stream.avsc',
  // Its field order is its JSON text, which a tombstone also keeps.
  toJson: (completion) => JSON.stringify(completion),
  fromJson: (value) => parseJson('completion record', value) as CompletionRecord,
  toAvro: toAvroCompletion,
  fromAvro: fromAvroCompletion,
  // A worker announces again what a tombstone kept, which older workers wrote without these.
  fitsAvro: (completion) => {
    const { distinguished_by, first, last } = completion as Partial<CompletionRecord>;
    return distinguished_by !== undefined && first !== undefined && last !== undefined;
  },
};

/** Reads either format; Avro through `registry`, or a clear error when there is none. */
function mixedDecoder<T>(kind: RecordKind<T>, registry: SchemaRegistry | null): RecordDecoder<T>['decode'] {
  return async (value) => {
    if (!isAvroRecord(value)) return kind.fromJson(value);
    if (!registry) {
      throw new WireFormatError(
        `${kind.what} is Avro (schema id ${avroSchemaId(value)}) but no schema registry is set (SCHEMA_REGISTRY_URL)`,
      );
    }
    return kind.fromAvro(await decodeAvro(registry, value));
  };
}

function jsonSerializer<T>(kind: RecordKind<T>): RecordSerializer<T> {
  return { format: 'json', encode: async (value) => kind.toJson(value), decode: mixedDecoder(kind, null) };
}

/** Registers the kind's schema under `<topic>-value`; encodes with it, decodes either format. */
async function avroSerializer<T>(
  kind: RecordKind<T>,
  registry: SchemaRegistry,
  registryUrl: string,
  topic: string,
): Promise<RecordSerializer<T>> {
  const id = await registerSchema(registry, registryUrl, `${topic}-value`, schemaFile(kind.schema));
  return {
    format: 'avro',
    encode: async (value) =>
      kind.fitsAvro?.(value) === false ? kind.toJson(value) : registry.encode(id, kind.toAvro(value)),
    decode: mixedDecoder(kind, registry),
  };
}

export const jsonEventSerializer: EventSerializer = jsonSerializer(EVENTS);

export const jsonSerializers: TopologySerializers = {
  format: 'json',
  events: jsonEventSerializer,
  streams: jsonSerializer(STREAMS),
  completions: jsonSerializer(COMPLETIONS),
};

/** Events as Avro: schemas/event.avsc registered under `<topic>-value` (BACKWARD compatibility). */
export function avroEventSerializer(registryUrl: string, topic: string): Promise<EventSerializer> {
  return avroSerializer(EVENTS, createSchemaRegistry(registryUrl), registryUrl, topic);
}

export async function eventSerializer(
  registryUrl: string | undefined,
  topic: string,
): Promise<EventSerializer> {
  return registryUrl ? avroEventSerializer(registryUrl, topic) : jsonEventSerializer;
}

export type SerializedTopics = Pick<TopologySettings['topics'], 'events' | 'streams' | 'completed'>;

/**
 * What a role writes with: JSON without a registry; with one, Avro for all three kinds, their
 * schemas (schemas/event.avsc, stream-record.avsc, completed-stream.avsc) registered under
 * `<topic>-value` of `events`, `streams` and `streams.completed`. A subject whose versions the
 * schema is not compatible with stops the role here, at start, with one line.
 */
export async function topologySerializers(
  registryUrl: string | undefined,
  topics: SerializedTopics,
): Promise<TopologySerializers> {
  if (!registryUrl) return jsonSerializers;
  await requireRegistry(registryUrl);
  const registry = createSchemaRegistry(registryUrl);
  return {
    format: 'avro',
    events: await avroSerializer(EVENTS, registry, registryUrl, topics.events),
    streams: await avroSerializer(STREAMS, registry, registryUrl, topics.streams),
    completions: await avroSerializer(COMPLETIONS, registry, registryUrl, topics.completed),
  };
}

/** What a reader (the archiver, `trace`, `dev`'s summary) decodes with: either format, registering nothing. */
export function topologyDecoders(registryUrl: string | undefined): TopologyDecoders {
  const registry = registryUrl ? createSchemaRegistry(registryUrl) : null;
  return {
    events: { decode: mixedDecoder(EVENTS, registry) },
    streams: { decode: mixedDecoder(STREAMS, registry) },
    completions: { decode: mixedDecoder(COMPLETIONS, registry) },
  };
}

/** topologyDecoders once the registry has answered: a wrong SCHEMA_REGISTRY_URL stops a reader at start. */
export async function connectedDecoders(registryUrl: string | undefined): Promise<TopologyDecoders> {
  if (registryUrl) await requireRegistry(registryUrl);
  return topologyDecoders(registryUrl);
}

/**
 * Any Avro record (Confluent's wire format) decoded with its writer's schema, for tools that
 * show records as they are (`consume`, `dlq`); null without a registry.
 */
export function avroRecordReader(
  registryUrl: string | undefined,
): ((value: Buffer) => Promise<{ schemaId: number; value: unknown }>) | null {
  if (!registryUrl) return null;
  const registry = createSchemaRegistry(registryUrl);
  return async (value) => ({ schemaId: avroSchemaId(value), value: await decodeAvro(registry, value) });
}
