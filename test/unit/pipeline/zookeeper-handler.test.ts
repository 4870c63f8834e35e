import { ConfigurationError } from '../../../src/config/errors';
import { parsePipelines } from '../../../src/pipeline/config';
import { HandlerParamsError } from '../../../src/pipeline/handler';
import { streamDocument } from '../../../src/pipeline/handlers/exec';
import { builtinHandlers } from '../../../src/pipeline/handlers/index';
import { TemplateSyntaxError, TraitTemplate } from '../../../src/pipeline/handlers/trait-template';
import {
  readZookeeperParams,
  StreamZnodeError,
  zookeeperConnectString,
  zookeeperHandler,
} from '../../../src/pipeline/handlers/zookeeper';
import {
  datetime,
  float,
  makeEvent,
  recordingContext,
  testEnv,
} from '../../fixtures/pipeline/handler-context';

const events = [
  makeEvent('compute.instance.create.end', 'c1', { instance_id: 'i-1', memory_mb: 512 }),
  makeEvent('compute.instance.exists', 'e1', {
    instance_id: 'i-1',
    region: 'east',
    audit_period_beginning: datetime('2015-01-01T00:00:00'),
    ratio: float(1),
  }),
];

const invalid = (params: unknown) => () =>
  zookeeperHandler.validateParams!(params as Record<string, unknown>);

/** A dry-run handler's pending write, as its commit logs it. */
async function dryRun(params: Record<string, unknown>, env = testEnv()) {
  const recording = recordingContext({ dryRun: true });
  const handler = zookeeperHandler.create(params, recording.context);
  expect(await handler.handleEvents(events, env)).toBe(events);
  await handler.commit();
  return recording.lines.filter((line) => line.handler === 'zookeeper');
}

