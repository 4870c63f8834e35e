/**
 * The `zookeeper` pipeline handler on a real ZooKeeper: streams run through the pipeline runner
 * with the built-in handlers, and the znodes they set read back with a session of the test's
 * own. The stack's server serves the writes and a session expiry; a server of this file's own
 * is killed and restarted under the handler, and a closed port stands for one that is down.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { WinchesterEvent } from '../../src/events/event';
import { PipelineStep } from '../../src/pipeline/runner';
import { pipelineEnv, runStream, StreamRun } from '../../src/pipeline/stream-run';
import { streamDocument } from '../../src/pipeline/handlers/exec';
import { builtinHandlerMap } from '../../src/pipeline/handlers';
import {
  zookeeperHandler,
  zookeeperSessions,
  ZookeeperWriteError,
} from '../../src/pipeline/handlers/zookeeper';
import { StreamRecord } from '../../src/streams/model';
import { ZkSession } from '../../src/zookeeper/session';
import { aStreamRecord } from '../fixtures/pipeline/stream-records';
import { makeEvent, recordingContext, testEnv } from '../fixtures/pipeline/handler-context';
import { forceSessionExpiry, PrivateZooKeeper, startPrivateZooKeeper } from '../support/private-zookeeper';
import { zookeeperConnect } from '../support/stack';

const root = `/winchester-test/zookeeper-handler-${randomUUID()}`;
let reader: ZkSession;

beforeAll(async () => {
  reader = await ZkSession.connect(zookeeperConnect());
});

afterAll(async () => {
  try {
    await zookeeperHandler.close!();
    // Deepest first; /winchester-test itself stays when other files' nodes are under it.
    for (const znode of [...written].sort().reverse()) await reader.remove(znode);
    await reader.remove('/winchester-test').catch(() => false);
  } finally {
    await reader.close();
  }
});

/** The znodes this file wrote under `root`, with the parents the handler created for them. */
const written = new Set<string>([root]);
function remember(znode: string): string {
  for (let at = root.length; at > 0; at = znode.indexOf('/', at + 1)) written.add(znode.slice(0, at));
  written.add(znode);
  return znode;
}

function instanceStream(id: string, instance: string, serial = 2): StreamRecord {
  const events: WinchesterEvent[] = [
    makeEvent('compute.instance.create.end', `${id}-c`, { instance_id: instance, region: 'east' }),
    makeEvent('compute.instance.exists', `${id}-e`, { instance_id: instance }),
  ];
  return aStreamRecord(id, events, { serial });
}

/** Runs the record's `audit` pipeline: one zookeeper handler with these params. */
async function runZookeeper(record: StreamRecord, params: Record<string, unknown>) {
  const recording = recordingContext();
  const steps: PipelineStep[] = [{ name: 'zookeeper', params }];
  const run = (await runStream(
    record,
    {
      pipelines: new Map([['audit', steps]]),
      handlers: builtinHandlerMap(),
      handlerTimeoutMs: 30_000,
      maxHops: 3,
    },
    recording.context,
  )) as StreamRun;
  return { run, lines: recording.lines };
}

async function readText(znode: string): Promise<{ text: string; version: number }> {
  const node = await reader.read(znode);
  if (!node.exists) throw new Error(`${znode} does not exist`);
  return { text: node.data.toString('utf8'), version: node.version };
}

