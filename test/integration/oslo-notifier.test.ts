/**
 * OpenStack's own notifier, oslo.messaging (from PyPI, in a virtualenv of its own), feeding the
 * topology: over its rabbit driver through `winchester bridge`, and over its kafka driver
 * straight into an input topic. The events that come out are what the distiller makes of the
 * very records oslo put on the wire, and those carry the corpus's notifications; with a
 * RabbitMQ restart in the middle, every notification is stored in the event store once.
 */
import { join } from 'node:path';
import { Kafka, KafkaMessage } from 'kafkajs';
import pg from 'pg';
import { BridgeRole, startBridge } from '../../src/bridge/bridge-role';
import { defaultBridgeSettings, queuePlan } from '../../src/config/bridge-settings';
import { openEventStore } from '../../src/cli/event-store';
import { TopologySettings } from '../../src/config/topology-settings';
import { Distiller, loadEventDefinitions } from '../../src/distiller';
import { WinchesterEvent } from '../../src/events/event';
import { decodeEvent } from '../../src/events/wire';
import { startArchiver } from '../../src/topology/archiver-role';
import { DistillerRole, startDistiller } from '../../src/topology/distiller-role';
import { notificationKey } from '../../src/topology/records';
import { sampleCorpus } from '../support/corpus';
import { freshDatabase } from '../support/fresh-database';
import { testNamespace } from '../support/namespace';
import {
  kafkaTransportUrl,
  notifyWithOslo,
  OsloNotifier,
  OsloSend,
  osloPython,
  rabbitTransportUrl,
} from '../support/oslo-notifier';
import { PrivateRabbitmq } from '../support/oslo-rabbitmq';
import { readTopic } from '../support/read-topic';
import { amqpUrl, repoRoot } from '../support/stack';
import { topologyFixture, waitFor } from '../support/topology-harness';

const ns = testNamespace();
const definitions = join(repoRoot, 'topologies', 'example', 'event_definitions.yaml');

type Notification = Record<string, unknown> & { event_type: string; priority: string };

/**
 * Notifications of every event type in turn (the corpus is mostly compute.instance.update),
 * INFO and ERROR ones among them; consecutive calls give disjoint samples.
 */
function variedSample(corpus: string[]): (count: number) => string[] {
  const byType = new Map<string, string[]>();
  for (const line of corpus) {
    const type = (JSON.parse(line) as Notification).event_type;
    byType.set(type, [...(byType.get(type) ?? []), line]);
  }
  const groups = [...byType.values()];
  const order: string[] = [];
  for (let round = 0; order.length < corpus.length; round++)
    for (const group of groups) if (round < group.length) order.push(group[round]);
  let taken = 0;
  return (count) => order.slice(taken, (taken += count));
}

/** The notification inside a record: oslo's 2.0 envelope opened, when it has one. */
function osloMessage(text: string): Notification {
  const outer = JSON.parse(text) as Record<string, unknown>;
  if (outer['oslo.version'] === undefined) return outer as Notification;
  expect(outer['oslo.version']).toBe('2.0');
  return JSON.parse(outer['oslo.message'] as string) as Notification;
}

/** The request context oslo sent: flat `_context_*` keys (rabbit) or one `_context` (kafka). */
function contextOf(message: Notification): Record<string, unknown> {
  if (typeof message._context === 'object' && message._context)
    return message._context as Record<string, unknown>;
  const entries = Object.entries(message).filter(([key]) => key.startsWith('_context_'));
  return Object.fromEntries(entries.map(([key, value]) => [key.slice('_context_'.length), value]));
}

const messageIdOf = (record: KafkaMessage) => osloMessage(record.value!.toString()).message_id as string;

/**
 * Every notification oslo reported sent is on the input topic once (no other is), carrying
 * the corpus's publisher, event type, priority and payload, and a context oslo made of the
 * corpus's `_context_*` fields (redacted: no token).
 */