describe('zookeeper handler params', () => {
  test('is a built-in handler', () => {
    expect(builtinHandlers.zookeeper).toBe(zookeeperHandler);
  });

  test('defaults: the stream document, parents created, ZOOKEEPER_CONNECT, 10 s, every event', () => {
    const options = readZookeeperParams({ znode: '/fleet/{instance_id}' });
    expect(options).toMatchObject({ data: 'stream', createParents: true, timeoutMs: 10_000 });
    expect(options.zookeeper).toBeUndefined();
    expect(options.text).toBeUndefined();
    expect(options.eventTypes).toBeUndefined();
    expect(options.znode.traits).toEqual(['instance_id']);
  });

  test('text implies data: text; every param read as written', () => {
    const options = readZookeeperParams({
      znode: '/fleet/{region}/{instance_id}',
      text: '{instance_id} in {region}',
      zookeeper: 'zk1:2181,zk2:2181/winchester',
      create_parents: false,
      event_types: 'compute.instance.exists',
      timeout: 2.5,
    });
    expect(options).toMatchObject({
      data: 'text',
      zookeeper: 'zk1:2181,zk2:2181/winchester',
      createParents: false,
      timeoutMs: 2500,
    });
    expect(options.text!.traits).toEqual(['instance_id', 'region']);
    expect(options.eventTypes!.matches('compute.instance.exists')).toBe(true);
    expect(options.eventTypes!.matches('compute.instance.create.end')).toBe(false);
    expect(readZookeeperParams({ znode: '/a', data: 'count' }).data).toBe('count');
  });

  test.each([
    [{}, 'param znode: expected a non-empty string (it is required), got nothing'],
    [{ znode: 'fleet/{instance_id}' }, "znode path 'fleet/{instance_id}' must start with '/'"],
    [{ znode: '/fleet/' }, "znode path '/fleet/' must not end with '/'"],
    [{ znode: '/fleet//{id}' }, 'has an empty name'],
    [{ znode: '/fleet/{instance_id' }, "'{' at column 8 is never closed"],
    [{ znode: '/fleet/}' }, "'}' at column 8 closes nothing (write }} for a literal brace)"],
    [{ znode: '/fleet/{ id }' }, '{ id } at column 8 is not a placeholder'],
    [{ znode: '/fleet/{}' }, '{} at column 8 is not a placeholder'],
    [{ znode: '/a', data: 'events' }, 'param data: expected one of stream, count, text, got string "events"'],
    [
      { znode: '/a', data: 'text' },
      'param text: expected the text to write (data: text needs it), got nothing',
    ],
    [
      { znode: '/a', data: 'count', text: 'x' },
      'param data: expected text, or no data param, when text is given',
    ],
    [{ znode: '/a', text: 'a {b' }, "param text: expected text with {trait} placeholders ('{' at column 3"],
    [{ znode: '/a', create_parents: 'no' }, 'param create_parents: expected true or false, got string "no"'],
    [
      { znode: '/a', zookeeper: 'zk1:99999' },
      "param zookeeper: expected a ZooKeeper connect string (ZooKeeper connect string 'zk1:99999'",
    ],
    [{ znode: '/a', zookeeper: '' }, 'param zookeeper: expected a non-empty string'],
    [{ znode: '/a', timeout: 0 }, 'param timeout: expected a number >= 0.001, got number 0'],
    [{ znode: '/a', event_types: [1] }, 'param event_types: expected a string or a list of strings'],
    [
      { znode: '/a', path: '/b' },
      'unknown param path (known: create_parents, data, event_types, text, timeout, znode, zookeeper)',
    ],
    [['/a'], 'params must be a mapping, got a list'],
  ])('%j is refused: %s', (params, message) => {
    expect(invalid(params)).toThrow(HandlerParamsError);
    expect(invalid(params)).toThrow(message);
  });

  test('a bad param fails pipelines.yaml with file and line', () => {
    const text = 'notify:\n  - logger\n  - name: zookeeper\n    params: {znode: "fleet/{instance_id}"}\n';
    let error: unknown;
    try {
      parsePipelines(text, 'pipelines.yaml', new Map(Object.entries(builtinHandlers)));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(
      /^pipelines\.yaml:4: pipeline 'notify': handler 'zookeeper': handler zookeeper: param znode: expected an absolute znode path/,
    );
  });
});

describe('zookeeper handler connect string', () => {
  const options = (params: Record<string, unknown> = {}) => readZookeeperParams({ znode: '/a', ...params });

  test('the param wins over ZOOKEEPER_CONNECT, which is the default', () => {
    const env = { ZOOKEEPER_CONNECT: ' 127.0.0.1:2181 ' };
    expect(zookeeperConnectString(options({ zookeeper: 'zk:1' }), env, false)).toBe('zk:1');
    expect(zookeeperConnectString(options(), env, false)).toBe('127.0.0.1:2181');
  });

  test('neither: creating the handler fails, except in a dry run', () => {
    expect(() => zookeeperConnectString(options(), {}, false)).toThrow(
      'handler zookeeper: no ZooKeeper to write to: give the zookeeper param (host:port[,host:port...][/chroot]) or set ZOOKEEPER_CONNECT',
    );
    expect(zookeeperConnectString(options(), {}, true)).toBeUndefined();
  });

  test('a malformed ZOOKEEPER_CONNECT is named', () => {
    expect(() => zookeeperConnectString(options(), { ZOOKEEPER_CONNECT: 'zk:0' }, false)).toThrow(
      /^handler zookeeper: ZOOKEEPER_CONNECT: ZooKeeper connect string 'zk:0': 'zk:0' has no valid port/,
    );
  });
});

describe('trait templates', () => {
  test('{{ and }} are literal braces; placeholders are listed once, in order', () => {
    const template = TraitTemplate.parse('/a/{{x}}/{b}-{c}/{b}');
    expect(template.traits).toEqual(['b', 'c']);
    expect(template.fill((trait) => trait.toUpperCase())).toBe('/a/{x}/B-C/B');
    expect(TraitTemplate.parse('no placeholders').fill(() => 'unused')).toBe('no placeholders');
    expect(() => TraitTemplate.parse('a}b')).toThrow(TemplateSyntaxError);
  });
});

describe('zookeeper handler runs (dry run: what would be written)', () => {
  // Whether the shell running the tests sets it must not matter.
  const saved = process.env.ZOOKEEPER_CONNECT;
  beforeAll(() => delete process.env.ZOOKEEPER_CONNECT);
  afterAll(() => {
    if (saved !== undefined) process.env.ZOOKEEPER_CONNECT = saved;
  });

  test('znode placeholders take the first event having the trait, written as upstream prints traits', async () => {
    const [line] = await dryRun({ znode: '/fleet/{region}/{instance_id}/{memory_mb}', data: 'count' });
    expect(line).toMatchObject({ znode: '/fleet/east/i-1/512', bytes: 1, events: 2 });
    expect(line.msg).toBe(
      'zookeeper (dry run): would set /fleet/east/i-1/512 to 1 bytes on ZOOKEEPER_CONNECT (not set)',
    );
    const [dated] = await dryRun({ znode: '/d/{audit_period_beginning}/{ratio}', zookeeper: 'zk:2181' });
    expect(dated).toMatchObject({ znode: '/d/2015-01-01 00:00:00/1.0', zookeeper: 'zk:2181' });
  });

  test('data: the exec handler stdin document of the selected events, their count, or the text', async () => {
    const env = testEnv();
    const stream = await dryRun({ znode: '/s', event_types: '*.exists' }, env);
    expect(stream[0].bytes).toBe(Buffer.byteLength(streamDocument(env, [events[1]])));
    const count = await dryRun({ znode: '/s', data: 'count', event_types: ['compute.*'] });
    expect(count[0]).toMatchObject({ bytes: 1, events: 2 });
    const recording = recordingContext({ dryRun: true });
    const handler = zookeeperHandler.create(
      { znode: '/s', text: '{instance_id} {{done}}' },
      recording.context,
    );
    handler.handleEvents(events, env);
    await handler.commit();
    expect(recording.lines[0]).toMatchObject({ bytes: Buffer.byteLength('i-1 {done}') });
  });

  test('no selected event: nothing is written', async () => {
    expect(await dryRun({ znode: '/s', event_types: 'nothing.matches' })).toEqual([]);
  });

  test('a missing trait or one that cannot be a znode name fails handleEvents, naming it', () => {
    const { context } = recordingContext({ dryRun: true });
    const run = (params: Record<string, unknown>, traits: Record<string, string>) => () =>
      zookeeperHandler.create(params, context).handleEvents([makeEvent('a.b', 'm1', traits)], testEnv());
    expect(run({ znode: '/f/{host}' }, {})).toThrow(StreamZnodeError);
    expect(run({ znode: '/f/{host}' }, {})).toThrow(
      'znode /f/{host}: no event of the stream has the trait host',
    );
    expect(run({ znode: '/f', text: 'on {host}' }, {})).toThrow(
      'text on {host}: no event of the stream has the trait host',
    );
    expect(run({ znode: '/f/{host}' }, { host: 'a/b' })).toThrow(
      `znode /f/{host}: the trait host is "a/b", which contains '/': it cannot be the name of a znode`,
    );
    expect(run({ znode: '/f/{host}' }, { host: '..' })).toThrow('the trait host is ".."');
    expect(run({ znode: '/f/{host}' }, { host: '' })).toThrow('the trait host is ""');
    expect(run({ znode: '/f/{host}' }, { host: 'a\u0001' })).toThrow(
      'contains a character ZooKeeper refuses',
    );
  });

  test('data larger than one ZooKeeper write fails handleEvents', () => {
    const { context } = recordingContext({ dryRun: true });
    const big = makeEvent('a.b', 'm1', { blob: 'x'.repeat(1_100_000) });
    const handler = zookeeperHandler.create({ znode: '/big' }, context);
    expect(() => handler.handleEvents([big], testEnv())).toThrow(
      /^the data for \/big is \d+ bytes, more than one ZooKeeper write takes \(\d+\): select fewer events or write data: count or text$/,
    );
  });

  test('rollback drops the pending write', async () => {
    const recording = recordingContext({ dryRun: true });
    const handler = zookeeperHandler.create({ znode: '/s' }, recording.context);
    handler.handleEvents(events, testEnv());
    handler.rollback();
    await handler.commit();
    expect(recording.lines).toEqual([]);
  });
});