/** The handler alone (no pipeline runner): its commit's error is thrown to the test. */
async function commitOnce(params: Record<string, unknown>, instance = 'i-1') {
  const { context } = recordingContext();
  const handler = zookeeperHandler.create(params, context);
  await handler.handleEvents(instanceStream('direct', instance).events, testEnv());
  const started = Date.now();
  try {
    await handler.commit();
    return { error: undefined, seconds: (Date.now() - started) / 1000 };
  } catch (error) {
    return { error: error as Error, seconds: (Date.now() - started) / 1000 };
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('zookeeper handler on the stack ZooKeeper', () => {
  test('a fired stream sets its znode (ZOOKEEPER_CONNECT by default) to the stream document; parents are created', async () => {
    const record = instanceStream('s-1', 'i-100');
    const znode = remember(`${root}/fleet/i-100`);
    const { run, lines } = await runZookeeper(record, { znode: `${root}/fleet/{instance_id}` });
    expect(run.outcome).toBe('completed');
    expect(run.commitFailures).toEqual([]);
    expect(await readText(znode)).toEqual({
      text: streamDocument(pipelineEnv(record), record.events),
      version: 0,
    });
    expect(lines.find((l) => l.handler === 'zookeeper')).toMatchObject({
      msg: `zookeeper: created ${znode} (version 0)`,
      zookeeper: zookeeperConnect(),
      created: true,
    });

    const again = await runZookeeper(instanceStream('s-1', 'i-100', 3), {
      znode: `${root}/fleet/{instance_id}`,
    });
    expect(again.run.commitFailures).toEqual([]);
    const { text, version } = await readText(znode);
    expect(version).toBe(1);
    expect(JSON.parse(text).env.state_serial).toBe(3);
  });

  test('placeholders: each stream its own znode; count and text data', async () => {
    const params = { znode: `${root}/by-region/{region}/{instance_id}`, zookeeper: zookeeperConnect() };
    await runZookeeper(instanceStream('s-2', 'i-200'), { ...params, data: 'count' });
    await runZookeeper(instanceStream('s-3', 'i-300'), {
      ...params,
      text: '{instance_id} fired in {region}',
    });
    expect((await readText(remember(`${root}/by-region/east/i-200`))).text).toBe('2');
    expect((await readText(remember(`${root}/by-region/east/i-300`))).text).toBe('i-300 fired in east');
    const selected = await runZookeeper(instanceStream('s-4', 'i-400'), {
      ...params,
      data: 'count',
      event_types: '*.exists',
    });
    expect(selected.run.commitFailures).toEqual([]);
    expect((await readText(remember(`${root}/by-region/east/i-400`))).text).toBe('1');
  });

  test('create_parents: false refuses a missing parent; the stream still completes', async () => {
    const parent = remember(`${root}/strict`);
    const params = { znode: `${parent}/{instance_id}`, text: 'go', create_parents: false };
    const { run } = await runZookeeper(instanceStream('s-5', 'i-500'), params);
    expect(run.outcome).toBe('completed');
    expect(run.commitFailures.map((f) => [f.handler, f.error.message])).toEqual([
      [
        'zookeeper',
        `zookeeper: cannot set ${parent}/i-500 on ${zookeeperConnect()}: its parent ${parent} does not exist (create_parents is false)`,
      ],
    ]);
    expect(run.commitFailures[0].error).toBeInstanceOf(ZookeeperWriteError);
    expect(await reader.read(parent)).toEqual({ exists: false });

    await reader.poke(parent, '');
    const retried = await runZookeeper(instanceStream('s-5', 'i-500'), params);
    expect(retried.run.commitFailures).toEqual([]);
    expect((await readText(remember(`${parent}/i-500`))).text).toBe('go');
  });

  test('an expired session is replaced and the write goes through', async () => {
    const connect = zookeeperConnect();
    const znode = remember(`${root}/expiry/i-1`);
    expect(
      (await commitOnce({ znode: `${root}/expiry/{instance_id}`, text: 'one', zookeeper: connect })).error,
    ).toBeUndefined();
    const first = await zookeeperSessions.session(connect, 5_000);
    await forceSessionExpiry(first);
    const { error } = await commitOnce({
      znode: `${root}/expiry/{instance_id}`,
      text: 'two',
      zookeeper: connect,
    });
    expect(error).toBeUndefined();
    expect((await readText(znode)).text).toBe('two');
    const second = await zookeeperSessions.session(connect, 5_000);
    expect(second).not.toBe(first);
    expect(second.state).toBe('connected');
  });
});

describe('zookeeper handler when ZooKeeper is unreachable', () => {
  test('nothing listening: commit throws, saying what each server did, within the timeout', async () => {
    const target = `127.0.0.1:${await closedPort()}`;
    const { error, seconds } = await commitOnce({
      znode: '/unreachable',
      text: 'x',
      zookeeper: target,
      timeout: 1,
    });
    expect(error).toBeInstanceOf(ZookeeperWriteError);
    expect(error!.message).toBe(
      `zookeeper: cannot set /unreachable on ${target}: could not open a ZooKeeper session with ${target} within 1000 ms: ${target} refused the connection`,
    );
    expect((error as ZookeeperWriteError).code).toBe('UNREACHABLE');
    expect(seconds).toBeLessThan(5);
  });

  describe('a server killed under an open session', () => {
    let server: PrivateZooKeeper;
    beforeAll(async () => {
      server = await startPrivateZooKeeper();
    });
    afterAll(async () => {
      await zookeeperSessions.close();
      await server.remove();
    });

    test('times out with the connection down, and writes again once the server is back', async () => {
      const params = { znode: '/fleet/{instance_id}', zookeeper: server.connectString, timeout: 1 };
      expect((await commitOnce({ ...params, text: 'before' })).error).toBeUndefined();

      await server.kill();
      const down = await commitOnce({ ...params, text: 'during' });
      expect(down.error).toBeInstanceOf(ZookeeperWriteError);
      expect(down.error!.message).toBe(
        `zookeeper: cannot set /fleet/i-1 on ${server.connectString}: no answer within 1 s: the connection to ZooKeeper is down ` +
          '(the session keeps the write and sends it if the connection comes back before the session expires)',
      );
      expect(down.seconds).toBeLessThan(3);

      await server.restart();
      const back = await commitOnce({ ...params, text: 'after', timeout: 20 });
      expect(back.error).toBeUndefined();
      const check = await ZkSession.connect(server.connectString);
      try {
        const node = await check.read('/fleet/i-1');
        expect(node.exists && node.data.toString()).toBe('after');
      } finally {
        await check.close();
      }
    });
  });
});