function expectCorpusOnTheWire(records: KafkaMessage[], sends: OsloSend[], sample: string[]): void {
  expect(records.map(messageIdOf).sort()).toEqual(sends.map((s) => s.messageId).sort());
  const byId = new Map(records.map((r) => [messageIdOf(r), osloMessage(r.value!.toString())]));
  for (const send of sends) {
    const original = JSON.parse(sample[send.index]) as Notification;
    const sent = byId.get(send.messageId)!;
    for (const field of ['publisher_id', 'event_type', 'priority', 'payload'])
      expect([send.index, field, sent[field]]).toEqual([send.index, field, original[field]]);
    expect(sent.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/);
    expect(contextOf(sent)).toMatchObject({
      user: original._context_user,
      project_id: original._context_project_id,
      request_id: original._context_request_id,
      roles: original._context_roles,
      is_admin: original._context_is_admin,
      auth_token: null,
    });
  }
}

/** The events on `events` are exactly what the pure distiller makes of the records oslo sent. */
async function expectDistilledAsOnTheWire(
  kafka: Kafka,
  settings: TopologySettings,
  distiller: Distiller,
  role: DistillerRole,
  records: KafkaMessage[],
): Promise<void> {
  const expected = new Map<string, WinchesterEvent>();
  for (const record of records) {
    const outcome = distiller.outcome(record.value!.toString());
    expect(outcome.kind).not.toBe('error');
    if (outcome.kind === 'event') expected.set(outcome.event.message_id, outcome.event);
  }
  expect(expected.size).toBeGreaterThan(records.length / 2);
  await waitFor(() => role.counters.distilled + role.counters.dropped === records.length, 60000);
  expect(role.counters.distilled).toBe(expected.size);
  expect(role.counters.dlq.size).toBe(0);
  const events = (await readTopic(kafka, settings.topics.events, expected.size)).map((m) =>
    decodeEvent(m.value!.toString()),
  );
  expect(events).toHaveLength(expected.size);
  for (const event of events) expect(event).toEqual(expected.get(event.message_id));
}

/** The records oslo's kafka driver sent: each topic read until as many came as were sent to it. */
async function readKafkaSends(kafka: Kafka, sends: OsloSend[]): Promise<KafkaMessage[]> {
  const records: KafkaMessage[] = [];
  for (const topic of new Set(sends.map((s) => s.topic))) {
    records.push(...(await readTopic(kafka, topic, sends.filter((s) => s.topic === topic).length)));
  }
  return records;
}

/** message_id → event_type of the sent notifications that the definitions make events of. */
function expectedEvents(distiller: Distiller, sends: OsloSend[], sent: string[]): [string, string][] {
  return sends.flatMap(({ index, messageId }): [string, string][] => {
    const outcome = distiller.outcome(sent[index]);
    return outcome.kind === 'event' ? [[messageId, outcome.event.event_type]] : [];
  });
}

async function createTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** message_id → event_type of every row of the event store's `events`. */
async function storedEvents(url: string): Promise<[string, string][]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ message_id: string; event_type: string }>(
      'SELECT message_id, event_type FROM events',
    );
    return rows.map((row) => [row.message_id, row.event_type]);
  } finally {
    await client.end();
  }
}

