import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Admin, ConfigResourceTypes } from 'kafkajs';
import { registerRoles } from '../../src/cli/roles';
import { registerTopics } from '../../src/cli/topics';
import { loadWinchesterConfig } from '../../src/config/winchester-config';
import { createKafka } from '../../src/kafka/client';
import { repartitionPartitionsKey } from '../../src/redis/keys';
import { ensureTopicsOnce } from '../../src/topology/topics';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { repoRoot } from '../support/stack';
import { waitFor } from '../support/topology-harness';

const ns = testNamespace();
const kafka = createKafka(ns.settings, ns.prefix);
const redis = new Redis(ns.settings.redisUrl, { maxRetriesPerRequest: 3 });
const dir = mkdtempSync(join(tmpdir(), 'winchester-topics-'));
const DAY_MS = 86_400_000;

/** A namespace of the test's own under this file's prefix, and a winchester.yaml naming it. */
let configs = 0;
function configFile(namespace: string, kafkaLines: string[] = []): string {
  const file = join(dir, `winchester-${++configs}.yaml`);
  writeFileSync(
    file,
    ['kafka:', `  namespace: ${namespace}`, ...kafkaLines.map((l) => `  ${l}`), ''].join('\n'),
  );
  return file;
}

const runTopics = (args: string[]) => runInProcess(registerTopics, ['topics', ...args]);

/** A fresh admin client each time: one that knew a deleted topic keeps asking for its metadata. */
async function withAdmin<T>(use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

const topicsOf = async (namespace: string) =>
  (await withAdmin((admin) => admin.listTopics())).filter((t) => t.startsWith(`${namespace}.`)).sort();

async function topicConfig(topic: string, name: string): Promise<string | undefined> {
  const described = await withAdmin((admin) =>
    admin.describeConfigs({
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }],
      includeSynonyms: false,
    }),
  );
  return described.resources[0].configEntries.find((e) => e.configName === name)?.configValue;
}

async function partitionCounts(topics: string[]): Promise<number[]> {
  const { topics: meta } = await withAdmin((admin) => admin.fetchTopicMetadata({ topics }));
  return topics.map((name) => meta.find((t) => t.name === name)!.partitions.length);
}

