import Redis from 'ioredis';
import { Admin, Consumer, Kafka } from 'kafkajs';
import { registerNamespace } from '../../src/cli/namespace';
import { createKafka } from '../../src/kafka/client';
import { deleteNamespace, namespaceOfName, planNamespaceDeletion } from '../../src/ops/namespace';
import { defaultTopologySettings } from '../../src/config/topology-settings';
import { runInProcess } from '../support/in-process-cli';
import { testNamespace } from '../support/namespace';
import { waitFor } from '../support/topology-harness';

const ns = testNamespace();
/** The namespace deleted here, one whose name it prefixes, and one named inside it: both must survive. */
const doomed = ns.prefix;
const sibling = `${ns.prefix}-keep`;
const nested = `${ns.prefix}.nested`;
const DOOMED_KEYS = 2500;
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `winchester namespace …`, in this process. */
const runNamespace = (args: string[]) => runInProcess(registerNamespace, ['namespace', ...args]);

describe('winchester namespace on the real broker and Redis', () => {
  const kafka: Kafka = createKafka(ns.settings, ns.prefix);
  const redis = new Redis(ns.settings.redisUrl, { maxRetriesPerRequest: 3 });
  let running: Consumer | undefined;

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

  const allTopics = () => withAdmin((admin) => admin.listTopics());
  const topicsUnder = async (namespace: string) =>
    (await allTopics()).filter(
      (t) => t.startsWith(`${namespace}.`) && (namespace === nested || !t.startsWith(`${nested}.`)),
    );
  const groupsUnder = async (namespace: string) =>
    (await withAdmin((admin) => admin.listGroups())).groups
      .map((g) => g.groupId)
      .filter((g) => g.startsWith(`${namespace}.`) && (namespace === nested || !g.startsWith(`${nested}.`)))
      .sort();
  const keyCount = async (namespace: string) => {
    let count = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
      count += keys.length;
      cursor = next;
    } while (cursor !== '0');
    return count;
  };

  /** The topics of a namespace: all of a topology's, or (quicker to create) the two the survivors need. */
  const topicsOf = (namespace: string, all: boolean) => {
    const { inputTopics, topics } = defaultTopologySettings({ namespace });
    return all ? [...inputTopics, ...Object.values(topics)] : [topics.events, topics.streams];
  };

  /** A namespace as roles leave it: committed role and tool groups, and Redis keys (its topics exist). */
  async function populate(namespace: string, keys: number): Promise<void> {
    // setOffsets joins the group with a consumer of its own: slow, so the groups are set side by side.
    await Promise.all(
      [`${namespace}.distiller`, `${namespace}.ops.scan.0f1e2d3c`].map((groupId) =>
        withAdmin((admin) =>
          admin.setOffsets({
            groupId,
            topic: `${namespace}.events`,
            partitions: [{ partition: 0, offset: '0' }],
          }),
        ),
      ),
    );
    const pipeline = redis.pipeline();
    for (let i = 0; i < keys; i++) pipeline.set(`${namespace}:{${namespace}.p${i % 3}}:stream:${i}`, 'x');
    pipeline.hset(`${namespace}:ops:dlq:redriven`, 'a', 'b');
    await pipeline.exec();
  }

  async function startRole(groupId: string, topic: string): Promise<Consumer> {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 6000, heartbeatInterval: 1000 });
    await consumer.connect();
    await consumer.subscribe({ topic });
    await consumer.run({ eachMessage: async () => undefined });
    await waitFor(async () => {
      const { groups } = await withAdmin((admin) => admin.describeGroups([groupId]));
      return groups[0].state === 'Stable' && groups[0].members.length > 0;
    }, 30000);
    return consumer;
  }

  beforeAll(async () => {
    // One request for every topic: creating topics one by one is slow on a busy broker.
    const topics = [
      ...topicsOf(doomed, true),
      `${doomed}.leftover`,
      ...topicsOf(sibling, false),
      ...topicsOf(nested, false),
    ];
    await withAdmin((admin) =>
      admin.createTopics({
        topics: topics.map((topic) => ({ topic, numPartitions: 1 })),
        waitForLeaders: true,
      }),
    );
    await Promise.all([populate(doomed, DOOMED_KEYS), populate(sibling, 3), populate(nested, 3)]);
  });

  afterAll(async () => {
    await running?.disconnect();
    for (const namespace of [doomed, sibling, nested]) {
      const settings = defaultTopologySettings({ namespace });
      const plan = await planNamespaceDeletion(kafka, redis, settings).catch(() => null);
      if (plan) await deleteNamespace(kafka, redis, plan, { force: true }).catch(() => undefined);
    }
    redis.disconnect();
  });

  test('names tell which namespace a topic or role group is of', () => {
    expect(namespaceOfName('dev-20260101120000.streams.completed', 'topic')).toBe('dev-20260101120000');
    expect(namespaceOfName('a.b.notifications.dlq', 'topic')).toBe('a.b');
    expect(namespaceOfName('a.matcher', 'group')).toBe('a');
    expect(namespaceOfName('events', 'topic')).toBeNull();
    expect(namespaceOfName('a.ops.scan.1234', 'group')).toBeNull();
  });

  test('list shows the namespaces with their topics and groups', async () => {
    const run = await runNamespace(['list']);
    expect(run.code).toBe(0);
    const row = (namespace: string) => run.stdout.split('\n').find((l) => l.split(/\s+/)[0] === namespace);
    expect(row(doomed)?.split(/\s+/)).toEqual([doomed, '11', '2', '0']);
    expect(row(sibling)?.split(/\s+/)).toEqual([sibling, '2', '2', '0']);
    expect(row(nested)?.split(/\s+/)).toEqual([nested, '2', '2', '0']);
  });

  test('without --yes it says what would go, deletes nothing and exits 2', async () => {
    const run = await runNamespace(['delete', doomed]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`winchester: nothing deleted: add --yes to delete namespace ${doomed}\n`);
    expect(run.stdout).toContain(`namespace ${doomed}: would delete\n  11 topics\n`);
    expect(run.stdout).toContain(`    ${doomed}.leftover\n`);
    expect(run.stdout).toContain(
      `  2 consumer groups\n    ${doomed}.distiller\n    ${doomed}.ops.scan.0f1e2d3c\n`,
    );
    expect(run.stdout).toContain(`  ${DOOMED_KEYS + 1} Redis keys matching ${doomed}:*\n`);
    expect(run.stdout).toContain(`left alone: namespace ${nested}`);
    expect(run.stdout).not.toContain(`${nested}.events`);
    expect(run.stdout).not.toContain(sibling);
    expect(await topicsUnder(doomed)).toHaveLength(11);
    expect(await keyCount(doomed)).toBe(DOOMED_KEYS + 1);
  });

  test('a running role blocks the deletion', async () => {
    running = await startRole(`${doomed}.matcher`, `${doomed}.events`);
    const run = await runNamespace(['delete', doomed, '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^winchester: ${literally(doomed)}: namespace still in use: ${literally(doomed)}\\.matcher \\(1 member\\); .*--force\\n$`,
      ),
    );
    expect(run.stdout).toBe('');
    expect(await topicsUnder(doomed)).toHaveLength(11);
    expect(await keyCount(doomed)).toBe(DOOMED_KEYS + 1);
    await running.disconnect();
    running = undefined;
  });

  test('--yes deletes the namespace and nothing else', async () => {
    const run = await runNamespace(['delete', doomed, '--yes']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(
      new RegExp(
        `^namespace ${literally(doomed)}: deleted 11 topics, [23] consumer groups, ${DOOMED_KEYS + 1} Redis keys\\n$`,
      ),
    );
    await waitFor(async () => (await topicsUnder(doomed)).length === 0, 30000);
    expect(await groupsUnder(doomed)).toEqual([]);
    expect(await keyCount(doomed)).toBe(0);

    expect(await topicsUnder(sibling)).toHaveLength(2);
    expect(await groupsUnder(sibling)).toEqual([`${sibling}.distiller`, `${sibling}.ops.scan.0f1e2d3c`]);
    expect(await keyCount(sibling)).toBe(4);
    expect(await topicsUnder(nested)).toHaveLength(2);
    expect(await groupsUnder(nested)).toEqual([`${nested}.distiller`, `${nested}.ops.scan.0f1e2d3c`]);
    expect(await keyCount(nested)).toBe(4);

    const again = await runNamespace(['delete', doomed, '--yes']);
    expect(again).toMatchObject({ code: 0, stdout: expect.stringContaining('nothing to delete') });
  });

  test('--force deletes beside a running role and names the group it could not delete', async () => {
    running = await startRole(`${sibling}.worker`, `${sibling}.streams`);
    const run = await runNamespace(['delete', sibling, '--yes', '--force']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`namespace ${sibling}: deleted 2 topics, 2 consumer groups, 4 Redis keys\n`);
    expect(run.stdout).toContain(`consumer group ${sibling}.worker not deleted: `);
    expect(run.stderr).toBe(`winchester: namespace ${sibling}: 1 consumer group left\n`);
    expect(await keyCount(sibling)).toBe(0);
  });

  test('user mistakes are one line and exit code 2', async () => {
    expect(await runNamespace(['delete'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^winchester: give the namespace, e\.g\. .*\n$/),
    });
    expect(await runNamespace(['delete', 'a*'])).toMatchObject({
      code: 2,
      stderr: 'winchester: namespace a*: expected letters, digits, . _ -\n',
    });
  });
});
