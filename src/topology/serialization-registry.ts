import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { ConfigurationError } from '../config/errors';
import { WireFormatError } from '../events/wire';
import {
  refusal,
  registryRequest,
  registryUrlOf,
  SchemaRegistryError,
  transportFailure,
} from '../kafka/registry-client';

export { SchemaRegistryError } from '../kafka/registry-client';

/*
 * What Winchester asks of a Confluent-compatible schema registry: a subject per kind of
 * record with a compatibility level that keeps records already written readable, its schema
 * registered there at start, and writer schemas fetched by id to decode.
 */

/** Levels under which a new schema must read what older ones wrote: records on Kafka stay readable. */
const KEEPS_OLD_RECORDS_READABLE: ReadonlySet<string> = new Set([
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
]);

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/** Confluent's wire format: magic byte 0, a 4-byte schema id, then the body. JSON never starts with a 0 byte. */
export function isAvroRecord(value: Buffer): boolean {
  return value.length >= 5 && value[0] === 0;
}

export function avroSchemaId(value: Buffer): number {
  return value.readUInt32BE(1);
}

/** One line, without the client's name: registry messages may carry stack traces. */
const oneLine = (text: string) =>
  text
    .replace(/^Confluent_Schema_Registry - /, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 500);

/** A request of ours, refused for its credentials (401, 403): one line naming what to fix. */
function refusedFor(registryUrl: string, status: number): SchemaRegistryError | undefined {
  const line = refusal(registryUrl, status);
  return line === undefined ? undefined : new SchemaRegistryError(line);
}

/** Fails unless the registry answers its global configuration, as every Confluent-compatible one does. */
export async function requireRegistry(registryUrl: string): Promise<void> {
  const answer = await registryRequest(registryUrl, '/config', { headers: { Accept: CONTENT_TYPE } });
  if (!answer.ok) {
    throw (
      refusedFor(registryUrl, answer.status) ??
      new SchemaRegistryError(
        `schema registry ${registryUrl}: GET /config answered HTTP ${answer.status}; is this the ` +
          `Confluent-compatible API (for Apicurio Registry: http://host:port/apis/ccompat/v7)?`,
      )
    );
  }
}

/**
 * Makes sure the subject's compatibility level keeps old records readable: a level of its own
 * that does is kept (FULL, say); otherwise (none, NONE, FORWARD…) it becomes BACKWARD.
 * Answers the level now in force.
 */
export async function ensureCompatibility(registryUrl: string, subject: string): Promise<COMPATIBILITY> {
  // Roles starting together race to create the subject's rule, and the registry answers the
  // losers 409: they read the level again and go on from what the winner set.
  for (let attempt = 1; ; attempt++) {
    const level = await currentCompatibility(registryUrl, subject);
    if (level !== undefined && KEEPS_OLD_RECORDS_READABLE.has(level)) return level as COMPATIBILITY;
    const set = await registryRequest(registryUrl, `/config/${encodeURIComponent(subject)}`, {
      method: 'PUT',
      headers: { 'Content-Type': CONTENT_TYPE, Accept: CONTENT_TYPE },
      body: JSON.stringify({ compatibility: COMPATIBILITY.BACKWARD }),
    });
    if (set.ok) return COMPATIBILITY.BACKWARD;
    if (set.status !== 409 || attempt === 3) {
      throw (
        refusedFor(registryUrl, set.status) ??
        new SchemaRegistryError(
          `schema registry ${registryUrl}: setting subject ${subject} to BACKWARD compatibility failed (HTTP ${set.status}: ${oneLine(set.text)})`,
        )
      );
    }
  }
}

/** The subject's own compatibility level, upper-case; undefined when it has none. */
async function currentCompatibility(registryUrl: string, subject: string): Promise<string | undefined> {
  const current = await registryRequest(registryUrl, `/config/${encodeURIComponent(subject)}`, {
    headers: { Accept: CONTENT_TYPE },
  });
  if (current.status === 404) return undefined;
  if (!current.ok) {
    throw (
      refusedFor(registryUrl, current.status) ??
      new SchemaRegistryError(
        `schema registry ${registryUrl}: reading the compatibility of subject ${subject} failed (HTTP ${current.status})`,
      )
    );
  }
  const { compatibilityLevel } = JSON.parse(current.text) as { compatibilityLevel?: string };
  return String(compatibilityLevel ?? '').toUpperCase() || undefined;
}

interface ResponseFailure {
  status?: number;
  message?: string;
}

/**
 * Registers `schemas/<file>` under the subject (compatibility first, so the registry checks
 * it against the versions there) and answers its id. A schema the subject refuses is a
 * ConfigurationError in one line: the process stops at start, not at its first record.
 */
export async function registerSchema(
  registry: SchemaRegistry,
  registryUrl: string,
  subject: string,
  file: string,
): Promise<number> {
  const compatibility = await ensureCompatibility(registryUrl, subject);
  try {
    const schema = readFileSync(file, 'utf8');
    const { id } = await registry.register({ type: SchemaType.AVRO, schema }, { subject, compatibility });
    return id;
  } catch (error) {
    const { status, message } = error as ResponseFailure;
    const said = oneLine(message ?? String(error));
    if (status === 409) {
      throw new ConfigurationError(
        `schema registry ${registryUrl}: subject ${subject} refuses schemas/${basename(file)}: it is not ` +
          `${compatibility}-compatible with the versions registered there (the registry says: ${said})`,
      );
    }
    if (status === 422) {
      throw new ConfigurationError(
        `schema registry ${registryUrl}: schemas/${basename(file)} is not a valid schema for ${subject} (${said})`,
      );
    }
    const refused = status === undefined ? undefined : refusedFor(registryUrl, status);
    if (refused) throw refused;
    const failed = transportFailure(registryUrl, said);
    if (failed) throw new SchemaRegistryError(failed, { cause: error });
    if (status !== undefined) {
      throw new SchemaRegistryError(
        `schema registry ${registryUrl}: registering schemas/${basename(file)} under ${subject} failed (HTTP ${status}: ${said})`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * A record in Confluent's wire format decoded with its writer's schema, fetched by id (once:
 * the client keeps it). A bad record is a WireFormatError naming the schema id; a registry
 * that cannot answer now (unreachable, refusing our credentials or TLS, 5xx) is a
 * SchemaRegistryError instead, so a caller can try the record again rather than give it up.
 */
export async function decodeAvro(registry: SchemaRegistry, value: Buffer): Promise<unknown> {
  const id = avroSchemaId(value);
  try {
    return (await registry.decode(value)) as unknown;
  } catch (error) {
    const { status, message } = error as ResponseFailure;
    const said = oneLine(message ?? String(error));
    if (status === 404) {
      throw new WireFormatError(`Avro record of schema id ${id}: the schema registry has no such schema`);
    }
    const notTheRecords = notTheRecordsFault(registry, status, said);
    if (notTheRecords !== undefined) {
      throw new SchemaRegistryError(`Avro record of schema id ${id}: ${notTheRecords}`, { cause: error });
    }
    throw new WireFormatError(`Avro record of schema id ${id}: ${said}`);
  }
}

/** Why the registry gave no schema for a reason of its own or ours, or undefined. */
function notTheRecordsFault(
  registry: SchemaRegistry,
  status: number | undefined,
  said: string,
): string | undefined {
  const url = registryUrlOf(registry);
  const refused = refusal(url, status);
  if (refused) return refused;
  const failed = transportFailure(url, said);
  if (failed) return failed;
  if (status !== undefined && status >= 500) return `the schema registry did not answer (${said})`;
  return undefined;
}