afterAll(async () => {
  const leftovers = await topicsOf(ns.prefix);
  if (leftovers.length) await withAdmin((admin) => admin.deleteTopics({ topics: leftovers, timeout: 30000 }));
  await redis.del(repartitionPartitionsKey(`${ns.prefix}.partitions`));
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('winchester topics plan / apply on the real broker', () => {
  test('plan on an empty namespace lists every topic to create and exits 3', async () => {
    const namespace = `${ns.prefix}.empty`;
    const run = await runTopics(['plan', '-c', configFile(namespace)]);
    expect(run).toMatchObject({ code: 3, stderr: '' });
    expect(run.lines[0]).toBe(`topics of namespace ${namespace}: 12 wanted, 0 exist`);
    const created = run.lines.filter((l) => l.startsWith('  create ')).map((l) => l.split(' ')[3]);
    expect(created).toEqual(
      [
        'notifications:',
        'events:',
        'matcher.repartition:',
        'streams:',
        'streams.completed:',
        'streams.errors:',
        'notifications.dlq:',
        'events.dlq:',
        'streams.dlq:',
        'archiver.dlq:',
        'topology:',
        'topology.instances:',
      ].map((t) => `${namespace}.${t}`),
    );
    expect(run.stdout).toContain(
      `  create ${namespace}.topology: 1 partition, replication broker default, max.message.bytes=8454144, cleanup.policy=compact\n`,
    );
    expect(run.lines.at(-1)).toBe('12 topics to create, 0 to alter, 0 to grow, 0 other differences');
    expect(await topicsOf(namespace)).toEqual([]);
  });

  test('apply creates them with the configured settings; plan then finds nothing to do', async () => {
    const namespace = `${ns.prefix}.create`;
    const file = configFile(namespace, [
      'topics:',
      '  replication_factor: 1',
      '  min_insync_replicas: 1',
      '  retention: 2d',
      '  dlq: {retention: forever}',
      '  errors: {cleanup_policy: compact}',
    ]);
    const apply = await runTopics(['apply', '-c', file]);
    expect(apply).toMatchObject({ code: 0, stderr: '' });
    expect(apply.lines.filter((l) => l.startsWith('created '))).toHaveLength(12);
    expect(apply.lines.at(-1)).toBe(
      `topics of namespace ${namespace}: 12 created, 0 altered, 0 grown, 0 left as they are`,
    );
    expect(await topicsOf(namespace)).toHaveLength(12);
    expect(await topicConfig(`${namespace}.events`, 'retention.ms')).toBe(String(2 * DAY_MS));
    expect(await topicConfig(`${namespace}.events.dlq`, 'retention.ms')).toBe('-1');
    expect(await topicConfig(`${namespace}.streams.errors`, 'cleanup.policy')).toBe('compact');
    expect(await topicConfig(`${namespace}.topology`, 'cleanup.policy')).toBe('compact');

    const plan = await runTopics(['plan', '-c', file]);
    expect(plan).toMatchObject({
      code: 0,
      stdout: `topics of namespace ${namespace}: 12 wanted, 12 exist, all as configured\n`,
    });
  });

  test('a retention change is reported; apply alters it and keeps what else is set on the topic', async () => {
    const namespace = `${ns.prefix}.retention`;
    expect((await runTopics(['apply', '-c', configFile(namespace, ['topics: {retention: 2d}'])])).code).toBe(
      0,
    );
    const events = `${namespace}.events`;
    // Set by hand, outside the configuration: an alteration must not drop it.
    await withAdmin((admin) =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: ConfigResourceTypes.TOPIC,
            name: events,
            configEntries: [
              { name: 'retention.ms', value: String(2 * DAY_MS) },
              { name: 'segment.ms', value: '3600000' },
            ],
          },
        ],
      }),
    );
    // The broker answers describeConfigs from its metadata, which follows an alteration a moment
    // later on a busy machine: the hand-set value must be there to be kept.
    await waitFor(async () => (await topicConfig(events, 'segment.ms')) === '3600000', 10000);
    const changed = configFile(namespace, ['topics:', '  retention: 2d', '  events: {retention: 5d}']);

    const plan = await runTopics(['plan', '-c', changed]);
    expect(plan.code).toBe(3);
    expect(plan.lines.slice(1)).toEqual([
      `  alter ${events}: retention.ms ${2 * DAY_MS} → ${5 * DAY_MS}`,
      '0 topics to create, 1 to alter, 0 to grow, 0 other differences',
    ]);

    const apply = await runTopics(['apply', '-c', changed]);
    expect(apply).toMatchObject({ code: 0, stderr: '' });
    expect(apply.lines[0]).toBe(`altered ${events}: retention.ms ${2 * DAY_MS} → ${5 * DAY_MS}`);
    expect(await topicConfig(events, 'retention.ms')).toBe(String(5 * DAY_MS));
    expect(await topicConfig(events, 'segment.ms')).toBe('3600000');
    expect((await runTopics(['plan', '-c', changed])).code).toBe(0);
  });

  test('partition counts that differ: reported, keyed topics grown only when allowed, the repartition topic never against matcher state', async () => {
    const namespace = `${ns.prefix}.partitions`;
    expect((await runTopics(['apply', '-c', configFile(namespace)])).code).toBe(0);
    const keyed = ['streams', 'streams.completed', 'streams.errors'].map((t) => `${namespace}.${t}`);
    const file = configFile(namespace, ['partitions: {events: 2, repartition: 6, streams: 4}']);
    await redis.set(repartitionPartitionsKey(namespace), '3');

    const plan = await runTopics(['plan', '-c', file]);
    expect(plan.code).toBe(3);
    expect(plan.lines).toEqual(
      expect.arrayContaining([
        ...keyed.map((t) =>
          expect.stringMatching(
            new RegExp(
              `^  grow ${t}: 3 → 4 partitions \\(needs --allow-partition-increase: keyed by stream id`,
            ),
          ),
        ),
        `  differs ${namespace}.events: 3 partitions, the configuration says 2 (partitions cannot be removed: change the configuration, or move to a new namespace)`,
        expect.stringMatching(
          new RegExp(
            `^  differs ${namespace}\\.matcher\\.repartition: the matcher's state in Redis was built for 3 partitions, the configuration says 6: .*migration`,
          ),
        ),
      ]),
    );

    const held = await runTopics(['apply', '-c', file]);
    expect(held.code).toBe(3);
    expect(held.lines.filter((l) => l.startsWith('left '))).toHaveLength(5);
    expect(await partitionCounts(keyed)).toEqual([3, 3, 3]);

    const allowed = await runTopics(['apply', '-c', file, '--allow-partition-increase']);
    expect(allowed.code).toBe(3);
    expect(allowed.lines.filter((l) => l.startsWith('grew '))).toEqual(
      keyed.map((t) => `grew ${t}: 3 → 4 partitions`),
    );
    expect(
      await partitionCounts([...keyed, `${namespace}.matcher.repartition`, `${namespace}.events`]),
    ).toEqual([4, 4, 4, 3, 3]);
  });

  test('a replication factor the cluster cannot hold is reported, not attempted', async () => {
    const namespace = `${ns.prefix}.replication`;
    const brokers = (await withAdmin((admin) => admin.describeCluster())).brokers.length;
    const file = configFile(namespace, [`topics: {replication_factor: ${brokers + 1}}`]);
    const plan = await runTopics(['plan', '-c', file]);
    expect(plan.code).toBe(3);
    expect(plan.lines).toContain(
      `  differs ${namespace}.events: cannot be created: replication_factor ${brokers + 1}, the cluster has ${brokers} broker${brokers === 1 ? '' : 's'}`,
    );
    const apply = await runTopics(['apply', '-c', file]);
    expect(apply.code).toBe(3);
    expect(await topicsOf(namespace)).toEqual([]);
  });

  test('a configuration mistake is one line with file and line, exit 2, before anything connects', async () => {
    const file = configFile(`${ns.prefix}.mistake`, ['topics:', '  retention: soon']);
    expect(await runTopics(['plan', '-c', file])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(
        new RegExp(
          `^winchester: ${file.replace(/[.]/g, '\\.')}:4: kafka\\.topics\\.retention: expected a duration such as 7d.*\\n$`,
        ),
      ),
    });
  });

  test('roles create missing topics with the configured settings', async () => {
    const namespace = `${ns.prefix}.roles`;
    const file = configFile(namespace, ['topics: {retention: 3d}']);
    await ensureTopicsOnce(kafka, loadWinchesterConfig(file, {}).topology);
    expect(await topicsOf(namespace)).toHaveLength(12);
    expect(await topicConfig(`${namespace}.streams.completed`, 'retention.ms')).toBe(String(3 * DAY_MS));
    expect((await runTopics(['plan', '-c', file])).code).toBe(0);
  });

  test('with create_topics false a role refuses to start, naming the missing topics and topics apply', async () => {
    const namespace = `${ns.prefix}.refuse`;
    const file = configFile(namespace, ['create_topics: false']);
    const run = await runInProcess(registerRoles, [
      'distiller',
      '-c',
      file,
      '-t',
      join(repoRoot, 'topologies', 'openstack-usage'),
      '--metrics-port',
      'off',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^winchester: 12 topics are missing \\(${namespace.replace(/\./g, '\\.')}\\.notifications, .*\\.topology\\.instances\\) ` +
          'and kafka\\.create_topics is false: create them with winchester topics apply ' +
          '\\(or, under Kafka ACLs, they exist but this principal may not DESCRIBE them\\)\\n$',
      ),
    );
    expect(await topicsOf(namespace)).toEqual([]);
  });
});
