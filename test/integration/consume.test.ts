import Redis from 'ioredis';
import { Kafka } from 'kafkajs';
import { registerConsume } from '../../src/cli/consume';
import { newTraits, WinchesterEvent } from '../../src/events/event';
import { consumeTopic, ConsumedRecord } from '../../src/ops/consume';
import { deleteNamespace, planNamespaceDeletion } from '../../src/ops/namespace';
import { avroEventSerializer, topologySerializers } from '../../src/topology/serialization';
import { TopologySettings } from '../../src/config/topology-settings';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { schemaRegistryUrl } from '../support/stack';
import { produce, topologyFixture, waitFor } from '../support/topology-harness';

const ns = testNamespace();

/** `winchester consume … --namespace <this test's>`, in this process; stdout as its lines. */
async function runConsume(args: string[], whileRunning?: (stdout: string[]) => Promise<void>) {
  const run = await runInProcess(
    registerConsume,
    ['consume', ...args, '--namespace', ns.prefix],
    whileRunning,
  );
  return { code: run.code, stdout: run.lines, stderr: run.stderr };
}

const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as ConsumedRecord);

const event: WinchesterEvent = {
  message_id: 'avro-1',
  event_type: 'compute.instance.exists',
  timestamp: 1_790_000_000_000_000,
  traits: Object.assign(newTraits(), { instance_id: { type: 'text', value: 'i-9' } }),
};

