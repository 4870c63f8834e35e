import { TopicOptions, topicOptionsFor, TopicRole, TopologySettings } from '../config/topology-settings';

/**
 * The topics a topology wants, compared with what a cluster has: which to create, which
 * configs to alter, which partition counts to raise, and what differs that apply leaves alone.
 * Pure: the Kafka side (src/topology/topics.ts) reads the cluster and carries the plan out.
 */

/**
 * How a topic's partition count is held to the configuration: `exact` (a different count is
 * drift), `at-creation` (used when creating; any count serves later), `fixed` (exact, and never
 * raised: one partition keeps one order).
 */
export type PartitionRule = 'exact' | 'at-creation' | 'fixed';

export interface WantedTopic {
  name: string;
  role: TopicRole;
  partitions: number;
  partitionRule: PartitionRule;
  /** Why raising the partition count moves records of one key elsewhere; undefined: records are not placed by key. */
  keyedBy?: string;
  /** undefined: the broker's default.replication.factor. */
  replicationFactor?: number;
  /** The topic configs the configuration sets, as Kafka names them; other configs are left as they are. */
  configs: Record<string, string>;
}

/** `<namespace>.topology` and `<namespace>.topology.instances`, as src/topology/versions names them. */
export const topologyLogTopics = (namespace: string) => [
  `${namespace}.topology`,
  `${namespace}.topology.instances`,
];

const BY_INSTANCE = "keyed by the notification's instance: one instance's records are read in order";
const BY_STREAM_STATE =
  "keyed by stream: the matcher's stream state in Redis is laid out by this topic's partitions";
const BY_STREAM = "keyed by stream id: one stream's records are read in order";

/** Room above max_record_bytes for a record's key, headers and batch overhead. */
const RECORD_OVERHEAD_BYTES = 64 * 1024;

/** The topology's topics with the settings the configuration gives them. */
export function wantedTopics(settings: TopologySettings): WantedTopic[] {
  const { topics, partitions } = settings;
  const large = { 'max.message.bytes': String(settings.maxRecordBytes + RECORD_OVERHEAD_BYTES) };
  const topic = (
    role: TopicRole,
    name: string,
    count: number,
    rule: PartitionRule,
    keyedBy?: string,
    configs: Record<string, string> = {},
  ): WantedTopic =>
    withOptions({ name, role, partitions: count, partitionRule: rule, keyedBy }, configs, settings);
  const [versions, instances] = topologyLogTopics(settings.namespace);
  const compact = { 'cleanup.policy': 'compact' };
  return [
    ...(settings.inputPattern ? [] : settings.inputTopics).map((name) =>
      topic('input', name, partitions.events, 'at-creation', BY_INSTANCE),
    ),
    topic('events', topics.events, partitions.events, 'exact', BY_INSTANCE),
    topic('repartition', topics.repartition, partitions.repartition, 'exact', BY_STREAM_STATE),
    topic('streams', topics.streams, partitions.streams, 'exact', BY_STREAM, large),
    topic('completed', topics.completed, partitions.streams, 'exact', BY_STREAM),
    topic('errors', topics.streamsErrors, partitions.streams, 'exact', BY_STREAM),
    topic('notifications_dlq', topics.notificationsDlq, 1, 'at-creation', undefined, large),
    topic('events_dlq', topics.eventsDlq, 1, 'at-creation', undefined, large),
    topic('streams_dlq', topics.streamsDlq, 1, 'at-creation', undefined, large),
    topic('archiver_dlq', topics.archiverDlq, 1, 'at-creation', undefined, large),
    topic('topology', versions, 1, 'fixed', undefined, { ...large, ...compact }),
    topic('topology', instances, 1, 'fixed', undefined, { 'max.message.bytes': '1048576', ...compact }),
  ];
}

/** A topic with its role's settings: derived configs, then `configs`, then the named settings. */
function withOptions(
  topic: Omit<WantedTopic, 'configs' | 'replicationFactor'>,
  derived: Record<string, string>,
  settings: TopologySettings,
): WantedTopic {
  const options: TopicOptions = topicOptionsFor(settings.topicConfig, topic.role);
  const configs: Record<string, string> = { ...derived, ...options.configs };
  if (options.retentionMs !== undefined) configs['retention.ms'] = String(options.retentionMs);
  if (options.minInsyncReplicas !== undefined)
    configs['min.insync.replicas'] = String(options.minInsyncReplicas);
  // The topology topics stay compact whatever the other topics' cleanup_policy (the parser
  // refuses any other for them).
  if (options.cleanupPolicy !== undefined && topic.role !== 'topology')
    configs['cleanup.policy'] = options.cleanupPolicy;
  return { ...topic, replicationFactor: options.replicationFactor, configs };
}

