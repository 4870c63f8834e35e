import { parseWinchesterConfig } from '../../../src/config/winchester-config';
import { defaultBridgeSettings, OPENSTACK_EXCHANGES, queuePlan } from '../../../src/config/bridge-settings';

const parse = (text: string) => parseWinchesterConfig(text, 'winchester.yaml', {});

describe('the bridge: section of winchester.yaml', () => {
  test('absent: oslo.messaging defaults (control exchanges, notifications topic, not durable)', () => {
    const { bridge } = parse('log_level: info\n');
    expect(bridge.exchanges).toEqual(OPENSTACK_EXCHANGES);
    expect(bridge.topics).toEqual(['notifications']);
    expect(bridge.priorities).toEqual(['audit', 'critical', 'error', 'info', 'warn']);
    expect(bridge).toMatchObject({ durable: false, quorum: false, prefetch: 2000 });
    expect(bridge.pool).toBeUndefined();
  });

  test('every key is read, priorities in any case', () => {
    const { bridge, warnings } = parse(
      [
        'bridge:',
        '  exchanges: [nova, neutron]',
        '  topics: [notifications, monitor]',
        '  priorities: [INFO, Error]',
        '  durable: true',
        '  quorum: true',
        '  pool: winchester',
        '  prefetch: 100',
        '  output_topic: raw.notifications',
        '  batch_messages: 50',
        '  batch_bytes: 65536',
        '  linger_ms: 0',
        '  json_check: full',
        '  colour: blue',
      ].join('\n'),
    );
    expect(bridge).toEqual({
      exchanges: ['nova', 'neutron'],
      topics: ['notifications', 'monitor'],
      priorities: ['info', 'error'],
      durable: true,
      quorum: true,
      pool: 'winchester',
      prefetch: 100,
      outputTopic: 'raw.notifications',
      batchMessages: 50,
      batchBytes: 65536,
      lingerMs: 0,
      jsonCheck: 'full',
    });
    expect(warnings).toEqual(['winchester.yaml:14: unknown setting bridge.colour ignored']);
  });

  test.each([
    ['bridge: [nova]', 'winchester.yaml:1: bridge: expected a mapping'],
    ['bridge:\n  exchanges: []', 'winchester.yaml:2: bridge.exchanges: expected a non-empty list of names'],
    ['bridge:\n  exchanges: [nova, "a b"]', 'winchester.yaml:2: bridge.exchanges: expected a non-empty list'],
    ['bridge:\n  priorities: [info, loud]', 'winchester.yaml:2: bridge.priorities.1: expected one of audit'],
    [
      'bridge:\n  prefetch: 0',
      'winchester.yaml:2: bridge.prefetch: expected an integer from 1 to 65535, got 0',
    ],
    ['bridge:\n  durable: "yes"', 'winchester.yaml:2: bridge.durable: expected true or false, got "yes"'],
    ['bridge:\n  pool: 7', 'winchester.yaml:2: bridge.pool: expected a name'],
    [
      'bridge:\n  json_check: strict',
      'winchester.yaml:2: bridge.json_check: expected shape or full, got "strict"',
    ],
  ])('%j fails at its line', (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });
});

test('quorum queues are durable, as oslo makes them whatever amqp_durable_queues says', () => {
  expect(parse('bridge:\n  durable: false\n  quorum: true\n').bridge).toMatchObject({
    durable: true,
    quorum: true,
  });
});

describe('queuePlan: the queues and bindings oslo.messaging listeners use', () => {
  const settings = defaultBridgeSettings({ exchanges: ['nova', 'neutron'], priorities: ['info', 'error'] });

  test('without a pool: one queue per <topic>.<priority>, bound to that key on every exchange', () => {
    expect(queuePlan(settings)).toEqual([
      {
        name: 'notifications.info',
        bindings: [
          { exchange: 'nova', routingKey: 'notifications.info' },
          { exchange: 'neutron', routingKey: 'notifications.info' },
        ],
      },
      {
        name: 'notifications.error',
        bindings: [
          { exchange: 'nova', routingKey: 'notifications.error' },
          { exchange: 'neutron', routingKey: 'notifications.error' },
        ],
      },
    ]);
  });

  test('with a pool: one queue of that name bound to every key on every exchange', () => {
    const [pool, ...rest] = queuePlan({ ...settings, pool: 'winchester' });
    expect(rest).toEqual([]);
    expect(pool.name).toBe('winchester');
    expect(pool.bindings).toHaveLength(4);
  });
});