describe('winchester consume on the real broker', () => {
  let kafka: Kafka;
  let settings: TopologySettings;
  const roleGroup = () => `${ns.prefix}.distiller`;

  /** Waits until a throwaway consume group of this namespace has joined, so records sent now are seen. */
  const consumeGroupJoined = async () =>
    waitFor(async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const { groups } = await admin.listGroups();
        const ours = groups.map((g) => g.groupId).filter((g) => g.startsWith(`${ns.prefix}.ops.consume.`));
        if (!ours.length) return false;
        const described = await admin.describeGroups(ours);
        return described.groups.some((g) => g.state === 'Stable' && g.members.length > 0);
      } finally {
        await admin.disconnect();
      }
    }, 30000);

  const groupsOfNamespace = async () => {
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.listGroups();
    await admin.disconnect();
    return groups.map((g) => g.groupId).filter((g) => g.startsWith(`${ns.prefix}.`));
  };

  beforeAll(async () => {
    ({ kafka, settings } = await topologyFixture(ns));
    const avro = await avroEventSerializer(schemaRegistryUrl(), settings.topics.events);
    // One partition, so the order of the lines is the order of the records.
    await produce(kafka, settings.topics.events, [
      {
        partition: 0,
        key: 'i-1',
        value: JSON.stringify({ message_id: 'json-1', note: 'csi \u009b[31m' }),
        headers: { 'winchester.source': 'x/0/1', binary: Buffer.from([0xff, 0x00, 0x41]) },
      },
      { partition: 0, key: Buffer.from([0xc3, 0x28]), value: Buffer.from([0x01, 0x1b, 0x5c, 0x80]) },
      { partition: 0, key: 'i-9', value: (await avro.encode(event)) as Buffer },
      { partition: 0, key: 'gone', value: null },
    ]);
    // A role's committed position, which consuming must leave where it is.
    const admin = kafka.admin();
    await admin.connect();
    await admin.setOffsets({
      groupId: roleGroup(),
      topic: settings.topics.events,
      partitions: [{ partition: 0, offset: '1' }],
    });
    await admin.disconnect();
  });

  afterAll(async () => {
    // Without the key prefix ns.redis() adds: the deletion SCANs for the namespace's keys itself.
    const redis = new Redis(ns.settings.redisUrl, { maxRetriesPerRequest: 3 });
    const plan = await planNamespaceDeletion(kafka, redis, settings);
    await deleteNamespace(kafka, redis, plan);
    redis.disconnect();
  });

  test('--from-beginning prints every record as a JSON line and stops at the end', async () => {
    const run = await runConsume(['events', '--from-beginning']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [json, binary, avro, tombstone] = parsed(run.stdout);
    expect(run.stdout).toHaveLength(4);
    expect(json).toMatchObject({
      topic: settings.topics.events,
      partition: 0,
      offset: '0',
      key: 'i-1',
      format: 'json',
      value: { message_id: 'json-1', note: 'csi \u009b[31m' },
      headers: { 'winchester.source': 'x/0/1', binary: '\\xff\\x00A' },
    });
    expect(new Date(json.timestamp).getTime()).toBeGreaterThan(Date.now() - 600_000);
    // The C1 control travels as an escape: the terminal never receives it.
    expect(run.stdout[0]).not.toMatch(/\u009b/);
    expect(run.stdout[0]).toContain('\\u009b');
    expect(binary).toMatchObject({
      key: '\\xc3(',
      format: 'escaped',
      value: '\\x01\\x1b\\\\\\x80',
      bytes: 4,
    });
    expect(avro).toMatchObject({
      format: 'avro',
      key: 'i-9',
      value: {
        message_id: 'avro-1',
        event_type: 'compute.instance.exists',
        traits: [{ name: 'instance_id', type: 'text', text: 'i-9' }],
      },
    });
    expect(avro.schemaId).toBeGreaterThan(0);
    expect(tombstone).toMatchObject({ key: 'gone', format: 'null', value: null, bytes: 0 });
  });

  test('a stream record in Avro is shown as its writer schema reads it', async () => {
    const serializers = await topologySerializers(schemaRegistryUrl(), settings.topics);
    const record = {
      stream_id: '0.avro-stream',
      partition: 0,
      trigger: 'usage',
      kind: 'fired' as const,
      pipeline: null,
      distinguished_by: { instance_id: { type: 'text' as const, value: 'i-9' } },
      first: event.timestamp,
      last: event.timestamp,
      expire: event.timestamp + 1,
      serial: 1,
      events: [event],
    };
    const value = (await serializers.streams.encode(record)) as Buffer;
    await produce(kafka, settings.topics.streams, [{ partition: 0, key: record.stream_id, value }]);
    const run = await runConsume(['streams', '--from-beginning']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(parsed(run.stdout).find((r) => r.key === record.stream_id)).toMatchObject({
      format: 'avro',
      value: {
        stream_id: record.stream_id,
        pipeline: null,
        events: [{ message_id: 'avro-1', timestamp: event.timestamp }],
        distinguished_by: [{ name: 'instance_id', type: 'text', text: 'i-9' }],
      },
    });
  });

  test('the read leaves no group behind and moves no role offset', async () => {
    await runConsume(['events', '--from-beginning', '-n', '1']);
    expect(await groupsOfNamespace()).toEqual([roleGroup()]);
    const admin = kafka.admin();
    await admin.connect();
    const [offsets] = await admin.fetchOffsets({ groupId: roleGroup(), topics: [settings.topics.events] });
    await admin.disconnect();
    expect(offsets.partitions.find((p) => p.partition === 0)?.offset).toBe('1');
  });

  test('-n stops after n records, or at the end when fewer exist', async () => {
    const two = await runConsume([settings.topics.events, '--from-beginning', '-n', '2']);
    expect(two.code).toBe(0);
    expect(parsed(two.stdout).map((r) => r.offset)).toEqual(['0', '1']);
    const started = Date.now();
    const all = await runConsume(['events', '--from-beginning', '-n', '100']);
    expect(all.stdout).toHaveLength(4);
    expect(Date.now() - started).toBeLessThan(15000);
    const empty = await runConsume(['streams.completed', '--from-beginning']);
    expect(empty).toMatchObject({ code: 0, stdout: [] });
  });

  test('without --from-beginning it prints only new records, following until -n', async () => {
    const run = await runConsume(['events', '-n', '2'], async () => {
      await consumeGroupJoined();
      await produce(kafka, settings.topics.events, [
        { partition: 1, key: 'new-1', value: '{"n":1}' },
        { partition: 2, key: 'new-2', value: '{"n":2}' },
      ]);
    });
    expect(run.code).toBe(0);
    expect(
      parsed(run.stdout)
        .map((r) => r.key)
        .sort(),
    ).toEqual(['new-1', 'new-2']);
  });

  test('--from-beginning --follow reads the history, then new records', async () => {
    const run = await runConsume(
      ['notifications.dlq', '--from-beginning', '--follow', '-n', '1'],
      async () => {
        await consumeGroupJoined();
        await produce(kafka, settings.topics.notificationsDlq, [{ key: 'late', value: '{"late":true}' }]);
      },
    );
    expect(parsed(run.stdout)).toMatchObject([{ key: 'late', value: { late: true } }]);
  });

  test('SIGINT and SIGTERM stop a follow cleanly', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const before = new Set(process.listeners(signal));
      const run = await runConsume(['streams'], async (stdout) => {
        await consumeGroupJoined();
        await produce(kafka, settings.topics.streams, [{ key: signal, value: `{"signal":"${signal}"}` }]);
        await waitFor(() => stdout.length === 1, 30000);
        // Only the command's own handler: the test runner's must not see a signal.
        for (const listener of process.listeners(signal).filter((l) => !before.has(l))) listener(signal);
      });
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(parsed(run.stdout)).toMatchObject([{ key: signal }]);
      expect(process.listeners(signal).filter((l) => !before.has(l))).toHaveLength(0);
    }
    expect(await groupsOfNamespace()).toEqual([roleGroup()]);
  });

  test('without a registry an Avro record is an escaped preview', async () => {
    const records: ConsumedRecord[] = [];
    const summary = await consumeTopic(
      kafka,
      { topic: settings.topics.events, fromBeginning: true, groupPrefix: ns.prefix },
      (r) => void records.push(r),
    );
    expect(summary).toMatchObject({ records: records.length, stoppedBy: 'end' });
    const avro = records.find((r) => r.key === 'i-9');
    expect(avro).toMatchObject({ format: 'escaped' });
    // The magic byte; the schema id after it is whatever the registry gave.
    expect(avro?.value).toMatch(/^\\x00/);
  });

  test('user mistakes are one line and exit code 2', async () => {
    const unknown = await runConsume(['nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^winchester: unknown topic nope: expected one of notifications, events, /,
    );
    expect(unknown.stderr).toContain('streams.completed, notifications.dlq');
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(await runConsume([])).toMatchObject({ code: 2, stderr: expect.stringMatching(/give a topic/) });
    const badCount = await runConsume(['events', '-n', 'ten']);
    expect(badCount).toMatchObject({
      code: 2,
      stderr: 'winchester: -n "ten": expected a positive integer\n',
    });
  });
});