/** A topic as the cluster has it. */
export interface ActualTopic {
  name: string;
  partitions: number;
  /** The fewest replicas any of its partitions has. */
  replicationFactor: number;
  /** Effective config values, whatever set them (topic, broker, default). */
  configs: Record<string, string>;
  /**
   * The configs set on the topic itself: what an AlterConfigs request must repeat, since it
   * replaces them all. null: a sensitive value the broker does not show.
   */
  topicOverrides: Record<string, string | null>;
}

export interface ClusterTopics {
  /** The wanted topics that exist, by name. */
  topics: Map<string, ActualTopic>;
  brokers: number;
  /**
   * The repartition partition count the matcher's Redis state was built for: null when there is
   * no state yet, undefined when Redis was not asked.
   */
  matcherPartitions?: number | null;
}

export interface ConfigChange {
  name: string;
  /** The effective value now; undefined when the broker reported none. */
  from?: string;
  to: string;
}

export interface ConfigAlteration {
  topic: string;
  changes: ConfigChange[];
  /** The configs set on the topic now (none sensitive), which the alteration keeps. */
  keep: Record<string, string>;
}

export interface PartitionIncrease {
  topic: string;
  from: number;
  to: number;
  /** Why growing it needs --allow-partition-increase; undefined: it may grow freely. */
  keyedBy?: string;
}

/** A difference apply does not (or cannot) change; the message says what to do. */
export interface Drift {
  topic: string;
  message: string;
}

export interface TopicPlan {
  wanted: WantedTopic[];
  existing: number;
  create: WantedTopic[];
  alter: ConfigAlteration[];
  grow: PartitionIncrease[];
  drift: Drift[];
  /** What the plan could not look at. */
  notes: string[];
}

export const isEmptyPlan = (plan: Pick<TopicPlan, 'create' | 'alter' | 'grow' | 'drift'>) =>
  !plan.create.length && !plan.alter.length && !plan.grow.length && !plan.drift.length;

const brokersText = (n: number) => `${n} broker${n === 1 ? '' : 's'}`;

/** Compares the wanted topics with the cluster's. */
export function planTopics(wanted: WantedTopic[], cluster: ClusterTopics): TopicPlan {
  const plan: TopicPlan = { wanted, existing: 0, create: [], alter: [], grow: [], drift: [], notes: [] };
  for (const topic of wanted) {
    const actual = cluster.topics.get(topic.name);
    if (!actual) {
      planCreation(plan, topic, cluster.brokers);
      continue;
    }
    plan.existing++;
    planConfigs(plan, topic, actual);
    planPartitions(plan, topic, actual, cluster);
    planReplication(plan, topic, actual);
  }
  planMatcherState(plan, wanted, cluster);
  return plan;
}

function planCreation(plan: TopicPlan, topic: WantedTopic, brokers: number): void {
  if (topic.replicationFactor !== undefined && topic.replicationFactor > brokers) {
    plan.drift.push({
      topic: topic.name,
      message: `cannot be created: replication_factor ${topic.replicationFactor}, the cluster has ${brokersText(brokers)}`,
    });
  } else {
    plan.create.push(topic);
  }
}

/** cleanup.policy lists its policies in any order. */
function sameValue(name: string, a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  if (name !== 'cleanup.policy') return a === b;
  const set = (v: string) =>
    v
      .split(',')
      .map((p) => p.trim())
      .sort()
      .join(',');
  return set(a) === set(b);
}

function planConfigs(plan: TopicPlan, topic: WantedTopic, actual: ActualTopic): void {
  const changes = Object.entries(topic.configs)
    .filter(([name, value]) => !sameValue(name, actual.configs[name], value))
    .map(([name, to]) => ({ name, from: actual.configs[name], to }));
  if (!changes.length) return;
  const hidden = Object.keys(actual.topicOverrides).filter((name) => actual.topicOverrides[name] === null);
  if (hidden.length) {
    // AlterConfigs replaces every config of the topic: one whose value cannot be read would be lost.
    plan.drift.push({
      topic: topic.name,
      message: `${changes.map(changeText).join(', ')}: not altered, the topic has sensitive configs (${hidden.join(', ')}) an alteration would drop; alter it with kafka-configs.sh`,
    });
    return;
  }
  plan.alter.push({ topic: topic.name, changes, keep: actual.topicOverrides as Record<string, string> });
}

