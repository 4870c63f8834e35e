import { Admin, ConfigResourceTypes, ConfigSource, ITopicConfig, Kafka } from 'kafkajs';
import { TopologySettings } from '../config/topology-settings';
import { createTopicsAndWait } from '../kafka/create-topics';
import {
  ActualTopic,
  alteredConfigEntries,
  ApplySteps,
  ClusterTopics,
  WantedTopic,
  wantedTopics,
} from './topic-plan';

/** A wanted topic as a CreateTopics entry; no replication factor: the broker's default. */
export function topicCreation(topic: WantedTopic): ITopicConfig {
  return {
    topic: topic.name,
    numPartitions: topic.partitions,
    replicationFactor: topic.replicationFactor ?? -1,
    configEntries: Object.entries(topic.configs).map(([name, value]) => ({ name, value })),
  };
}

/** kafka.create_topics is false and topics are missing: the role does not start. */
export class MissingTopicsError extends Error {
  constructor(readonly topics: string[]) {
    super(
      `${topics.length} topic${topics.length === 1 ? ' is' : 's are'} missing (${topics.join(', ')}) and ` +
        'kafka.create_topics is false: create them with winchester topics apply ' +
        '(or, under Kafka ACLs, they exist but this principal may not DESCRIBE them)',
    );
    this.name = 'MissingTopicsError';
  }
}

/**
 * Creates the topology's missing topics with the configured settings (auto-creation is off on
 * purpose), or with kafka.create_topics false refuses when any is missing; then checks that the
 * repartition topic has the configured partition count. Existing topics are not altered.
 */
export async function ensureTopics(admin: Admin, settings: TopologySettings): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = wantedTopics(settings).filter((t) => !existing.has(t.name));
  if (missing.length && !settings.createTopics) throw new MissingTopicsError(missing.map((t) => t.name));
  if (missing.length) {
    await createTopicsAndWait(admin, missing.map(topicCreation));
  }
  const { topics, partitions } = settings;
  const actual = await onceKnown(() => partitionCount(admin, topics.repartition));
  if (actual !== partitions.repartition) {
    throw new Error(
      `topic ${topics.repartition} has ${actual} partitions, configuration says ${partitions.repartition}`,
    );
  }
}

/**
 * A freshly started broker, or a topic created a moment ago, may answer "does not host this
 * topic-partition" for a few hundred milliseconds: ask again before giving up.
 */
async function onceKnown<T>(ask: () => Promise<T>, attempts = 15): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ask();
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable === true;
      if (!retriable || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/** ensureTopics through an admin client of its own, disconnected afterwards. */
export async function ensureTopicsOnce(kafka: Kafka, settings: TopologySettings): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, settings);
  } finally {
    await admin.disconnect();
  }
}

export async function partitionCount(admin: Admin, topic: string): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  return meta.topics[0].partitions.length;
}

/** The named topics that exist, with partitions, replication and configs, and the broker count. */
export async function readClusterTopics(
  admin: Admin,
  names: string[],
): Promise<Omit<ClusterTopics, 'matcherPartitions'>> {
  const existing = new Set(await admin.listTopics());
  const present = [...new Set(names.filter((name) => existing.has(name)))];
  const { brokers } = await admin.describeCluster();
  const topics = new Map<string, ActualTopic>();
  if (!present.length) return { topics, brokers: brokers.length };
  const metadata = await onceKnown(() => admin.fetchTopicMetadata({ topics: present }));
  const described = await onceKnown(() =>
    admin.describeConfigs({
      resources: present.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      includeSynonyms: false,
    }),
  );
  const configsOf = new Map(described.resources.map((r) => [r.resourceName, r.configEntries]));
  for (const topic of metadata.topics) {
    const entries = configsOf.get(topic.name) ?? [];
    topics.set(topic.name, {
      name: topic.name,
      partitions: topic.partitions.length,
      replicationFactor: Math.min(...topic.partitions.map((p) => p.replicas.length)),
      configs: Object.fromEntries(
        entries.filter((e) => e.configValue !== null).map((e) => [e.configName, e.configValue]),
      ),
      topicOverrides: Object.fromEntries(
        entries
          .filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG)
          .map((e) => [e.configName, e.isSensitive ? null : e.configValue]),
      ),
    });
  }
  return { topics, brokers: brokers.length };
}

/** Carries out apply's steps: creations, then config alterations, then partition increases. */
export async function applyTopicSteps(admin: Admin, steps: ApplySteps): Promise<void> {
  if (steps.create.length) {
    await createTopicsAndWait(admin, steps.create.map(topicCreation));
  }
  if (steps.alter.length) {
    // kafkajs speaks AlterConfigs only (not IncrementalAlterConfigs), which replaces every config
    // set on the topic: each request repeats those the topic has, with the changes.
    await admin.alterConfigs({
      validateOnly: false,
      resources: steps.alter.map((alteration) => ({
        type: ConfigResourceTypes.TOPIC,
        name: alteration.topic,
        configEntries: alteredConfigEntries(alteration),
      })),
    });
  }
  if (steps.grow.length) {
    await admin.createPartitions({
      topicPartitions: steps.grow.map((g) => ({ topic: g.topic, count: g.to })),
    });
  }
}
