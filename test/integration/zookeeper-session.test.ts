/**
 * ZkSession on a real ZooKeeper. The stack's server (ZOOKEEPER_CONNECT) serves the watch,
 * poke, expiry and connection-error cases, and a connection lost through a relay that can be
 * cut; a server of this file's own is killed, restarted and frozen, which the stack's server,
 * shared with other files, must never be.
 */
import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:net';
import { ZkConnectStringError } from '../../src/zookeeper/connect-string';
import { ZnodePathError } from '../../src/zookeeper/paths';
import {
  maxDataBytes,
  ZkChange,
  ZkError,
  ZkSession,
  ZkSessionEvent,
  ZkSessionState,
} from '../../src/zookeeper/session';
import { forceSessionExpiry, PrivateZooKeeper, startPrivateZooKeeper } from '../support/private-zookeeper';
import { zookeeperConnect } from '../support/stack';
import { startRelay } from '../support/tcp-relay';
import { freePort } from '../../src/util/free-port';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long a watch that should stay quiet is given to fire anyway. */
const QUIET_MS = 400;

/** Collects the changes a one-shot watch reports; `next()` waits for the first. */
function changeLog() {
  const changes: ZkChange[] = [];
  let arrived: (change: ZkChange) => void = () => undefined;
  const first = new Promise<ZkChange>((resolve) => (arrived = resolve));
  const onChange = (change: ZkChange) => {
    changes.push(change);
    arrived(change);
  };
  const next = (timeoutMs = 10_000) =>
    new Promise<ZkChange>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no change within ${timeoutMs} ms`)), timeoutMs);
      void first.then((change) => {
        clearTimeout(timer);
        resolve(change);
      });
    });
  return { changes, onChange, next };
}

/** The session's state events, in order. */
function eventLog(session: ZkSession): ZkSessionEvent[] {
  const seen: ZkSessionEvent[] = [];
  for (const event of ['connected', 'disconnected', 'expired'] as const)
    session.on(event, () => seen.push(event));
  return seen;
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const stateOf = (session: ZkSession): ZkSessionState => session.state;

describe('ZkSession on the stack ZooKeeper', () => {
  const base = `/winchester-test/zookeeper-session-${randomBytes(4).toString('hex')}`;
  const created: string[] = [];
  let session: ZkSession;
  let writer: ZkSession;
  const node = (name: string) => {
    created.push(`${base}/${name}`);
    return `${base}/${name}`;
  };

  beforeAll(async () => {
    session = await ZkSession.connect(zookeeperConnect(), { sessionTimeoutMs: 10_000 });
    writer = await ZkSession.connect(zookeeperConnect());
  });

  afterAll(async () => {
    for (const path of [...created].reverse()) await writer?.remove(path).catch(() => undefined);
    await writer?.remove(base).catch(() => undefined);
    await session?.close();
    await writer?.close();
  });

  test('a watch fires once when the data is set', async () => {
    const path = node('set');
    await writer.poke(path, 'one');
    const log = changeLog();
    const read = await session.readWatched(path, log.onChange);
    expect(read).toEqual({ exists: true, data: Buffer.from('one'), version: 0, mzxid: expect.any(BigInt) });
    await writer.poke(path, 'two');
    expect(await log.next()).toBe('changed');
    await writer.poke(path, 'three');
    await sleep(QUIET_MS);
    expect(log.changes).toEqual(['changed']);
    const again = await session.read(path);
    expect(again).toMatchObject({ exists: true, data: Buffer.from('three'), version: 2 });
    expect(again.exists && read.exists && again.mzxid > read.mzxid).toBe(true);
  });

  test('a change that arrives with the read reply is reported after the read has returned', async () => {
    const relay = await startRelay(zookeeperConnect());
    const behind = await ZkSession.connect(relay.connectString);
    try {
      const path = node('race');
      await writer.poke(path, 'read this');
      const order: string[] = [];
      const log = changeLog();
      relay.hold();
      const read = behind.readWatched(path, (change) => {
        order.push(`change: ${change}`);
        log.onChange(change);
      });
      await sleep(200); // the read reaches the server and is answered, into the relay
      await writer.poke(path, 'then this');
      await sleep(200); // so is the notification of the change
      relay.release(); // both in one piece: the notification is handled before the read returns
      const content = await read;
      order.push('read');
      expect(content).toMatchObject({ data: Buffer.from('read this') });
      await log.next();
      expect(order).toEqual(['read', 'change: changed']);
    } finally {
      await behind.close();
      await relay.close();
    }
  });

  test('a watch on a missing node fires once when it is created', async () => {
    const path = node('created/later');
    const log = changeLog();
    expect(await session.readWatched(path, log.onChange)).toEqual({ exists: false });
    await writer.poke(path, 'now');
    expect(await log.next()).toBe('created');
    await writer.poke(path, 'and again');
    await sleep(QUIET_MS);
    expect(log.changes).toEqual(['created']);
    expect(session.pendingWatches.watches).toBe(0);
  });

  test('a watch fires once when the node is deleted, not again when it comes back', async () => {
    const path = node('deleted');
    await writer.poke(path, 'doomed');
    const log = changeLog();
    await session.readWatched(path, log.onChange);
    expect(await writer.remove(path)).toBe(true);
    expect(await log.next()).toBe('deleted');
    await writer.poke(path, 'back');
    await sleep(QUIET_MS);
    expect(log.changes).toEqual(['deleted']);
    expect(await writer.remove(`${path}/never-was`)).toBe(false);
  });

  test('several watches on one node each fire once', async () => {
    const path = node('shared');
    await writer.poke(path, 'x');
    const logs = Array.from({ length: 12 }, () => changeLog());
    await Promise.all(logs.map((log) => session.readWatched(path, log.onChange)));
    await writer.poke(path, 'y');
    await Promise.all(logs.map((log) => log.next()));
    await sleep(QUIET_MS);
    expect(logs.map((log) => log.changes)).toEqual(logs.map(() => ['changed']));
  });

  test('poke creates the node and its missing parents (without data), then sets it', async () => {
    const parent = node('deep');
    const middle = node('deep/er');
    const path = node('deep/er/node');
    expect(await writer.poke(path, 'payload')).toEqual({ created: true, version: 0 });
    expect(await session.read(parent)).toMatchObject({ exists: true, data: Buffer.alloc(0) });
    expect(await session.read(middle)).toMatchObject({ exists: true, data: Buffer.alloc(0) });
    expect(await session.read(path)).toMatchObject({ exists: true, data: Buffer.from('payload') });
    expect(await writer.poke(path, Buffer.from([0, 1, 2]))).toEqual({ created: false, version: 1 });
    expect(await session.read(path)).toMatchObject({ data: Buffer.from([0, 1, 2]), version: 1 });
  });

  test('data up to the request limit is stored; more is refused before it is sent', async () => {
    const path = node('big');
    const largest = Buffer.alloc(maxDataBytes(path), 7);
    await writer.poke(path, largest);
    const read = await session.read(path);
    expect(read.exists && read.data.equals(largest)).toBe(true);
    const tooLarge = writer.poke(path, Buffer.alloc(maxDataBytes(path) + 1));
    await expect(tooLarge).rejects.toMatchObject({ code: 'DATA_TOO_LARGE' });
    expect(writer.state).toBe('connected');
  });

  test('bad paths are clear errors, and the server refusing a request is a ZkError naming it', async () => {
    await expect(session.readWatched('relative/path', () => undefined)).rejects.toThrow(ZnodePathError);
    await expect(session.poke(`${base}/a//b`, 'x')).rejects.toThrow(/empty name/);
    await expect(session.poke(`${base}/..`, 'x')).rejects.toThrow(/'\.' or '\.\.'/);
    const refused = session.poke('/zookeeper/config', 'x');
    await expect(refused).rejects.toBeInstanceOf(ZkError);
    await expect(refused).rejects.toMatchObject({
      code: 'NO_AUTH',
      path: '/zookeeper/config',
      message: 'ZooKeeper set /zookeeper/config failed: NO_AUTH',
    });
  });

  test('changes made while the connection is down fire the watches once after reconnection', async () => {
    const relay = await startRelay(zookeeperConnect());
    const behind = await ZkSession.connect(relay.connectString, { sessionTimeoutMs: 20_000 });
    try {
      const events = eventLog(behind);
      const existing = node('outage/existing');
      const missing = node('outage/missing');
      await writer.poke(existing, 'before');
      const changed = changeLog();
      const created = changeLog();
      await behind.readWatched(existing, changed.onChange);
      expect(await behind.readWatched(missing, created.onChange)).toEqual({ exists: false });
      relay.cut();
      await until('disconnected', () => behind.state === 'disconnected');
      await writer.poke(existing, 'during');
      await writer.poke(missing, 'born during');
      await sleep(QUIET_MS);
      expect([changed.changes, created.changes]).toEqual([[], []]);
      relay.restore();
      expect(await changed.next()).toBe('changed');
      expect(await created.next()).toBe('created');
      expect(events).toEqual(['disconnected', 'connected']);
      expect(await behind.read(existing)).toMatchObject({ data: Buffer.from('during'), version: 1 });
      await sleep(QUIET_MS);
      expect([changed.changes, created.changes]).toEqual([['changed'], ['created']]);
    } finally {
      await behind.close();
      await relay.close();
    }
  });

  test('session expiry is reported once as expired; requests then fail and watches never fire', async () => {
    const doomed = await ZkSession.connect(zookeeperConnect(), { sessionTimeoutMs: 10_000 });
    const events = eventLog(doomed);
    const path = node('expiry');
    await writer.poke(path, 'before');
    const log = changeLog();
    await doomed.readWatched(path, log.onChange);
    await forceSessionExpiry(doomed);
    expect(stateOf(doomed)).toBe('expired');
    await sleep(QUIET_MS);
    expect(events.filter((event) => event === 'expired')).toEqual(['expired']);
    expect(events[events.length - 1]).toBe('expired');
    await expect(doomed.read(path)).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    await writer.poke(path, 'after');
    await sleep(QUIET_MS);
    expect(log.changes).toEqual([]);
    await doomed.close();
    expect(doomed.state).toBe('closed');
  });

  test('after close, requests fail with SESSION_CLOSED', async () => {
    const closing = await ZkSession.connect(zookeeperConnect());
    await closing.close();
    await closing.close();
    await expect(closing.read('/')).rejects.toMatchObject({ code: 'SESSION_CLOSED' });
  });
});