export const changeText = (c: ConfigChange) => `${c.name} ${c.from ?? '(unset)'} → ${c.to}`;

function planPartitions(plan: TopicPlan, topic: WantedTopic, actual: ActualTopic, cluster: ClusterTopics) {
  const { partitions: want } = topic;
  const have = actual.partitions;
  if (topic.partitionRule === 'at-creation' || have === want) return;
  if (topic.partitionRule === 'fixed') {
    plan.drift.push({
      topic: topic.name,
      message: `${have} partitions, must have ${want} (one order of records)`,
    });
  } else if (have > want) {
    plan.drift.push({
      topic: topic.name,
      message: `${have} partitions, the configuration says ${want} (partitions cannot be removed: change the configuration, or move to a new namespace)`,
    });
  } else if (topic.role === 'repartition' && cluster.matcherPartitions === undefined) {
    plan.drift.push({
      topic: topic.name,
      message: `${have} partitions, the configuration says ${want}; set REDIS_URL so the matcher's state can be checked before this topic grows`,
    });
  } else if (topic.role !== 'repartition' || cluster.matcherPartitions === null) {
    // With matcher state, planMatcherState explains why growing is a migration.
    plan.grow.push({ topic: topic.name, from: have, to: want, keyedBy: topic.keyedBy });
  }
}

function planReplication(plan: TopicPlan, topic: WantedTopic, actual: ActualTopic): void {
  const wanted = topic.replicationFactor;
  if (wanted !== undefined && wanted !== actual.replicationFactor) {
    plan.drift.push({
      topic: topic.name,
      message: `replication factor ${actual.replicationFactor}, the configuration says ${wanted} (apply does not move replicas: use kafka-reassign-partitions.sh)`,
    });
  }
  const minInsync = Number(topic.configs['min.insync.replicas'] ?? actual.configs['min.insync.replicas']);
  if (minInsync > actual.replicationFactor) {
    plan.drift.push({
      topic: topic.name,
      message: `min.insync.replicas ${minInsync} exceeds its replication factor ${actual.replicationFactor}: every write is refused`,
    });
  }
}

/** The repartition count is the layout of the matcher's state in Redis: any change is a migration. */
function planMatcherState(plan: TopicPlan, wanted: WantedTopic[], cluster: ClusterTopics): void {
  const repartition = wanted.find((t) => t.role === 'repartition');
  if (!repartition) return;
  const built = cluster.matcherPartitions;
  if (built === undefined) {
    plan.notes.push("the matcher's state in Redis was not checked (REDIS_URL is not set)");
    return;
  }
  if (built === null) return;
  const migration = 'changing the count is a migration (docs/operations.md, Partition counts)';
  if (built !== repartition.partitions) {
    plan.drift.push({
      topic: repartition.name,
      message: `the matcher's state in Redis was built for ${built} partitions, the configuration says ${repartition.partitions}: ${migration}`,
    });
  }
  const actual = cluster.topics.get(repartition.name);
  if (actual && actual.partitions !== built) {
    plan.drift.push({
      topic: repartition.name,
      message: `${actual.partitions} partitions, but the matcher's state in Redis was built for ${built}: the matcher will not start`,
    });
  }
}

/** What apply does with a plan, and what it leaves. */
export interface ApplySteps {
  create: WantedTopic[];
  alter: ConfigAlteration[];
  grow: PartitionIncrease[];
  left: Drift[];
}

/** Keyed topics grow only when asked: a key's new records would go to another partition than its old ones. */
export function applySteps(plan: TopicPlan, allowPartitionIncrease: boolean): ApplySteps {
  const held = plan.grow.filter((g) => g.keyedBy !== undefined && !allowPartitionIncrease);
  return {
    create: plan.create,
    alter: plan.alter,
    grow: plan.grow.filter((g) => !held.includes(g)),
    left: [
      ...held.map((g) => ({
        topic: g.topic,
        message: `not grown from ${g.from} to ${g.to} partitions: ${g.keyedBy}; add --allow-partition-increase once producers are stopped and consumers have caught up`,
      })),
      ...plan.drift,
    ],
  };
}

/** The full set of configs an AlterConfigs request sets: those the topic has, with the changes. */
export function alteredConfigEntries(alteration: ConfigAlteration): Array<{ name: string; value: string }> {
  const entries = { ...alteration.keep };
  for (const change of alteration.changes) entries[change.name] = change.to;
  return Object.entries(entries).map(([name, value]) => ({ name, value }));
}
