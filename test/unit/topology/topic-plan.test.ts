import { defaultTopologySettings, TopologySettings } from '../../../src/config/topology-settings';
import {
  ActualTopic,
  alteredConfigEntries,
  applySteps,
  ClusterTopics,
  isEmptyPlan,
  planTopics,
  topologyLogTopics,
  WantedTopic,
  wantedTopics,
} from '../../../src/topology/topic-plan';
import { topologyTopic } from '../../../src/topology/versions/version-log';
import { instancesTopic } from '../../../src/topology/versions/instances';

const settings = (overrides: Partial<TopologySettings> = {}) =>
  defaultTopologySettings({ namespace: 'ns', ...overrides });

/** A cluster holding every wanted topic as configured, which a test then changes. */
function matchingCluster(wanted: WantedTopic[], brokers = 3): ClusterTopics {
  const topics = new Map<string, ActualTopic>(
    wanted.map((t) => [
      t.name,
      {
        name: t.name,
        partitions: t.partitions,
        replicationFactor: t.replicationFactor ?? 1,
        configs: { 'retention.ms': '604800000', 'min.insync.replicas': '1', ...t.configs },
        topicOverrides: { ...t.configs },
      },
    ]),
  );
  return { topics, brokers, matcherPartitions: null };
}

const topicNamed = (cluster: ClusterTopics, name: string) => cluster.topics.get(name)!;

describe('the wanted topics', () => {
  test("today's set: the input topic, the data topics, four DLQs and the two topology topics", () => {
    const wanted = wantedTopics(settings());
    expect(wanted.map((t) => [t.name, t.partitions, t.partitionRule])).toEqual([
      ['ns.notifications', 3, 'at-creation'],
      ['ns.events', 3, 'exact'],
      ['ns.matcher.repartition', 3, 'exact'],
      ['ns.streams', 3, 'exact'],
      ['ns.streams.completed', 3, 'exact'],
      ['ns.streams.errors', 3, 'exact'],
      ['ns.notifications.dlq', 1, 'at-creation'],
      ['ns.events.dlq', 1, 'at-creation'],
      ['ns.streams.dlq', 1, 'at-creation'],
      ['ns.archiver.dlq', 1, 'at-creation'],
      ['ns.topology', 1, 'fixed'],
      ['ns.topology.instances', 1, 'fixed'],
    ]);
    expect(wanted.every((t) => t.replicationFactor === undefined)).toBe(true);
    const large = String(8 * 1024 * 1024 + 64 * 1024);
    expect(wanted.find((t) => t.role === 'streams')?.configs).toEqual({ 'max.message.bytes': large });
    expect(wanted.find((t) => t.role === 'events')?.configs).toEqual({});
    expect(wanted.find((t) => t.name === 'ns.topology')?.configs).toEqual({
      'max.message.bytes': large,
      'cleanup.policy': 'compact',
    });
  });

  test('the topology topics are named as src/topology/versions names them', () => {
    expect(topologyLogTopics('ns')).toEqual([topologyTopic('ns'), instancesTopic('ns')]);
  });

  test('an input pattern leaves the input topics out', () => {
    const wanted = wantedTopics(settings({ inputPattern: '^notifications\\..*' }));
    expect(wanted.some((t) => t.role === 'input')).toBe(false);
  });

  test('configured settings, with the topology topics kept compact', () => {
    const wanted = wantedTopics(
      settings({
        topicConfig: {
          all: { replicationFactor: 3, minInsyncReplicas: 2, retentionMs: 1000, cleanupPolicy: 'delete' },
          dlq: { retentionMs: -1 },
          byRole: {
            errors: { cleanupPolicy: 'compact' },
            streams: { configs: { 'max.message.bytes': '99' } },
          },
        },
      }),
    );
    const byName = new Map(wanted.map((t) => [t.name, t]));
    expect(byName.get('ns.events')).toMatchObject({
      replicationFactor: 3,
      configs: { 'retention.ms': '1000', 'min.insync.replicas': '2', 'cleanup.policy': 'delete' },
    });
    expect(byName.get('ns.streams.errors')?.configs['cleanup.policy']).toBe('compact');
    expect(byName.get('ns.events.dlq')?.configs['retention.ms']).toBe('-1');
    expect(byName.get('ns.streams')?.configs['max.message.bytes']).toBe('99');
    expect(byName.get('ns.topology')?.configs['cleanup.policy']).toBe('compact');
  });
});

