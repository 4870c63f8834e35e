import { Kafka } from 'kafkajs';
import { encodeRepartition } from './records';

/**
 * Moves the event clock of every repartition partition to `to`: an \`advance\` marker, in the
 * matcher's own record format, on each partition (the end of a replay, when idle sources
 * would otherwise hold the watermark back).
 */
export async function advanceEventClock(kafka: Kafka, repartitionTopic: string, to: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  const meta = await admin.fetchTopicMetadata({ topics: [repartitionTopic] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: repartitionTopic,
    acks: -1,
    messages: meta.topics[0].partitions.map((p) => ({
      partition: p.partitionId,
      value: encodeRepartition({ type: 'advance', to }),
    })),
  });
  await producer.disconnect();
}

export async function topicExists(kafka: Kafka, topic: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect();
  }
}
