import { HandlerParamsError } from '../../../src/pipeline/handler';
import { readExecParams, streamDocument } from '../../../src/pipeline/handlers/exec';
import { builtinHandlers } from '../../../src/pipeline/handlers/index';
import { makeEvent, recordingContext, testEnv } from '../../fixtures/pipeline/handler-context';

describe('builtin handlers', () => {
  test('our names and the names upstream configs used', () => {
    expect(Object.keys(builtinHandlers).sort()).toEqual(
      ['atompub', 'exec', 'kafka', 'logger', 'notabene', 'usage', 'usage_pipeline', 'zookeeper'].sort(),
    );
    expect(builtinHandlers.usage_pipeline).toBe(builtinHandlers.usage);
  });

  test('every handler refuses params that are not a mapping', () => {
    for (const definition of Object.values(builtinHandlers)) {
      expect(() => definition.validateParams!([] as unknown as Record<string, unknown>)).toThrow(
        HandlerParamsError,
      );
      expect(() => definition.validateParams!([] as unknown as Record<string, unknown>)).toThrow(
        /^handler \w+: params must be a mapping, got a list/,
      );
    }
  });
});

describe('logger handler', () => {
  test('one log line per stream with every event type and id', async () => {
    const { context, lines } = recordingContext();
    const handler = builtinHandlers.logger.create({}, context);
    const events = [makeEvent('a.start', 'm1'), makeEvent('a.end', 'm2')];
    expect(await handler.handleEvents(events, testEnv())).toBe(events);
    await handler.commit();
    await handler.rollback();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'Received 2 events',
      handler: 'logger',
      stream_id: '3.0f8e7a9c-stream',
      stream_name: 'test_trigger',
      count: 2,
      events: [
        { event_type: 'a.start', message_id: 'm1' },
        { event_type: 'a.end', message_id: 'm2' },
      ],
    });
  });

  test('level param', async () => {
    const { context, lines } = recordingContext();
    await builtinHandlers.logger.create({ level: 'debug' }, context).handleEvents([], testEnv());
    expect(lines[0].level).toBe(20);
    expect(() => builtinHandlers.logger.validateParams!({ level: 'trace' })).toThrow(
      'handler logger: param level: expected one of debug, info, warn, got string "trace"',
    );
    expect(() => builtinHandlers.logger.validateParams!({ queue: 1 })).toThrow(
      'handler logger: unknown param queue (known: level)',
    );
  });
});

describe('exec handler params and input', () => {
  test('a shell string or an argv list; timeouts in seconds', () => {
    expect(readExecParams({ command: 'cat > /tmp/x' })).toMatchObject({
      command: 'cat > /tmp/x',
      timeoutMs: 60000,
      killAfterMs: 5000,
      env: {},
      eventTypes: undefined,
    });
    expect(
      readExecParams({ command: ['bin/report', '--day'], timeout: 1.5, kill_after: 0, env: { A: 1 } }),
    ).toMatchObject({
      command: ['bin/report', '--day'],
      timeoutMs: 1500,
      killAfterMs: 0,
      env: { A: '1' },
    });
  });

  test('bad params are named', () => {
    const invalid = (params: Record<string, unknown>) => () => builtinHandlers.exec.validateParams!(params);
    const commandError =
      'handler exec: param command: expected a shell command string or a non-empty argv list';
    expect(invalid({})).toThrow(commandError);
    expect(invalid({ command: '  ' })).toThrow(commandError);
    expect(invalid({ command: [] })).toThrow(commandError);
    expect(invalid({ command: ['a', 1] })).toThrow(commandError);
    expect(invalid({ command: 'x', timeout: 0 })).toThrow('param timeout: expected a number >= 0.001');
    expect(invalid({ command: 'x', env: { A: [1] } })).toThrow(
      'param env: expected a mapping of names to strings',
    );
    expect(invalid({ command: 'x', shell: true })).toThrow('unknown param shell');
  });

  test('stdin is {"env", "events"} with canonical events', () => {
    const event = makeEvent('a.b', 'm1', { n: 5, f: { type: 'float', value: 5 } });
    const doc = streamDocument(testEnv(), [event]);
    expect(doc).toBe(
      '{"env":{"stream_id":"3.0f8e7a9c-stream","stream_name":"test_trigger","state_serial":7,' +
        '"trigger":"test_trigger","kind":"fired"},' +
        '"events":[{"message_id":"m1","event_type":"a.b","timestamp":"2014-12-31T12:00:00.000000Z","f":5.0,"n":5}]}',
    );
    // An env value JSON cannot hold: the run's identity is still given.
    const odd = streamDocument(testEnv({ big: 1n }), []);
    expect(JSON.parse(odd).env).toEqual({
      stream_id: '3.0f8e7a9c-stream',
      stream_name: 'test_trigger',
      state_serial: 7,
      trigger: 'test_trigger',
      kind: 'fired',
    });
  });
});
