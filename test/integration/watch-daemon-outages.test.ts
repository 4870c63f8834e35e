/**
 * The watch daemon through ZooKeeper outages and with exclusive leases on the real Redis:
 * a session expired under it, its connection cut and restored, its (private) server killed
 * and restarted, and two daemons on one host sharing exclusive watches. Runs are read from
 * what the recording action (record.sh) wrote; every change must run its action once.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { ZkSession } from '../../src/zookeeper/session';
import {
  finishedRuns,
  metricValue,
  py,
  recordAction,
  RecordedRun,
  removeDir,
  scratchDir,
  sleep,
  startedRuns,
  startTestDaemon,
  TestDaemon,
  until,
  writeFile,
} from '../fixtures/watch-daemon/harness';
import { forceSessionExpiry, startPrivateZooKeeper } from '../support/private-zookeeper';
import { zookeeperConnect } from '../support/stack';
import { startRelay } from '../support/tcp-relay';

const QUIET_MS = 700;
const run = randomBytes(4).toString('hex');
const base = `/winchester-test/watch-daemon-outages-${run}`;
const created = new Set<string>([base]);
let writer: ZkSession;
let dir: string;
let configDir: string;
let testIndex = 0;
let prefix = '';
let daemons: TestDaemon[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

const node = (name: string) => {
  created.add(prefix).add(`${prefix}/${name}`);
  return `${prefix}/${name}`;
};
const out = (name: string) => join(dir, `${name}.log`);
const contents = (runs: RecordedRun[]) => runs.map((r) => r.content);

async function daemon(options: Partial<Parameters<typeof startTestDaemon>[0]> = {}): Promise<TestDaemon> {
  const started = await startTestDaemon({ configDir, zookeeper: zookeeperConnect(), ...options });
  daemons.push(started);
  return started;
}

function twc(name: string, ...watches: string[]): void {
  writeFile(join(configDir, name), watches.map((options) => `RegisterWatch(${options})\n`).join(''));
}

beforeAll(async () => {
  writer = await ZkSession.connect(zookeeperConnect());
});

afterAll(async () => {
  const paths = [...created].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const path of paths) await writer.remove(path).catch(() => undefined);
  await writer?.close();
});

beforeEach(() => {
  prefix = `${base}/t${++testIndex}`;
  dir = scratchDir('outage');
  configDir = join(dir, 'conf');
  mkdirSync(configDir);
});

afterEach(async () => {
  for (const { daemon } of daemons) await daemon.stop();
  daemons = [];
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  removeDir(dir);
});

test('session expiry: an update made while expired runs once on the new session; no update, no run', async () => {
  await writer.poke(node('e'), 'before');
  twc('e.twc', `znode=${py(node('e'))}, action=${recordAction(out('e'))}`);
  const { daemon: watch, lines } = await daemon();
  await until('the load run', () => finishedRuns(out('e')).length === 1);
  const first = watch.session();
  first.once('expired', () => void writer.poke(node('e'), 'while expired'));
  await forceSessionExpiry(first);
  await until('a new session', () => watch.session() !== first && watch.ready());
  await until('the missed update to run', () => finishedRuns(out('e')).length === 2);

  const second = watch.session();
  await forceSessionExpiry(second);
  await until('another session', () => watch.session() !== second && watch.ready());
  await sleep(QUIET_MS);
  expect(contents(finishedRuns(out('e')))).toEqual(['before', 'while expired']);
  await writer.poke(node('e'), 'after');
  await until('the next update', () => finishedRuns(out('e')).length === 3);
  await sleep(QUIET_MS);
  expect(contents(finishedRuns(out('e')))).toEqual(['before', 'while expired', 'after']);
  expect(await metricValue(watch, 'winchester_watch_zookeeper_session_expiries_total')).toBe(2);
  expect(lines.some((line) => line.msg === 'ZooKeeper session expired: opening a new one')).toBe(true);
});

test('connection loss: the session and its watches survive; an update during the outage runs once', async () => {
  const relay = await startRelay(zookeeperConnect());
  cleanups.push(() => relay.close());
  await writer.poke(node('c'), 'before');
  twc('c.twc', `znode=${py(node('c'))}, action=${recordAction(out('c'))}`);
  const { daemon: watch } = await daemon({ zookeeper: relay.connectString, sessionTimeoutMs: 8_000 });
  await until('the load run', () => finishedRuns(out('c')).length === 1);
  const session = watch.session();
  relay.cut();
  await until('the daemon to notice', () => !watch.ready());
  await writer.poke(node('c'), 'during');
  await sleep(300);
  relay.restore();
  await until('the update to run', () => finishedRuns(out('c')).length === 2, 8_000);
  await sleep(QUIET_MS);
  expect(contents(finishedRuns(out('c')))).toEqual(['before', 'during']);
  expect(watch.session()).toBe(session);
  expect(await metricValue(watch, 'winchester_watch_zookeeper_reconnects_total')).toBeGreaterThanOrEqual(1);
  expect(await metricValue(watch, 'winchester_watch_zookeeper_session_expiries_total')).toBe(0);
});

test('a ZooKeeper server killed and restarted, updated before the daemon is back: one run, the newest content', async () => {
  const server = await startPrivateZooKeeper();
  cleanups.push(() => server.remove());
  const relay = await startRelay(server.connectString);
  cleanups.push(() => relay.close());
  const path = '/watched/restart';
  const before = await ZkSession.connect(server.connectString);
  await before.poke(path, 'before');
  await before.close();
  twc('r.twc', `znode=${py(path)}, action=${recordAction(out('r'))}`);
  const { daemon: watch } = await daemon({ zookeeper: relay.connectString, sessionTimeoutMs: 2_000 });
  await until('the load run', () => finishedRuns(out('r')).length === 1);

  relay.cut();
  await server.kill();
  await server.restart();
  const after = await ZkSession.connect(server.connectString);
  cleanups.push(() => after.close());
  await after.poke(path, 'first while away');
  await after.poke(path, 'second while away');
  relay.restore();
  await until('the update to run', () => finishedRuns(out('r')).length === 2, 15_000);
  await sleep(QUIET_MS);
  expect(contents(finishedRuns(out('r')))).toEqual(['before', 'second while away']);
  expect(watch.ready()).toBe(true);
});

/** Exclusive leases on the stack's Redis, under a namespace of this run's own. */
const namespace = `t.watch-daemon.${run}`;

