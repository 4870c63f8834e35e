import { Producer } from 'kafkajs';
import { newTraits, toCanonicalJson, WinchesterEvent } from '../../src/events/event';
import { fromWire } from '../../src/events/wire';
import { createKafka } from '../../src/kafka/client';
import { HandlerContext } from '../../src/pipeline/handler';
import { kafkaHandler, notabeneHandler } from '../../src/pipeline/handlers/kafka';
import { usageHandler } from '../../src/pipeline/handlers/usage';
import { createProducer, sendAll } from '../../src/topology/role-runner';
import { datetime, makeEvent, recordingContext, testEnv } from '../fixtures/pipeline/handler-context';
import { testNamespace } from '../support/namespace';

const ns = testNamespace();
const kafka = createKafka(ns.settings, ns.prefix);
let producer: Producer;

beforeAll(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: ['verdicts', 'monitor.info'].map((t) => ({ topic: ns.topic(t), numPartitions: 2 })),
    waitForLeaders: true,
  });
  await admin.disconnect();
  producer = createProducer(kafka);
  await producer.connect();
});
afterAll(async () => {
  await producer.disconnect();
});

/** The worker's wiring: context.publish sends with acks from all in-sync replicas. */
function brokerContext(): HandlerContext {
  const { context } = recordingContext();
  return { ...context, publish: (topic, messages) => sendAll(producer, topic, messages) };
}

async function consume(topic: string, count: number): Promise<Array<{ key: string | null; value: string }>> {
  const consumer = kafka.consumer({ groupId: `${ns.prefix}.${topic}.reader` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const received: Array<{ key: string | null; value: string }> = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${count} records`)), 30000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        received.push({ key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' });
        if (received.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return received;
}

const EOD = {
  audit_period_beginning: datetime('2014-12-30T00:00:00'),
  audit_period_ending: datetime('2014-12-31T00:00:00'),
};

function dayOfInstance(instance: string): WinchesterEvent[] {
  return [
    makeEvent('compute.instance.update', `${instance}-u1`, { instance_id: instance }),
    makeEvent('compute.instance.exists', `${instance}-e1`, {
      ...EOD,
      instance_id: instance,
      state: 'stopped',
    }),
    makeEvent('compute.instance.exists', `${instance}-e2`, {
      ...EOD,
      instance_id: instance,
      deleted_at: datetime('2014-12-30T05:00:00'),
    }),
  ];
}

describe('kafka handler against the real broker', () => {
  test('usage → kafka: the verdicts of a stream reach the topic in commit, keyed by message id', async () => {
    const context = brokerContext();
    const env = testEnv();
    const usage = usageHandler.create({}, context);
    const publisher = kafkaHandler.create(
      {
        topic: ns.topic('verdicts'),
        event_types: ['compute.instance.exists.verified', 'compute.instance.exists.failed'],
      },
      context,
    );
    const out = await publisher.handleEvents(await usage.handleEvents(dayOfInstance('i1'), env), env);
    const verdicts = out.filter((e) => e.event_type.startsWith('compute.instance.exists.'));
    expect(verdicts.map((e) => e.event_type)).toEqual([
      'compute.instance.exists.verified',
      'compute.instance.exists.failed',
    ]);
    await usage.commit();
    await publisher.commit();
    const received = await consume(ns.topic('verdicts'), 2);
    expect(received.sort((a, b) => a.value.localeCompare(b.value))).toEqual(
      verdicts
        .map((e) => ({ key: e.message_id, value: toCanonicalJson(e) }))
        .sort((a, b) => a.value.localeCompare(b.value)),
    );
  });

  test("notabene with upstream's params: env usage_notifications to the queue_name topic, wire format round-trips", async () => {
    const context = brokerContext();
    const env = testEnv();
    const usage = usageHandler.create({}, context);
    const notabene = notabeneHandler.create(
      {
        host: 'localhost',
        exchange: 'nova',
        queue_name: ns.topic('monitor.info'),
        env_keys: ['usage_notifications'],
        format: 'wire',
      },
      context,
    );
    await notabene.handleEvents(await usage.handleEvents(dayOfInstance('i2'), env), env);
    await notabene.commit();
    const sent = env.usage_notifications as WinchesterEvent[];
    expect(sent).toHaveLength(2);
    const received = await consume(ns.topic('monitor.info'), 2);
    const decoded = received.map((r) => fromWire(JSON.parse(r.value)));
    const byId = (a: WinchesterEvent, b: WinchesterEvent) => a.message_id.localeCompare(b.message_id);
    expect(decoded.sort(byId)).toEqual(
      sent.map((e) => ({ ...e, traits: Object.assign(newTraits(), e.traits) })).sort(byId),
    );
    expect(received.map((r) => r.key).sort()).toEqual(sent.map((e) => e.message_id).sort());
  });

  test('a topic that does not exist makes commit throw (the runner counts it)', async () => {
    const strict = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 1 } });
    await strict.connect();
    try {
      const { context } = recordingContext({
        publish: (topic, messages) =>
          strict.send({ topic, acks: -1, messages, timeout: 3000 }).then(() => undefined),
      });
      const publisher = kafkaHandler.create({ topic: ns.topic('never-created') }, context);
      await publisher.handleEvents([makeEvent('a.b', 'm1')], testEnv());
      await expect(publisher.commit()).rejects.toThrow();
    } finally {
      await strict.disconnect();
    }
  });
});
