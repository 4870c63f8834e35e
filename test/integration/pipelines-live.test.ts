/**
 * Pipelines by topology version on real Kafka and Redis: a worker with two versions runs each
 * stream record under the version it names, a record delivered again after a new version is
 * current runs the version it was fired with, and a retry rebuilt from Redis keeps it too.
 *
 * A matcher fires the streams (their state and events in Redis) to a topic of its own; the
 * test then produces each record to `streams` as a matcher at a given version would have,
 * only `pipeline_version` set, so every record reaches the worker when the test means it to.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSchemaRegistry } from '../../src/kafka/registry-client';
import Redis from 'ioredis';
import { Kafka } from 'kafkajs';
import { encodeEvent } from '../../src/events/wire';
import { createKafka } from '../../src/kafka/client';
import { PipelineCatalog, PipelineSet } from '../../src/pipeline/catalog';
import { HandlerDefinition } from '../../src/pipeline/handler';
import { RetryPolicy } from '../../src/pipeline/retry';
import { PartitionKeys } from '../../src/redis/keys';
import { claimStream } from '../../src/redis/lifecycle';
import { StreamRecord } from '../../src/streams/model';
import { END_OF_TIME } from '../../src/streams/simulate';
import { TopologySettings } from '../../src/config/topology-settings';
import { startMatcher } from '../../src/topology/matcher-role';
import { encodeStreamRecord } from '../../src/topology/records';
import { schemaFile, topologySerializers } from '../../src/topology/serialization';
import { toAvroStreamRecord } from '../../src/topology/serialization-avro';
import { registerSchema } from '../../src/topology/serialization-registry';
import { startWorker, WorkerRole } from '../../src/topology/worker-role';
import { testNamespace } from '../support/namespace';
import { simpleTrigger, testEvent } from '../support/simple-trigger';
import { advanceClock, collectStreams, produce, topologyFixture, waitFor } from '../support/topology-harness';

const ns = testNamespace();
const RETRY_ONCE: RetryPolicy = { attempts: 2, backoffSeconds: 0.2, maxBackoffSeconds: 1 };
const INSTANCES = ['a', 'b', 'c', 'd', 'e'];

/** `label instance` for each run; the first run of each instance in `failFirst` throws. */
function recording(label: string, runs: string[], failFirst: Set<string>): HandlerDefinition {
  return {
    create: () => ({
      handleEvents: (events) => {
        const instance = String(events[0].traits.instance_id.value);
        runs.push(`${label} ${instance}`);
        if (failFirst.delete(instance)) throw new Error(`${label} failed on ${instance}`);
        return events;
      },
      commit: () => undefined,
      rollback: () => undefined,
    }),
  };
}

/** `fire_pipe` of one version: one step, its handler named after the version. */
function version(label: string, runs: string[], failFirst = new Set<string>()): PipelineSet {
  return {
    pipelines: new Map([['fire_pipe', [{ name: label, params: {} }]]]),
    handlers: new Map([[label, recording(label, runs, failFirst)]]),
    retries: new Map([['fire_pipe', RETRY_ONCE]]),
  };
}

/** Streams of `audited`, one per instance, fired by a matcher to `staged` (not `streams`). */
async function fireStreams(kafka: Kafka, settings: TopologySettings, stops: Array<() => Promise<void>>) {
  const staged = `${settings.topics.streams}.staged`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: staged, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const matcherSettings = { ...settings, topics: { ...settings.topics, streams: staged } };
  const matcherKafka = createKafka(ns.settings, `${ns.prefix}-m`);
  const matcher = await startMatcher(matcherKafka, ns.settings.redisUrl, matcherSettings, [
    simpleTrigger({ name: 'audited' }),
  ]);
  stops.push(matcher.stop);
  const events = INSTANCES.map((i) => testEvent('compute.instance.exists', i, 1000, `${i}-exists`));
  const messages = events.map((e) => ({ key: String(e.traits.instance_id.value), value: encodeEvent(e) }));
  await produce(kafka, settings.topics.events, messages);
  await advanceClock(kafka, settings, END_OF_TIME);
  const fired = await collectStreams(kafka, staged, (r) => r.length >= INSTANCES.length);
  expect(fired.map((r) => r.kind)).toEqual(INSTANCES.map(() => 'fired'));
  return new Map(fired.map((r) => [String(r.events[0].traits.instance_id.value), r]));
}

/** The record as a matcher at `pipelineVersion` would produce it (undefined: a matcher from before versions). */
function stamped(record: StreamRecord, pipelineVersion?: number): StreamRecord {
  const { pipeline_version: _dropped, ...rest } = record;
  return pipelineVersion === undefined ? rest : { ...rest, pipeline_version: pipelineVersion };
}