describe('ZkSession connecting to nothing', () => {
  let silent: Server | undefined;
  afterAll(() => silent?.close());

  test('a port where nothing listens fails clearly within the connect timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    const attempt = ZkSession.connect(`127.0.0.1:${port}`, { connectTimeoutMs: 1_500 });
    await expect(attempt).rejects.toMatchObject({
      code: 'UNREACHABLE',
      message: expect.stringMatching(
        new RegExp(
          `could not open a ZooKeeper session with 127\\.0\\.0\\.1:${port} within 1500 ms: .*refused`,
        ),
      ),
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test('a server that accepts connections but is not ZooKeeper is named as such', async () => {
    silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const attempt = ZkSession.connect(`127.0.0.1:${port}`, { connectTimeoutMs: 1_000 });
    await expect(attempt).rejects.toThrow(/accepts TCP connections but opened no ZooKeeper session/);
  });

  test('a malformed connect string is refused before any connection', async () => {
    await expect(ZkSession.connect('127.0.0.1:http')).rejects.toThrow(ZkConnectStringError);
    await expect(ZkSession.connect('a:1,,b:2')).rejects.toThrow(/empty server entry/);
    await expect(ZkSession.connect('a:99999')).rejects.toThrow(/no valid port/);
    await expect(ZkSession.connect('a:1/chroot/')).rejects.toThrow(/must not end with/);
    await expect(ZkSession.connect('a:1', { sessionTimeoutMs: 0 })).rejects.toThrow(RangeError);
  });
});

describe('ZkSession while its server is killed, restarted and frozen', () => {
  let server: PrivateZooKeeper;
  const path = '/watched/node';

  beforeAll(async () => {
    server = await startPrivateZooKeeper();
  });
  afterAll(async () => {
    await server?.remove();
  });

  test('killed and restarted within the session timeout: disconnected, connected, same session and watch', async () => {
    const session = await ZkSession.connect(server.connectString, { sessionTimeoutMs: 20_000 });
    try {
      const events = eventLog(session);
      const id = session.sessionId;
      await session.poke(path, 'v1');
      const log = changeLog();
      await session.readWatched(path, log.onChange);
      await server.kill();
      await until('disconnected', () => session.state === 'disconnected');
      // A request made during the outage waits for the server, then goes through.
      const pokedDuringOutage = session.poke(`${path}-outage`, 'queued');
      await server.restart();
      await until('reconnection', () => session.state === 'connected');
      expect(events).toEqual(['disconnected', 'connected']);
      expect(session.sessionId).toBe(id);
      expect(await pokedDuringOutage).toEqual({ created: true, version: 0 });
      const writer = await ZkSession.connect(server.connectString);
      await writer.poke(path, 'v2');
      await writer.close();
      expect(await log.next()).toBe('changed');
      expect(await session.read(path)).toMatchObject({ data: Buffer.from('v2'), version: 1 });
    } finally {
      await session.close();
    }
  });

  test('a frozen server: the silent connection is cut, and the session carries on once it thaws', async () => {
    const session = await ZkSession.connect(server.connectString, { sessionTimeoutMs: 9_000 });
    try {
      await session.poke(path, 'before the freeze');
      const events = eventLog(session);
      const id = session.sessionId;
      await server.freeze();
      const frozenAt = Date.now();
      // Two thirds of the session timeout after the last reply, plus one check: before the
      // server, once running again, would expire the session.
      await until('the silent connection cut', () => session.state === 'disconnected', 9_000);
      const detectedAfter = Date.now() - frozenAt;
      await server.thaw();
      await until('reconnection', () => session.state === 'connected', 10_000);
      expect(detectedAfter).toBeLessThan(9_000);
      expect(events).toEqual(['disconnected', 'connected']);
      expect(session.sessionId).toBe(id);
      expect(await session.read(path)).toMatchObject({ data: Buffer.from('before the freeze') });
    } finally {
      await server.thaw();
      await session.close();
    }
  });
});
