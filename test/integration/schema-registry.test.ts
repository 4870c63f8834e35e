/**
 * The schema registry of the local stack (Apicurio Registry, its Confluent API): what the
 * client does through it, and what the topology asks of it at start: each subject at BACKWARD
 * compatibility, a schema the subject refuses stopping the role before it reads a record, a
 * compatible change accepted with old readers still decoding. Schema ids only grow and error
 * texts differ between registries, so nothing here depends on either.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Kafka } from 'kafkajs';
import { COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry';
import { registerRoles } from '../../src/cli/roles';
import { ConfigurationError } from '../../src/config/errors';
import { defaultTopologySettings, TopologySettings } from '../../src/config/topology-settings';
import { newTraits, WinchesterEvent } from '../../src/events/event';
import { createSchemaRegistry } from '../../src/kafka/registry-client';
import { deleteNamespace, planNamespaceDeletion } from '../../src/ops/namespace';
import { schemaFile, toAvroEvent, topologySerializers } from '../../src/topology/serialization';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { repoRoot, schemaRegistryUrl } from '../support/stack';
import { topologyFixture } from '../support/topology-harness';

const url = schemaRegistryUrl();
const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

async function compatibilityOf(subject: string): Promise<string> {
  const response = await fetch(`${url}/config/${encodeURIComponent(subject)}`);
  return ((await response.json()) as { compatibilityLevel: string }).compatibilityLevel;
}

async function setCompatibility(subject: string, level: string): Promise<void> {
  const response = await fetch(`${url}/config/${encodeURIComponent(subject)}`, {
    method: 'PUT',
    headers: { 'Content-Type': CONTENT_TYPE },
    body: JSON.stringify({ compatibility: level }),
  });
  expect(response.status).toBe(200);
}

/** Registers without touching the subject's compatibility (the client library would set it). */
async function registerPlainly(subject: string, schema: unknown): Promise<void> {
  const response = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'Content-Type': CONTENT_TYPE },
    body: JSON.stringify({ schema: JSON.stringify(schema) }),
  });
  expect(response.status).toBe(200);
}