afterAll(async () => {
  const redis = new Redis(process.env.REDIS_URL!);
  const keys = (await redis.keys(`${namespace}:*`)) as string[];
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const exclusiveDaemon = () => daemon({ redisUrl: process.env.REDIS_URL, namespace, leaseMs: 3_000 });

test('exclusive: two daemons, one configuration: never two runs at once, each update run once in the cluster', async () => {
  await writer.poke(node('x'), 'u0');
  twc('x.twc', `znode=${py(node('x'))}, action=${recordAction(out('x'), 0.3)}, exclusive=True`);
  await exclusiveDaemon();
  await exclusiveDaemon();
  await until('the load run', () => finishedRuns(out('x')).length === 1);
  for (let i = 1; i <= 4; i++) {
    await writer.poke(node('x'), `u${i}`);
    await until(`u${i} to run`, () => finishedRuns(out('x')).length === i + 1, 5_000);
  }
  await sleep(QUIET_MS);
  expect(contents(finishedRuns(out('x')))).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);

  const other = await ZkSession.connect(zookeeperConnect());
  cleanups.push(() => other.close());
  await Promise.all([writer.poke(node('x'), 'b1'), other.poke(node('x'), 'b2')]);
  await Promise.all([writer.poke(node('x'), 'b3'), other.poke(node('x'), 'b4')]);
  const last = await writer.read(node('x'));
  const newest = last.exists ? last.data.toString() : '';
  await until('the newest content to run', () => contents(finishedRuns(out('x'))).includes(newest), 8_000);
  await sleep(1_500);
  const runs = finishedRuns(out('x'));
  expect(startedRuns(out('x'))).toBe(runs.length);
  expect(new Set(contents(runs)).size).toBe(runs.length);
  expect(runs[runs.length - 1].content).toBe(newest);
  const byStart = [...runs].sort((a, b) => a.start - b.start);
  for (let i = 1; i < byStart.length; i++)
    expect(byStart[i].start).toBeGreaterThanOrEqual(byStart[i - 1].end);
});

test('exclusive: a daemon stopping sends SIGTERM to its exclusive child; the interrupted update runs on the other host', async () => {
  const record = out('stop');
  const action = `trap 'echo term >> ${record}; exit 143' TERM; echo start >> ${record}; cat >/dev/null; sleep 30 & wait $!`;
  twc('s.twc', `znode=${py(node('s'))}, action=Exec(${py(action)}), run_on_load=False, exclusive=True`);
  const hosts = [await exclusiveDaemon(), await exclusiveDaemon()];
  await writer.poke(node('s'), 'job');
  await until('one host to run it', () => hosts.some((h) => h.lines.some((l) => l.msg === 'action started')));
  const [runner, waiter] = hosts[0].lines.some((l) => l.msg === 'action started')
    ? hosts
    : [hosts[1], hosts[0]];
  const stopping = Date.now();
  await runner.daemon.stop();
  expect(Date.now() - stopping).toBeLessThan(3_000);
  const recorded = () => readFileSync(record, 'utf8').split('\n').filter(Boolean);
  await until('the other host to run it', () => recorded().length === 3, 8_000);
  expect(waiter.lines.some((l) => l.msg === 'action started')).toBe(true);
  expect(recorded()).toEqual(['start', 'term', 'start']);
});
