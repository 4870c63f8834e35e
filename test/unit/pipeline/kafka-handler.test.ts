import { toCanonicalJson } from '../../../src/events/event';
import { encodeEvent } from '../../../src/events/wire';
import { HandlerParamsError } from '../../../src/pipeline/handler';
import { kafkaHandler, notabeneHandler } from '../../../src/pipeline/handlers/kafka';
import { makeEvent, recordingContext, testEnv } from '../../fixtures/pipeline/handler-context';

const events = [
  makeEvent('compute.instance.create.end', 'c1', { instance_id: 'i1' }),
  makeEvent('compute.instance.exists.verified', 'v1', { instance_id: 'i1' }),
  makeEvent('compute.instance.exists.failed', 'f1', { instance_id: 'i1' }),
];

async function run(params: Record<string, unknown>, env = testEnv(), opts: { dryRun?: boolean } = {}) {
  const recording = recordingContext(opts);
  const handler = kafkaHandler.create(params, recording.context);
  expect(await handler.handleEvents(events, env)).toBe(events);
  await handler.commit();
  return recording;
}

describe('kafka handler', () => {
  test('publishes every event of the stream by default, canonical JSON keyed by message id, in one batch', async () => {
    const { published } = await run({ topic: 'usage.out' });
    expect(published).toEqual([
      { topic: 'usage.out', messages: events.map((e) => ({ key: e.message_id, value: toCanonicalJson(e) })) },
    ]);
  });

  test('event_types selects events; wire format and stream keys on request', async () => {
    const { published } = await run({
      topic: 'verdicts',
      event_types: ['compute.instance.exists.*', '!*.failed'],
      format: 'wire',
      key: 'stream_id',
    });
    expect(published).toEqual([
      { topic: 'verdicts', messages: [{ key: '3.0f8e7a9c-stream', value: encodeEvent(events[1]) }] },
    ]);
    const none = await run({ topic: 'verdicts', event_types: 'nothing.matches', key: 'none' });
    expect(none.published).toEqual([]);
  });

  test('env_keys publish what earlier handlers left in env (like notabene), and no events unless asked', async () => {
    const env = testEnv({
      usage_notifications: [events[1], { event_type: 'custom', message_id: 'n1', payload: { a: 1 } }],
      single: { event_type: 'one' },
    });
    const { published } = await run(
      { topic: 'monitor.info', env_keys: ['usage_notifications', 'single', 'absent'] },
      env,
    );
    expect(published).toEqual([
      {
        topic: 'monitor.info',
        messages: [
          { key: 'v1', value: toCanonicalJson(events[1]) },
          { key: 'n1', value: '{"event_type":"custom","message_id":"n1","payload":{"a":1}}' },
          { key: null, value: '{"event_type":"one"}' },
        ],
      },
    ]);
    const both = await run({ topic: 't', env_keys: ['single'], event_types: ['*.failed'] }, env);
    expect(both.published[0].messages.map((m) => m.key)).toEqual(['f1', null]);
  });

  test('a value that is not JSON fails handleEvents, before anything is published', () => {
    const { context, published } = recordingContext();
    const handler = kafkaHandler.create({ topic: 't', env_keys: ['bad'] }, context);
    expect(() => handler.handleEvents(events, testEnv({ bad: [10n] }))).toThrow();
    expect(published).toEqual([]);
  });

  test('rollback drops what was collected', async () => {
    const { context, published } = recordingContext();
    const handler = kafkaHandler.create({ topic: 't' }, context);
    handler.handleEvents(events, testEnv());
    handler.rollback();
    await handler.commit();
    expect(published).toEqual([]);
  });

  test('a publish failure makes commit throw', async () => {
    const { context } = recordingContext({
      publish: async () => {
        throw new Error('broker down');
      },
    });
    const handler = kafkaHandler.create({ topic: 't' }, context);
    handler.handleEvents(events, testEnv());
    await expect(handler.commit()).rejects.toThrow('broker down');
  });

  test('a dry run logs and publishes nothing', async () => {
    const { published, lines } = await run({ topic: 'usage.out' }, testEnv(), { dryRun: true });
    expect(published).toEqual([]);
    const line = lines.find((l) => l.msg === 'kafka (dry run): would publish 3 messages to usage.out');
    expect(line).toMatchObject({ topic: 'usage.out', count: 3, keys: ['c1', 'v1', 'f1'] });
  });

  test('params: a topic is required and must be a topic name; other mistakes are named', () => {
    const invalid = (params: Record<string, unknown>) => () => kafkaHandler.validateParams!(params);
    expect(invalid({})).toThrow(HandlerParamsError);
    expect(invalid({})).toThrow(
      'handler kafka: param topic: expected a non-empty string (it is required), got nothing',
    );
    expect(invalid({ topic: 'a b' })).toThrow('param topic: expected a Kafka topic name');
    expect(invalid({ topic: 't', format: 'avro' })).toThrow('param format: expected one of canonical, wire');
    expect(invalid({ topic: 't', key: 'id' })).toThrow(
      'param key: expected one of message_id, stream_id, none',
    );
    expect(invalid({ topic: 't', env_keys: 'x' })).toThrow('param env_keys: expected a list of strings');
    expect(invalid({ topic: 't', queue_name: 'q' })).toThrow('unknown param queue_name');
    expect(invalid({ topic: 't', exchange: 'nova' })).toThrow('unknown param exchange');
  });
});

describe('notabene (upstream name of the publisher)', () => {
  test("upstream's pipeline params load: queue_name is the topic, RabbitMQ settings are ignored", async () => {
    // stacktach-sandbox's winchester/pipelines.yaml
    const params = {
      host: 'localhost',
      user: 'guest',
      password: 'guest',
      port: 5672,
      vhost: '/',
      library: 'librabbitmq',
      exchange: 'nova',
      exchange_type: 'topic',
      queue_name: 'monitor.info',
      env_keys: ['usage_notifications'],
    };
    expect(() => notabeneHandler.validateParams!(params)).not.toThrow();
    const { context, published } = recordingContext();
    const handler = notabeneHandler.create(params, context);
    handler.handleEvents(events, testEnv({ usage_notifications: [events[1]] }));
    await handler.commit();
    expect(published).toEqual([
      { topic: 'monitor.info', messages: [{ key: 'v1', value: toCanonicalJson(events[1]) }] },
    ]);
  });

  test('like upstream, a queue_name (or topic) is required', () => {
    expect(() => notabeneHandler.validateParams!({ exchange: 'nova' })).toThrow(
      'handler notabene: param topic: expected a non-empty string',
    );
    expect(() => notabeneHandler.validateParams!({ topic: 'a', queue_name: 'b' })).toThrow(
      'only one of topic and queue_name',
    );
  });
});
