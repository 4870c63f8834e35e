import { createKafka } from '../../src/kafka/client';
import { roundTrip } from '../../src/kafka/round-trip';
import { testNamespace } from '../support/namespace';

const ns = testNamespace();
const kafka = createKafka(ns.settings, ns.prefix);

describe('real Kafka broker', () => {
  test('admin creates topics with the requested partition counts', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topics = [
        { topic: ns.topic('three'), numPartitions: 3 },
        { topic: ns.topic('eight'), numPartitions: 8 },
      ];
      await admin.createTopics({ topics, waitForLeaders: true });
      const meta = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
      const counts = Object.fromEntries(meta.topics.map((t) => [t.name, t.partitions.length]));
      expect(counts).toEqual({ [ns.topic('three')]: 3, [ns.topic('eight')]: 8 });
      // Auto-creation is off: producing to an unknown topic fails instead of creating it.
      const producer = kafka.producer({ retry: { retries: 1 } });
      await producer.connect();
      await expect(
        producer.send({ topic: ns.topic('never-created'), messages: [{ value: 'x' }] }),
      ).rejects.toThrow();
      await producer.disconnect();
    } finally {
      await admin.disconnect();
    }
  });

  test('a 2-member consumer group round-trips 10,000 records with no loss', async () => {
    const report = await roundTrip(kafka, {
      topic: ns.topic('roundtrip'),
      partitions: 4,
      count: 10000,
      members: 2,
    });
    // Redeliveries across the rebalance are allowed by at-least-once; report them.
    process.stdout.write(
      `round trip: ${report.uniqueReceived}/${report.produced} unique, ${report.redelivered} redelivered, ` +
        `per member ${JSON.stringify(report.receivedByMember)}, ${report.seconds.toFixed(2)} s\n`,
    );
    expect(report.lost).toBe(0);
    expect(report.uniqueReceived).toBe(10000);
    // Both members took part: the group really rebalanced while consuming.
    expect(report.receivedByMember.every((n) => n > 0)).toBe(true);
  });
});