async function latestSchema(subject: string): Promise<unknown> {
  const response = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions/latest`);
  return JSON.parse(((await response.json()) as { schema: string }).schema);
}

type AvroSchemaDoc = { fields: Array<{ name: string; type: unknown; default?: unknown }> };
const fileSchema = (name: string) => JSON.parse(readFileSync(schemaFile(name), 'utf8')) as AvroSchemaDoc;

/** The status of a registry refusal: the same code on every registry, unlike its text. */
async function refusal(attempt: Promise<unknown>): Promise<number | undefined> {
  try {
    await attempt;
    return undefined;
  } catch (error) {
    return (error as { status?: number }).status;
  }
}

const event: WinchesterEvent = {
  message_id: 'm-1',
  event_type: 'compute.instance.exists',
  timestamp: 1_790_000_000_123_457,
  traits: Object.assign(newTraits(), {
    instance_id: { type: 'text', value: 'i-1' },
    memory_mb: { type: 'int', value: 512 },
    load: { type: 'float', value: 2 },
    launched_at: { type: 'datetime', value: 1_789_000_000_000_001 },
  }),
};

const subjects = (settings: TopologySettings) => [
  `${settings.topics.events}-value`,
  `${settings.topics.streams}-value`,
  `${settings.topics.completed}-value`,
];

describe('schema registry client on the real registry', () => {
  const registry = createSchemaRegistry(url);
  const schema = {
    type: 'record',
    name: 'Probe',
    namespace: `winchester.test.r${Date.now()}`,
    fields: [
      { name: 'message_id', type: 'string' },
      { name: 'generated', type: { type: 'long', logicalType: 'timestamp-micros' } },
    ],
  };

  test('registers, encodes and decodes; registering again answers the same id', async () => {
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) });
    const again = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) });
    expect(again.id).toBe(id);
    const value = { message_id: 'm-1', generated: 1700000000123456 };
    const encoded = await registry.encode(id, value);
    expect(encoded[0]).toBe(0); // Confluent wire format: magic byte, then the schema id.
    expect(encoded.readInt32BE(1)).toBe(id);
    // A fresh client has an empty cache, so decoding fetches the schema by id.
    const fresh = createSchemaRegistry(url);
    expect(await fresh.decode(encoded)).toEqual(value);
    const subject = `${schema.namespace}.${schema.name}`;
    expect(await fresh.getLatestSchemaId(subject)).toBe(id);
  });

  test('an unknown schema id is a 404', async () => {
    expect(await refusal(registry.decode(Buffer.from([0, 0x7f, 0xff, 0xff, 0xff, 1])))).toBe(404);
  });
});

describe('the topology on the real registry', () => {
  test("registers its three schemas at start, each subject at BACKWARD (an operator's FULL kept)", async () => {
    const settings = defaultTopologySettings({ namespace: testNamespace().prefix });
    const [events, streams, completed] = subjects(settings);
    // Unknown to the registry; known at the registry's default level (Apicurio's is NONE); FULL.
    await registerPlainly(streams, fileSchema('stream-record.avsc'));
    await setCompatibility(completed, 'FULL');
    const serializers = await topologySerializers(url, settings.topics);
    expect(serializers.format).toBe('avro');
    expect(await compatibilityOf(events)).toBe('BACKWARD');
    expect(await compatibilityOf(streams)).toBe('BACKWARD');
    expect(await compatibilityOf(completed)).toBe('FULL');
    expect(await latestSchema(events)).toEqual(fileSchema('event.avsc'));
    expect(await latestSchema(streams)).toEqual(fileSchema('stream-record.avsc'));
    expect(await latestSchema(completed)).toEqual(fileSchema('completed-stream.avsc'));
    // A restart registers the same schemas again: nothing changes.
    await topologySerializers(url, settings.topics);
    expect(await compatibilityOf(events)).toBe('BACKWARD');
  });

  test('roles starting together on new subjects all start (the registry refuses all but one rule creation)', async () => {
    const settings = defaultTopologySettings({ namespace: testNamespace().prefix });
    const starts = await Promise.allSettled(
      Array.from({ length: 6 }, () => topologySerializers(url, settings.topics)),
    );
    expect(starts.filter((s) => s.status === 'rejected')).toEqual([]);
    for (const subject of subjects(settings)) expect(await compatibilityOf(subject)).toBe('BACKWARD');
  });

  test('a compatible change (a new optional field) is accepted, and old readers still decode', async () => {
    const settings = defaultTopologySettings({ namespace: testNamespace().prefix });
    const [subject] = subjects(settings);
    const old = await topologySerializers(url, settings.topics);
    const newer = fileSchema('event.avsc');
    newer.fields.push({ name: 'region', type: ['null', 'string'], default: null });
    const registry = createSchemaRegistry(url);
    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(newer) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    const written = await registry.encode(id, { ...toAvroEvent(event), region: 'eu-1' });
    expect(written.readInt32BE(1)).toBe(id);
    expect(await old.events.decode(written)).toEqual(event);
    // Old processes restart beside the newer schema: theirs is still registered, and read.
    const restarted = await topologySerializers(url, settings.topics);
    const oldWritten = (await restarted.events.encode(event)) as Buffer;
    expect(oldWritten.readInt32BE(1)).not.toBe(id);
    expect(await old.events.decode(oldWritten)).toEqual(event);
  });

  test('an incompatible change is refused by the registry', async () => {
    const settings = defaultTopologySettings({ namespace: testNamespace().prefix });
    const [subject] = subjects(settings);
    await topologySerializers(url, settings.topics);
    const changed = fileSchema('event.avsc');
    changed.fields[2] = { name: 'timestamp', type: 'string' };
    const registry = createSchemaRegistry(url);
    const attempt = registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(changed) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    expect(await refusal(attempt)).toBe(409);
  });
});

describe('a role whose schema its subject refuses', () => {
  const ns = testNamespace();
  let kafka: Kafka;
  let settings: TopologySettings;
  const namespaceBefore = process.env.WINCHESTER_NAMESPACE;

  beforeAll(async () => {
    ({ kafka, settings } = await topologyFixture(ns));
    // What another deployment left on the subject: stream ids as numbers, BACKWARD checked.
    const [, subject] = subjects(settings);
    const other = fileSchema('stream-record.avsc');
    other.fields[0] = { name: 'stream_id', type: 'long' };
    await setCompatibility(subject, 'BACKWARD');
    await createSchemaRegistry(url).register(
      { type: SchemaType.AVRO, schema: JSON.stringify(other) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    );
    process.env.WINCHESTER_NAMESPACE = ns.prefix;
  });

  afterAll(async () => {
    if (namespaceBefore === undefined) delete process.env.WINCHESTER_NAMESPACE;
    else process.env.WINCHESTER_NAMESPACE = namespaceBefore;
    const redis = new Redis(ns.settings.redisUrl, { maxRetriesPerRequest: 3 });
    await deleteNamespace(kafka, redis, await planNamespaceDeletion(kafka, redis, settings));
    redis.disconnect();
  });

  test('serializers for it are a ConfigurationError naming the subject and the schema file', async () => {
    const attempt = topologySerializers(url, settings.topics);
    await expect(attempt).rejects.toThrow(ConfigurationError);
    await expect(topologySerializers(url, settings.topics)).rejects.toThrow(
      `subject ${settings.topics.streams}-value refuses schemas/stream-record.avsc: it is not BACKWARD-compatible`,
    );
  });

  test('`winchester worker` stops at start with one line and exit 2, before joining its group', async () => {
    const topology = join(repoRoot, 'topologies', 'openstack-usage');
    const run = await runInProcess(registerRoles, ['worker', '-t', topology, '--metrics-port', 'off']);
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^winchester: schema registry .* refuses schemas\/stream-record\.avsc: /);
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.listGroups();
    await admin.disconnect();
    expect(groups.map((g) => g.groupId)).not.toContain(`${ns.prefix}.worker`);
  });
});