describe('pipelines by topology version on real Kafka and Redis', () => {
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  test('records of two versions, a redelivery after a change, and a retry each run their own version', async () => {
    const { kafka, settings } = await topologyFixture(ns, {
      clock: 'event',
      partitions: { events: 1, repartition: 1, streams: 1 },
    });
    const fired = await fireStreams(kafka, settings, stops);
    const record = (instance: string) => fired.get(instance)!;

    const runs: string[] = [];
    const v1 = version('v1', runs, new Set(['e']));
    const v2 = version('v2', runs);
    const catalog: PipelineCatalog & { current: { version: number } } = {
      current: { version: 1 },
      topologyOf: (v) => ({ 1: v1, 2: v2 })[v],
    };
    const workerKafka = createKafka(ns.settings, `${ns.prefix}-w`);
    const worker: WorkerRole = await startWorker(workerKafka, ns.settings.redisUrl, settings, {
      ...v1,
      catalog,
      purgeCompletedStreams: true,
      handlerTimeoutMs: 5000,
      claimTtlMs: 10000,
      maxHops: 1,
    });
    stops.push(worker.stop);
    const completed = () => worker.counters.streamsCompleted.get('audited') ?? 0;
    const send = (...records: StreamRecord[]) =>
      produce(
        kafka,
        settings.topics.streams,
        records.map((r) => ({ key: r.stream_id, value: encodeStreamRecord(r) })),
      );

    // Version 1 is current: a stream fired under it runs version 1.
    await send(stamped(record('a'), 1));
    await waitFor(() => completed() >= 1);
    expect(runs).toEqual(['v1 a']);

    // `d` was fired under version 1 and taken by a worker that died running it: its claim lapses.
    const redis = new Redis(ns.settings.redisUrl);
    try {
      const d = record('d');
      const keys = new PartitionKeys(settings.namespace, d.partition);
      const claim = { streamId: d.stream_id, serial: d.serial, holder: 'died', ttlMs: 2000 };
      expect(await claimStream(redis, keys, claim)).toBe('claimed');
    } finally {
      redis.disconnect();
    }

    // Version 2 is applied. Then: one record of each version, one from a matcher before
    // versions, `d` delivered again, and `e` of version 1, whose first run fails.
    catalog.current = { version: 2 };
    await send(
      stamped(record('b'), 2),
      stamped(record('c')),
      stamped(record('d'), 1),
      stamped(record('e'), 1),
    );
    await waitFor(() => completed() >= 5, 60000);

    expect(runs.filter((r) => !r.endsWith(' e'))).toEqual(['v1 a', 'v2 b', 'v2 c', 'v1 d']);
    // `e` failed under version 1; its retry, rebuilt from Redis, ran version 1 again.
    expect(runs.filter((r) => r.endsWith(' e'))).toEqual(['v1 e', 'v1 e']);
    expect(worker.counters).toMatchObject({ retriesScheduled: 1, retriesEmitted: 1 });
    const retried = await collectStreams(kafka, settings.topics.streams, (r) => r.length >= 6);
    const retry = retried.filter((r) => r.stream_id === record('e').stream_id).at(-1)!;
    expect(retry).toMatchObject({ serial: record('e').serial + 1, pipeline_version: 1 });
    expect(worker.counters.streamsErrored.size).toBe(0);
  });
});

describe('pipeline_version in Avro, through the schema registry', () => {
  const avro = testNamespace();
  const registryUrl = process.env.SCHEMA_REGISTRY_URL;

  /** stream-record.avsc as it was before `pipeline_version`, in a file of its own. */
  function schemaWithoutVersion(): string {
    const schema = JSON.parse(readFileSync(schemaFile('stream-record.avsc'), 'utf8')) as {
      fields: Array<{ name: string }>;
    };
    schema.fields = schema.fields.filter((f) => f.name !== 'pipeline_version');
    const file = join(mkdtempSync(join(tmpdir(), 'winchester-avsc-')), 'stream-record.avsc');
    writeFileSync(file, JSON.stringify(schema));
    return file;
  }

  (registryUrl ? test : test.skip)(
    'the schema with pipeline_version is BACKWARD-compatible; older records decode without it',
    async () => {
      const { settings } = await topologyFixture(avro);
      const registry = createSchemaRegistry(registryUrl!);
      const subject = `${settings.topics.streams}-value`;
      const before = await registerSchema(registry, registryUrl!, subject, schemaWithoutVersion());
      const record = stamped(
        {
          stream_id: '0.s1',
          partition: 0,
          trigger: 'audited',
          kind: 'fired',
          pipeline: 'fire_pipe',
          distinguished_by: {},
          first: 1_000_000_000_001,
          last: 1_000_000_000_002,
          expire: 1_000_000_000_003,
          serial: 2,
          events: [testEvent('compute.instance.exists', 'a', 1000, 'a-exists')],
        },
        undefined,
      );
      const { pipeline_version: _none, ...older } = toAvroStreamRecord(record);
      const written = await registry.encode(before, older);

      // A role registers the schema with pipeline_version at start: the subject accepts it.
      const { streams } = await topologySerializers(registryUrl, settings.topics);
      expect(streams.format).toBe('avro');
      expect('pipeline_version' in (await streams.decode(written))).toBe(false);
      const current = await streams.encode({ ...record, pipeline_version: 2 });
      expect(await streams.decode(current as Buffer)).toMatchObject({
        stream_id: '0.s1',
        pipeline_version: 2,
      });
      const unversioned = await streams.decode((await streams.encode(record)) as Buffer);
      expect('pipeline_version' in unversioned).toBe(false);
    },
  );
});