describe('oslo.messaging Notifier → winchester', () => {
  let python: string;
  let sample: (count: number) => string[];
  let distiller: Distiller;
  // What a test started, undone in reverse order after it, whether it passed or not.
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    const failures: unknown[] = [];
    for (const cleanup of cleanups.splice(0).reverse())
      await Promise.resolve(cleanup()).catch((e) => failures.push(e));
    if (failures.length) throw failures[0];
  });
  const started = <T extends { stop(): Promise<void> }>(role: T): T => {
    cleanups.push(() => role.stop());
    return role;
  };

  beforeAll(
    () => {
      python = osloPython();
      sample = variedSample(sampleCorpus());
      distiller = loadEventDefinitions(definitions);
    },
    10 * 60 * 1000,
  );

  const distill = async (kafka: Kafka, settings: TopologySettings) =>
    started(await startDistiller(kafka, settings, (text) => distiller.outcome(text)));

  test('the rabbit driver (1.0 messages, 2.0 envelopes, gzip) through the bridge: events as distilled from the wire', async () => {
    const prefix = `${ns.prefix}.rabbit`;
    const { kafka, settings } = await topologyFixture(ns, { namespace: prefix });
    const role = await distill(kafka, settings);
    const layout = defaultBridgeSettings({
      exchanges: [`${prefix}.nova`, `${prefix}.glance`],
      topics: [`${prefix}.notifications`],
      // oslo's default amqp_durable_queues=False: the bridge must declare alike.
      durable: false,
    });
    started(await startBridge(kafka, amqpUrl(), settings, layout));
    const notifications = sample(300);
    const url = rabbitTransportUrl(amqpUrl());
    const runs = [
      { driver: 'messaging', controlExchange: layout.exchanges[0] },
      { driver: 'messagingv2', controlExchange: layout.exchanges[1] },
      { driver: 'messagingv2', controlExchange: layout.exchanges[0], compression: 'gzip' },
    ] as const;
    const sent = await Promise.all(
      runs.map((run, i) =>
        notifyWithOslo(python, notifications.slice(i * 100, (i + 1) * 100), {
          url,
          topics: layout.topics,
          ...run,
        }),
      ),
    );
    const sends = sent.flatMap((run, i) => run.map((s) => ({ ...s, index: s.index + i * 100 })));
    expect(new Set(sends.map((s) => s.topic))).toEqual(
      new Set([`${prefix}.notifications.info`, `${prefix}.notifications.error`]),
    );

    const records = await readTopic(kafka, settings.inputTopics[0], 300);
    expectCorpusOnTheWire(records, sends, notifications);
    const v1 = new Set(sent[0].map((s) => s.messageId));
    for (const record of records) {
      const text = record.value!.toString();
      // 1.0 messages bare, 2.0 ones in the envelope; gzip'd bodies reach Kafka inflated.
      expect(text.startsWith('{"oslo.version": "2.0"')).toBe(!v1.has(messageIdOf(record)));
      expect(record.key?.toString()).toBe(notificationKey(text));
    }
    await expectDistilledAsOnTheWire(kafka, settings, distiller, role, records);
  }, 120000);

  test('the kafka driver straight into input topics: events as distilled from the wire', async () => {
    const prefix = `${ns.prefix}.kafka`;
    // oslo's kafka driver sends to `<topic>.<priority>`; the broker creates no topic itself.
    const inputTopics = [`${prefix}.oslo.info`, `${prefix}.oslo.error`];
    const { kafka, settings } = await topologyFixture(ns, { namespace: prefix, inputTopics });
    const role = await distill(kafka, settings);
    const notifications = sample(300);
    const sends = await notifyWithOslo(python, notifications, {
      url: kafkaTransportUrl(ns.settings.kafkaBrokers.join(',')),
      topics: [`${prefix}.oslo`],
    });
    expect(new Set(sends.map((s) => s.topic))).toEqual(new Set(inputTopics));

    const records = await readKafkaSends(kafka, sends);
    expectCorpusOnTheWire(records, sends, notifications);
    for (const record of records) {
      // The driver always wraps (2.0) and sends no key.
      expect(record.value!.toString().startsWith('{"oslo.version": "2.0"')).toBe(true);
      expect(record.key).toBeNull();
    }
    await expectDistilledAsOnTheWire(kafka, settings, distiller, role, records);
  }, 120000);

  /**
   * oslo sends `notifications` through a private RabbitMQ to the bridge, which restarts under
   * them: half are queued (durable) and the bridge holds some unacknowledged when RabbitMQ
   * stops (its topic, the first input topic, must not exist yet), the other half is sent while
   * RabbitMQ is down. `whileDown` runs meanwhile.
   */
  async function rabbitRestartUnderTheBridge(
    kafka: Kafka,
    settings: TopologySettings,
    notifications: string[],
    whileDown: () => void,
  ): Promise<{ bridge: BridgeRole; sends: OsloSend[]; queued: () => Promise<number> }> {
    const layout = defaultBridgeSettings({ exchanges: ['nova'], topics: ['notifications'], durable: true });
    const queues = queuePlan(layout).map((q) => q.name);
    const rabbit = await PrivateRabbitmq.start();
    cleanups.push(() => rabbit.remove());
    const half = notifications.length / 2;
    const notifier = OsloNotifier.start(python, notifications, {
      url: rabbitTransportUrl(rabbit.url),
      controlExchange: 'nova',
      durable: true,
      pauseAfter: [half],
    });
    cleanups.push(() => notifier.kill());
    // The first half waits in the durable queues oslo declared; the bridge takes some, and
    // holds them: its topic does not exist yet.
    await notifier.waitPaused(half);
    const bridge = started(await startBridge(kafka, rabbit.url, settings, layout));
    await waitFor(async () => bridge.counters.received + (await rabbit.ready(queues)) === half, 30000);
    expect(bridge.counters.received).toBeGreaterThan(0);
    await rabbit.stop();
    // The second half is sent while RabbitMQ is down: oslo blocks, reconnecting by itself.
    notifier.resume();
    whileDown();
    await rabbit.restart();
    const sends = await notifier.finished();
    expect(sends).toHaveLength(notifications.length);
    expect(notifier.stderr).toMatch(/Reconnected to AMQP server/);
    return { bridge, sends, queued: () => rabbit.ready(queues) };
  }

  test('a RabbitMQ restart in the middle (durable), the kafka driver beside it: every notification stored once', async () => {
    const prefix = `${ns.prefix}.store`;
    const kafkaTopics = [`${prefix}.oslo.info`, `${prefix}.oslo.error`];
    const fixture = await topologyFixture(ns, { namespace: prefix, inputTopics: kafkaTopics });
    const kafka = fixture.kafka;
    // The bridge's topic is created only once RabbitMQ is back.
    const bridged = `${prefix}.notifications`;
    const settings = { ...fixture.settings, inputTopics: [bridged, ...kafkaTopics] };
    const database = await freshDatabase();
    cleanups.push(() => database.drop());
    const viaRabbit = sample(600);
    const viaKafka = sample(300);
    let kafkaSending: Promise<OsloSend[]> | undefined;
    const { bridge, sends, queued } = await rabbitRestartUnderTheBridge(kafka, settings, viaRabbit, () => {
      kafkaSending = notifyWithOslo(python, viaKafka, {
        url: kafkaTransportUrl(ns.settings.kafkaBrokers.join(',')),
        topics: [`${prefix}.oslo`],
      });
    });
    const kafkaSends = await kafkaSending!;
    expect(kafkaSends).toHaveLength(300);

    await createTopic(kafka, bridged);
    await distill(kafka, settings);
    const store = await openEventStore(database.url, { createSchema: true });
    started(await startArchiver(kafka, settings, store));
    // Each notification the example definitions make an event of is stored, once.
    const expected = new Map([
      ...expectedEvents(distiller, sends, viaRabbit),
      ...expectedEvents(distiller, kafkaSends, viaKafka),
    ]);
    await waitFor(async () => (await storedEvents(database.url)).length >= expected.size, 90000);
    expect((await storedEvents(database.url)).sort()).toEqual([...expected.entries()].sort());
    expect(bridge.counters.deadLettered).toBe(0);
    expect(bridge.counters.reconnects).toBeGreaterThanOrEqual(1);
    expect(bridge.counters.redelivered).toBeGreaterThan(0);
    await waitFor(async () => (await queued()) === 0, 30000);
  }, 180000);
});
