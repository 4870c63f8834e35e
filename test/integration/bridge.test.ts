import { deflateSync } from 'node:zlib';
import * as amqp from 'amqplib';
import { KafkaMessage } from 'kafkajs';
import { startBridge, BridgeRole } from '../../src/bridge/bridge-role';
import { BridgeSettings, defaultBridgeSettings } from '../../src/config/bridge-settings';
import { WinchesterMetrics } from '../../src/metrics/metrics';
import { headerString, notificationKey } from '../../src/topology/records';
import { sampleCorpus } from '../support/corpus';
import { testNamespace } from '../support/namespace';
import { amqpUrl } from '../support/stack';
import { startRelay } from '../support/tcp-relay';
import { topologyFixture, waitFor } from '../support/topology-harness';

const ns = testNamespace();

/** Bridge settings whose exchanges and queues belong to this test alone. */
function isolated(name: string, overrides: Partial<BridgeSettings> = {}): BridgeSettings {
  return defaultBridgeSettings({
    exchanges: [`${ns.prefix}.${name}.nova`, `${ns.prefix}.${name}.neutron`],
    topics: [`${ns.prefix}.${name}.notifications`],
    priorities: ['info', 'error'],
    ...overrides,
  });
}

/** Publishes as oslo.messaging's rabbit driver does: persistent JSON on a topic exchange. */
async function publish(
  url: string,
  exchange: string,
  routingKey: string,
  bodies: (string | Buffer)[],
  headers?: Record<string, unknown>,
): Promise<void> {
  const connection = await amqp.connect(url);
  const channel = await connection.createConfirmChannel();
  for (const body of bodies) {
    channel.publish(exchange, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body), {
      persistent: true,
      contentType: 'application/json',
      headers,
    });
  }
  await channel.waitForConfirms();
  await connection.close();
}

