import { Admin, ITopicConfig } from 'kafkajs';
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
    { topic: topics.notificationsDlq, numPartitions: 1, configEntries: [big] },
    { topic: topics.eventsDlq, numPartitions: 1, configEntries: [big] },
    { topic: topics.streamsDlq, numPartitions: 1, configEntries: [big] },
  ];
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length) {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  }
  const meta = await admin.fetchTopicMetadata({ topics: [topics.repartition] });
  const actual = meta.topics[0].partitions.length;
  if (actual !== partitions.repartition) {
    throw new Error(
      `topic ${topics.repartition} has ${actual} partitions, configuration says ${partitions.repartition}`,
    );
  }
}

export async function partitionCount(admin: Admin, topic: string): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  return meta.topics[0].partitions.length;
}
