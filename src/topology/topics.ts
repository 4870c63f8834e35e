import { Admin, ITopicConfig, Kafka } from 'kafkajs';
import { TopologySettings } from '../config/topology-settings';

/** Creates the topology's topics (auto-creation is off on purpose) and checks existing ones. */
export async function ensureTopics(admin: Admin, settings: TopologySettings): Promise<void> {
  const { topics, partitions } = settings;
  const big = { name: 'max.message.bytes', value: String(settings.maxRecordBytes + 64 * 1024) };
  const wanted: ITopicConfig[] = [
    ...(settings.inputPattern
      ? []
      : settings.inputTopics.map((topic) => ({ topic, numPartitions: partitions.events }))),
    { topic: topics.events, numPartitions: partitions.events },
    { topic: topics.repartition, numPartitions: partitions.repartition },
    { topic: topics.streams, numPartitions: partitions.streams, configEntries: [big] },
    { topic: topics.completed, numPartitions: partitions.streams },
    { topic: topics.streamsErrors, numPartitions: partitions.streams },
    { topic: topics.notificationsDlq, numPartitions: 1, configEntries: [big] },
    { topic: topics.eventsDlq, numPartitions: 1, configEntries: [big] },
    { topic: topics.streamsDlq, numPartitions: 1, configEntries: [big] },
    { topic: topics.archiverDlq, numPartitions: 1, configEntries: [big] },
  ];
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length) {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  }
  const actual = await partitionCountOnceKnown(admin, topics.repartition);
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
async function partitionCountOnceKnown(admin: Admin, topic: string, attempts = 15): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await partitionCount(admin, topic);
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