/** Reads `topic` from the start until `count` records came (or the time is up). */
async function readRecords(
  kafka: Awaited<ReturnType<typeof topologyFixture>>['kafka'],
  topic: string,
  count: number,
  timeoutMs = 60000,
): Promise<KafkaMessage[]> {
  const messages: KafkaMessage[] = [];
  const consumer = kafka.consumer({ groupId: `${topic}.reader.${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void messages.push(message) });
  try {
    await waitFor(() => messages.length >= count, timeoutMs);
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/** A topic of the test's own for the bridge to produce to, so it reads back only its own records. */
async function ownTopic(
  kafka: Awaited<ReturnType<typeof topologyFixture>>['kafka'],
  name: string,
): Promise<string> {
  const topic = `${ns.prefix}.${name}.input`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  return topic;
}

/** Ready (unacknowledged ones not counted) messages in a queue. */
async function readyMessages(url: string, queue: string): Promise<number> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    return (await channel.checkQueue(queue)).messageCount;
  } finally {
    await connection.close();
  }
}

const messageIds = (records: KafkaMessage[]) =>
  records.map((r) => {
    const outer = JSON.parse(r.value!.toString()) as Record<string, unknown>;
    const inner = typeof outer['oslo.message'] === 'string' ? JSON.parse(outer['oslo.message']) : outer;
    return (inner as { message_id: string }).message_id;
  });

/** oslo's v2 envelope, as the rabbit and kafka drivers send a notification. */
const envelope = (notification: string) =>
  JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': notification });

describe('winchester bridge: RabbitMQ → the input topic', () => {
  let bridge: BridgeRole | undefined;
  afterEach(async () => {
    await bridge?.stop();
    bridge = undefined;
  });

  test('OpenStack notification queues reach the input topic unchanged and keyed; bad messages go to the DLQ, acknowledged', async () => {
    const { kafka, settings } = await topologyFixture(ns, { maxRecordBytes: 64 * 1024 });
    const metrics = new WinchesterMetrics('bridge');
    const layout = isolated('flow');
    bridge = await startBridge(kafka, amqpUrl(), settings, layout, { metrics });
    const corpus = sampleCorpus().slice(0, 200);
    const [nova, neutron] = layout.exchanges;
    const topic = layout.topics[0];
    await publish(amqpUrl(), nova, `${topic}.info`, corpus.slice(0, 100));
    await publish(amqpUrl(), neutron, `${topic}.error`, corpus.slice(100, 150).map(envelope));
    await publish(amqpUrl(), nova, `${topic}.info`, [deflateSync(corpus[150])], {
      compression: 'application/x-gzip',
    });
    const bad = [
      '{"event_type": "compute.instance.update", ',
      '[1, 2, 3]',
      Buffer.from([0xff, 0xfe, 0x00]),
      JSON.stringify({ message_id: 'huge', payload: { blob: 'x'.repeat(70 * 1024) } }),
    ];
    await publish(amqpUrl(), nova, `${topic}.info`, bad);
    await publish(amqpUrl(), nova, `${topic}.info`, [Buffer.from('BZh9')], {
      compression: 'application/x-bz2',
    });
    // A priority the bridge is not configured for has no queue of its: RabbitMQ routes it nowhere.
    await publish(amqpUrl(), nova, `${topic}.debug`, corpus.slice(151, 153));

    const records = await readRecords(kafka, settings.inputTopics[0], 151);
    expect(records).toHaveLength(151);
    const sent = [...corpus.slice(0, 100), ...corpus.slice(100, 150).map(envelope), corpus[150]];
    expect(records.map((r) => r.value!.toString()).sort()).toEqual([...sent].sort());
    for (const r of records) expect(r.key?.toString() ?? null).toBe(notificationKey(r.value!.toString()));
    expect(records.filter((r) => r.key !== null)).toHaveLength(151);

    const dlq = await readRecords(kafka, settings.topics.notificationsDlq, 5);
    const reasons = dlq.map((m) => headerString(m.headers, 'dlq.reason')!);
    expect(reasons.filter((r) => r.startsWith('invalid-json'))).toHaveLength(3);
    expect(reasons.filter((r) => r.startsWith('oversized'))).toHaveLength(1);
    expect(reasons.filter((r) => r.startsWith('compression: compression application/x-bz2'))).toHaveLength(1);
    for (const m of dlq) {
      expect(headerString(m.headers, 'dlq.source.exchange')).toBe(nova);
      expect(headerString(m.headers, 'dlq.source.routing-key')).toBe(`${topic}.info`);
      expect(headerString(m.headers, 'dlq.target.topic')).toBe(settings.inputTopics[0]);
    }
    await waitFor(() => bridge!.counters.produced + bridge!.counters.deadLettered === 156, 10000);
    expect(bridge.counters).toMatchObject({ received: 156, produced: 151, deadLettered: 5 });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/winchester_bridge_messages_total\{outcome="produced",role="bridge"\} 151/);
    expect(text).toMatch(/winchester_bridge_messages_total\{outcome="dead_lettered",role="bridge"\} 5/);
    expect(text).toMatch(
      /winchester_dlq_records_total\{topic="[^"]+notifications\.dlq",reason="invalid-json",role="bridge"\} 3/,
    );
    expect(text).toMatch(/winchester_bridge_unacked_messages\{role="bridge"\} 0/);
    expect(await readyMessages(amqpUrl(), `${topic}.info`)).toBe(0);
  }, 120000);

  test('nothing is acknowledged before Kafka has it: a send that keeps failing leaves the messages in RabbitMQ', async () => {
    const { kafka, settings } = await topologyFixture(ns);
    const layout = isolated('unacked', { outputTopic: `${ns.prefix}.not-yet-created` });
    bridge = await startBridge(kafka, amqpUrl(), settings, layout, { stopTimeoutMs: 1000 });
    const corpus = sampleCorpus().slice(0, 50);
    await publish(amqpUrl(), layout.exchanges[0], `${layout.topics[0]}.info`, corpus);
    await waitFor(() => bridge!.counters.received === 50 && bridge!.counters.kafkaRetries >= 1, 30000);
    expect(bridge.counters.produced).toBe(0);
    await bridge.stop();
    bridge = undefined;
    // The connection closed with all 50 unacknowledged: RabbitMQ holds them again.
    await waitFor(async () => (await readyMessages(amqpUrl(), `${layout.topics[0]}.info`)) === 50, 10000);

    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [{ topic: layout.outputTopic!, numPartitions: 3 }],
      waitForLeaders: true,
    });
    await admin.disconnect();
    bridge = await startBridge(kafka, amqpUrl(), settings, layout);
    const records = await readRecords(kafka, layout.outputTopic!, 50);
    expect(messageIds(records).sort()).toEqual(
      messageIds(corpus.map((value) => ({ value: Buffer.from(value) }) as KafkaMessage)).sort(),
    );
    await waitFor(() => bridge!.counters.produced === 50, 10000);
    expect(bridge.counters.redelivered).toBe(50);
  }, 120000);

  test('a channel lost while a partial batch lingers: the bridge keeps forwarding afterwards', async () => {
    const { kafka, settings } = await topologyFixture(ns);
    const target = new URL(amqpUrl());
    const relay = await startRelay(`${target.hostname}:${target.port}`);
    const layout = isolated('linger', { lingerMs: 1500, outputTopic: await ownTopic(kafka, 'linger') });
    const corpus = sampleCorpus().slice(0, 10);
    try {
      bridge = await startBridge(kafka, `amqp://guest:guest@${relay.connectString}`, settings, layout);
      await publish(amqpUrl(), layout.exchanges[0], `${layout.topics[0]}.info`, corpus.slice(0, 5));
      await waitFor(() => bridge!.counters.received === 5, 10000);
      relay.cut(); // before the linger time: the partial batch is dropped, its timer with it
      relay.restore();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await publish(amqpUrl(), layout.exchanges[0], `${layout.topics[0]}.info`, corpus.slice(5));
      await waitFor(() => bridge!.counters.produced === 10, 30000);
      const records = await readRecords(kafka, layout.outputTopic!, 10);
      expect(new Set(messageIds(records)).size).toBe(10);
    } finally {
      await bridge?.stop();
      bridge = undefined;
      await relay.close();
    }
  }, 120000);

  test('a connection cut mid-stream: the bridge reconnects, redelivered messages arrive, none is lost', async () => {
    const { kafka, settings } = await topologyFixture(ns);
    const target = new URL(amqpUrl());
    const relay = await startRelay(`${target.hostname}:${target.port}`);
    const viaRelay = `amqp://guest:guest@${relay.connectString}`;
    const layout = isolated('cut', {
      prefetch: 100,
      lingerMs: 50,
      outputTopic: await ownTopic(kafka, 'cut'),
    });
    try {
      bridge = await startBridge(kafka, viaRelay, settings, layout);
      const corpus = sampleCorpus().slice(0, 1000);
      await publish(amqpUrl(), layout.exchanges[0], `${layout.topics[0]}.info`, corpus.slice(0, 500));
      await waitFor(() => bridge!.counters.produced > 0, 30000);
      relay.cut();
      await new Promise((resolve) => setTimeout(resolve, 300));
      relay.restore();
      await publish(amqpUrl(), layout.exchanges[1], `${layout.topics[0]}.info`, corpus.slice(500));
      await waitFor(() => bridge!.counters.produced >= 1000 && bridge!.counters.reconnects >= 1, 60000);
      const records = await readRecords(kafka, layout.outputTopic!, 1000);
      const ids = new Set(messageIds(records));
      expect(ids.size).toBe(1000);
      expect(await readyMessages(amqpUrl(), `${layout.topics[0]}.info`)).toBe(0);
    } finally {
      await bridge?.stop();
      bridge = undefined;
      await relay.close();
    }
  }, 120000);
});