describe('planning', () => {
  test('an empty cluster: every topic to create, nothing else', () => {
    const wanted = wantedTopics(settings());
    const plan = planTopics(wanted, { topics: new Map(), brokers: 1, matcherPartitions: null });
    expect(plan.create.map((t) => t.name)).toEqual(wanted.map((t) => t.name));
    expect([plan.alter, plan.grow, plan.drift, plan.notes]).toEqual([[], [], [], []]);
    expect(plan.existing).toBe(0);
  });

  test('a cluster as configured: nothing to do', () => {
    const wanted = wantedTopics(settings());
    const plan = planTopics(wanted, matchingCluster(wanted));
    expect(isEmptyPlan(plan)).toBe(true);
    expect(plan.existing).toBe(12);
  });

  test('a config that differs is altered, keeping the configs set on the topic', () => {
    const wanted = wantedTopics(
      settings({ topicConfig: { all: {}, dlq: {}, byRole: { events: { retentionMs: 1000 } } } }),
    );
    const cluster = matchingCluster(wantedTopics(settings()));
    topicNamed(cluster, 'ns.events').topicOverrides = { 'segment.ms': '60000' };
    const plan = planTopics(wanted, cluster);
    expect(plan.alter).toEqual([
      {
        topic: 'ns.events',
        changes: [{ name: 'retention.ms', from: '604800000', to: '1000' }],
        keep: { 'segment.ms': '60000' },
      },
    ]);
    expect(alteredConfigEntries(plan.alter[0])).toEqual([
      { name: 'segment.ms', value: '60000' },
      { name: 'retention.ms', value: '1000' },
    ]);
    expect(plan.drift).toEqual([]);
  });

  test('cleanup.policy compares as a set of policies', () => {
    const wanted = wantedTopics(
      settings({ topicConfig: { all: { cleanupPolicy: 'compact,delete' }, dlq: {}, byRole: {} } }),
    );
    const cluster = matchingCluster(wanted);
    topicNamed(cluster, 'ns.events').configs['cleanup.policy'] = 'delete,compact';
    expect(planTopics(wanted, cluster).alter.map((a) => a.topic)).not.toContain('ns.events');
  });

  test('a topic with a sensitive config is not altered (its value would be lost): drift instead', () => {
    const wanted = wantedTopics(
      settings({ topicConfig: { all: {}, dlq: {}, byRole: { events: { retentionMs: 1000 } } } }),
    );
    const cluster = matchingCluster(wantedTopics(settings()));
    topicNamed(cluster, 'ns.events').topicOverrides = { 'some.secret': null };
    const plan = planTopics(wanted, cluster);
    expect(plan.alter).toEqual([]);
    expect(plan.drift).toEqual([
      {
        topic: 'ns.events',
        message: expect.stringMatching(/^retention\.ms 604800000 → 1000: not altered, .*some\.secret/),
      },
    ]);
  });

  test('fewer partitions than configured: grow, needing permission for keyed topics', () => {
    const wanted = wantedTopics(settings({ partitions: { events: 3, repartition: 3, streams: 6 } }));
    const cluster = matchingCluster(wanted);
    for (const name of ['ns.streams', 'ns.streams.completed', 'ns.streams.errors'])
      topicNamed(cluster, name).partitions = 3;
    const plan = planTopics(wanted, cluster);
    expect(plan.grow.map((g) => [g.topic, g.from, g.to])).toEqual([
      ['ns.streams', 3, 6],
      ['ns.streams.completed', 3, 6],
      ['ns.streams.errors', 3, 6],
    ]);
    expect(plan.grow.every((g) => /keyed by stream id/.test(g.keyedBy ?? ''))).toBe(true);

    const held = applySteps(plan, false);
    expect(held.grow).toEqual([]);
    expect(held.left.map((l) => l.topic)).toEqual([
      'ns.streams',
      'ns.streams.completed',
      'ns.streams.errors',
    ]);
    expect(held.left[0].message).toMatch(
      /^not grown from 3 to 6 partitions: keyed by stream id.*--allow-partition-increase/,
    );
    const allowed = applySteps(plan, true);
    expect(allowed.grow).toHaveLength(3);
    expect(allowed.left).toEqual([]);
  });

  test('more partitions than configured is drift; DLQs and input topics may have any count', () => {
    const wanted = wantedTopics(settings());
    const cluster = matchingCluster(wanted);
    topicNamed(cluster, 'ns.events').partitions = 5;
    topicNamed(cluster, 'ns.events.dlq').partitions = 4;
    topicNamed(cluster, 'ns.notifications').partitions = 1;
    topicNamed(cluster, 'ns.topology').partitions = 2;
    const plan = planTopics(wanted, cluster);
    expect(plan.grow).toEqual([]);
    expect(plan.drift).toEqual([
      {
        topic: 'ns.events',
        message: expect.stringMatching(
          /^5 partitions, the configuration says 3 \(partitions cannot be removed/,
        ),
      },
      {
        topic: 'ns.topology',
        message: expect.stringMatching(/^2 partitions, must have 1 \(one order of records\)$/),
      },
    ]);
  });

  test("the repartition count against the matcher's state in Redis", () => {
    const wanted = wantedTopics(settings({ partitions: { events: 3, repartition: 6, streams: 3 } }));
    const cluster = matchingCluster(wanted);
    topicNamed(cluster, 'ns.matcher.repartition').partitions = 3;

    // No state yet: the topic may grow (with permission).
    expect(planTopics(wanted, cluster).grow.map((g) => g.topic)).toEqual(['ns.matcher.repartition']);

    // State built for 3: growing is a migration, never an apply step.
    const built = planTopics(wanted, { ...cluster, matcherPartitions: 3 });
    expect(built.grow).toEqual([]);
    expect(built.drift).toEqual([
      {
        topic: 'ns.matcher.repartition',
        message: expect.stringMatching(
          /^the matcher's state in Redis was built for 3 partitions, the configuration says 6: .*migration/,
        ),
      },
    ]);

    // Redis not asked: the plan says so, and will not grow the topic blind.
    const unchecked = planTopics(wanted, { ...cluster, matcherPartitions: undefined });
    expect(unchecked.grow).toEqual([]);
    expect(unchecked.drift[0].message).toMatch(/set REDIS_URL/);
    expect(unchecked.notes).toEqual([expect.stringMatching(/not checked \(REDIS_URL is not set\)/)]);
  });

  test('a topic that no longer matches the state the matcher built stops the matcher: said so', () => {
    const wanted = wantedTopics(settings());
    const cluster = { ...matchingCluster(wanted), matcherPartitions: 3 };
    topicNamed(cluster, 'ns.matcher.repartition').partitions = 4;
    const messages = planTopics(wanted, cluster).drift.map((d) => d.message);
    expect(messages).toEqual([
      expect.stringMatching(/^4 partitions, the configuration says 3/),
      "4 partitions, but the matcher's state in Redis was built for 3: the matcher will not start",
    ]);
  });

  test('replication: more than the cluster has cannot be created; a different factor is drift', () => {
    const wanted = wantedTopics(
      settings({ topicConfig: { all: { replicationFactor: 3 }, dlq: {}, byRole: {} } }),
    );
    const small = planTopics(wanted, { topics: new Map(), brokers: 1, matcherPartitions: null });
    expect(small.create).toEqual([]);
    expect(small.drift[0]).toEqual({
      topic: 'ns.notifications',
      message: 'cannot be created: replication_factor 3, the cluster has 1 broker',
    });

    const cluster = matchingCluster(wanted);
    topicNamed(cluster, 'ns.events').replicationFactor = 1;
    expect(planTopics(wanted, cluster).drift).toEqual([
      {
        topic: 'ns.events',
        message: expect.stringMatching(
          /^replication factor 1, the configuration says 3 \(.*kafka-reassign-partitions/,
        ),
      },
    ]);
  });

  test("min.insync.replicas above a topic's replication factor is reported", () => {
    const wanted = wantedTopics(settings());
    const cluster = matchingCluster(wanted);
    topicNamed(cluster, 'ns.streams').configs['min.insync.replicas'] = '2';
    expect(planTopics(wanted, cluster).drift).toEqual([
      {
        topic: 'ns.streams',
        message: 'min.insync.replicas 2 exceeds its replication factor 1: every write is refused',
      },
    ]);
  });
});
