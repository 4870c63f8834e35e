import { Kafka, Message } from 'kafkajs';
import { createKafka } from '../../src/kafka/client';
import { registerCompressionCodecs } from '../../src/kafka/codecs';
import { StreamRecord } from '../../src/streams/model';
import { encodeRepartition } from '../../src/topology/records';
import { topologyDecoders } from '../../src/topology/serialization';
import { defaultTopologySettings, TopologySettings } from '../../src/config/topology-settings';
import { ensureTopics } from '../../src/topology/topics';
import { TestNamespace } from './namespace';

export async function topologyFixture(
  ns: TestNamespace,
  overrides: Partial<TopologySettings> = {},
): Promise<{ kafka: Kafka; settings: TopologySettings }> {
  await registerCompressionCodecs();
  const kafka = createKafka(ns.settings, ns.prefix);
  const settings = defaultTopologySettings({ namespace: ns.prefix, sessionTimeoutMs: 6000, ...overrides });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, settings);
  await admin.disconnect();
  return { kafka, settings };
}

export async function produce(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < messages.length; i += 1000) {
    await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 1000) });
  }
  await producer.disconnect();
}

/** `clock advance`: an advance record to every repartition partition. */
export async function advanceClock(kafka: Kafka, settings: TopologySettings, to: number): Promise<void> {
  const messages = Array.from({ length: settings.partitions.repartition }, (_, partition) => ({
    partition,
    value: encodeRepartition({ type: 'advance', to }),
  }));
  await produce(kafka, settings.topics.repartition, messages);
}

/** Reads a topic from the beginning until `done(records)` or the timeout. */
export async function collectStreams(
  kafka: Kafka,
  topic: string,
  done: (records: StreamRecord[]) => boolean,
  timeoutMs = 60000,
): Promise<StreamRecord[]> {
  const records: StreamRecord[] = [];
  // JSON or Avro, whichever the matcher wrote (Avro when a schema registry is set).
  const { streams } = topologyDecoders(process.env.SCHEMA_REGISTRY_URL || undefined);
  const consumer = kafka.consumer({ groupId: `${topic}.collector.${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  await consumer.run({
    eachMessage: async ({ message }) => {
      records.push(await streams.decode(message.value!));
      if (done(records)) finish();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([finished, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  await consumer.disconnect();
  return records;
}

/**
 * Every stream record once at least `expected` have come, after a moment for stragglers (a
 * double emission would show up then), read again from the beginning.
 */
export async function collectSettledStreams(
  kafka: Kafka,
  topic: string,
  expected: number,
): Promise<StreamRecord[]> {
  const first = await collectStreams(kafka, topic, (r) => r.length >= expected, 90000);
  await new Promise((r) => setTimeout(r, 1500));
  return collectStreams(kafka, topic, (r) => r.length >= first.length, 10000);
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
