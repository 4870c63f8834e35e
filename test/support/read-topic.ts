import { Kafka, KafkaMessage } from 'kafkajs';
import { waitFor } from './topology-harness';

/** Reads a topic from the beginning through a group of its own until at least `atLeast` records came. */
export async function readTopic(kafka: Kafka, topic: string, atLeast: number): Promise<KafkaMessage[]> {
  const messages: KafkaMessage[] = [];
  const consumer = kafka.consumer({ groupId: `${topic}.reader.${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
  await waitFor(() => messages.length >= atLeast, 30000);
  await consumer.disconnect();
  return messages;
}
