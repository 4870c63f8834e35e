import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { redisUrlFrom } from '../../src/config/environment';
import { ExclusiveLeaseOptions, ExclusiveLeases, LeaseEvent } from '../../src/watch/exclusive-lease';
import type { RunPermit } from '../../src/watch/run-gate';
import { repoRoot } from '../support/stack';

/**
 * The exclusive lease on the real Redis. Each gate has its own connection and its own
 * ExclusiveLeases, as two daemons on two hosts would; every test uses a namespace of its own.
 */

const ZNODE = '/jobs/rebuild-index';
const run = randomBytes(3).toString('hex');
let testCount = 0;
let namespace = '';
const connections: Redis[] = [];

function connect(): Redis {
  const redis = new Redis(redisUrlFrom(), { maxRetriesPerRequest: 1 });
  connections.push(redis);
  return redis;
}

/** A daemon's view of the lease: its own connection, its events. */
function host(options: ExclusiveLeaseOptions = {}) {
  const events: LeaseEvent[] = [];
  const leases = new ExclusiveLeases(connect(), {
    namespace,
    acquireRetryMs: 20,
    listener: (event) => events.push(event),
    ...options,
  });
  return { gate: leases.gate(ZNODE), events };
}

async function enter(gate: { enter(abort: AbortSignal): Promise<RunPermit | null> }): Promise<RunPermit> {
  const permit = await gate.enter(new AbortController().signal);
  if (!permit) throw new Error('enter() gave up without being aborted');
  return permit;
}

beforeEach(() => {
  namespace = `t.exclusive-lease.${run}.${++testCount}`;
});

afterEach(async () => {
  const redis = connect();
  const keys = (await redis.keys(`${namespace}:*`)) as string[];
  if (keys.length > 0) await redis.del(...keys);
  for (const connection of connections.splice(0)) connection.disconnect();
});

test('two hosts contending for one lease never hold it at once', async () => {
  const hosts = [host(), host()];
  const intervals: Array<{ host: number; start: number; end: number }> = [];
  await Promise.all(
    hosts.map(async ({ gate }, index) => {
      for (let round = 0; round < 8; round++) {
        const permit = await enter(gate);
        const start = performance.now();
        await sleep(30);
        const end = performance.now();
        intervals.push({ host: index, start, end });
        await permit.leave();
        await sleep(5); // let the other host's retry find the lease free
      }
    }),
  );
  intervals.sort((a, b) => a.start - b.start);
  expect(intervals).toHaveLength(16);
  for (let i = 1; i < intervals.length; i++) {
    expect(intervals[i].start).toBeGreaterThanOrEqual(intervals[i - 1].end);
  }
  expect(new Set(intervals.map((i) => i.host)).size).toBe(2);
  // The waiting host said so (once per wait), and the lease was never reported lost.
  expect(hosts.flatMap((h) => h.events).filter((e) => e.type === 'waiting').length).toBeGreaterThan(0);
  expect(hosts.flatMap((h) => h.events).filter((e) => e.type === 'lost')).toEqual([]);
});

test('renewal keeps a long run holding its lease well past the lease length', async () => {
  const leaseMs = 600;
  const a = host({ leaseMs });
  const b = host({ leaseMs });
  const permitA = await enter(a.gate);
  const acquiredA = performance.now();
  let acquiredB = 0;
  const waitingB = enter(b.gate).then((permit) => {
    acquiredB = performance.now();
    return permit;
  });
  await sleep(4 * leaseMs);
  expect(acquiredB).toBe(0);
  const leftA = performance.now();
  await permitA.leave();
  const permitB = await waitingB;
  expect(leftA - acquiredA).toBeGreaterThan(3 * leaseMs);
  expect(acquiredB).toBeGreaterThanOrEqual(leftA);
  expect(a.events.filter((e) => e.type === 'lost' || e.type === 'redisError')).toEqual([]);
  await permitB.leave();
});

test('what a host ran is recorded under its lease, and a newer or equal update counts as run', async () => {
  const a = host();
  const b = host();
  const permitA = await enter(a.gate);
  expect(await permitA.alreadyRun({ mzxid: 42n })).toBe(false);
  await permitA.leave({ mzxid: 42n });
  const permitB = await enter(b.gate);
  expect(await permitB.alreadyRun({ mzxid: 41n })).toBe(true);
  expect(await permitB.alreadyRun({ mzxid: 42n })).toBe(true);
  expect(await permitB.alreadyRun({ mzxid: 43n })).toBe(false);
  expect(await permitB.alreadyRun({})).toBe(false);
  // Zxids beyond 2^53 keep their order (epoch in the high 32 bits).
  await permitB.leave({ mzxid: 0x1_0000_0005n * 2n ** 20n });
  const again = await enter(a.gate);
  expect(await again.alreadyRun({ mzxid: 0x1_0000_0005n * 2n ** 20n - 1n })).toBe(true);
  expect(await again.alreadyRun({ mzxid: 0x1_0000_0005n * 2n ** 20n + 1n })).toBe(false);
  // An older update finishing late does not move the record back.
  await again.leave({ mzxid: 7n });
  const check = await enter(b.gate);
  expect(await check.alreadyRun({ mzxid: 43n })).toBe(true);
  await check.leave();
});

test('a holder whose lease lapsed cannot record its run (the record is fenced by the lease)', async () => {
  const a = host({ leaseMs: 400 });
  const b = host({ leaseMs: 5000 });
  const lost: number[] = [];
  const permitA = await enter(a.gate);
  permitA.onLost(() => lost.push(performance.now()));
  // What a lapse looks like from Redis: the key is gone and another host takes the lease.
  await connect().del(`${namespace}:watch:{${ZNODE}}:lease`);
  const permitB = await enter(b.gate);
  await permitA.leave({ mzxid: 9n });
  expect(await permitB.alreadyRun({ mzxid: 9n })).toBe(false);
  expect(lost).toHaveLength(1);
  expect(a.events.filter((e) => e.type === 'lost')).toHaveLength(1);
  await permitB.leave();
});

test('aborting a wait gives up without taking the lease later', async () => {
  const a = host();
  const b = host();
  const permitA = await enter(a.gate);
  const abort = new AbortController();
  const waiting = b.gate.enter(abort.signal);
  await sleep(100);
  abort.abort();
  expect(await waiting).toBeNull();
  await permitA.leave();
  await sleep(100);
  const redis = connect();
  expect(await redis.exists(`${namespace}:watch:{${ZNODE}}:lease`)).toBe(0);
});

/**
 * A daemon in a process of its own runs an exclusive watch whose action is `sleep 30`. Once
 * the action runs, the daemon is stalled with SIGSTOP (its child is not: it leads a group of
 * its own). The lease lapses, the other host takes it; resumed with SIGCONT, the daemon learns
 * at its next timer and stops its child.
 */
const STALLED_DAEMON = `
const Redis = require('ioredis');
const { ExclusiveLeases } = require(${JSON.stringify(join(repoRoot, 'src/watch/exclusive-lease.ts'))});
const { WatchRunner } = require(${JSON.stringify(join(repoRoot, 'src/watch/watch-runner.ts'))});
const { startProcess } = require(${JSON.stringify(join(repoRoot, 'src/process/runner.ts'))});
const say = (event) => process.stdout.write(JSON.stringify(event, (k, v) => (k === 'result' ? v.signal : v)) + '\\n');
const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 });
const leases = new ExclusiveLeases(redis, {
  namespace: process.env.LEASE_NAMESPACE, leaseMs: 900, acquireRetryMs: 50, listener: say,
});
const spec = {
  znode: ${JSON.stringify(ZNODE)}, command: ['sleep', '30'], pipeStdin: true, runOnLoad: true,
  runMode: 'queue', description: 'stalled', onFailure: { kind: 'keep' }, exclusive: true,
  source: { file: 'stalled.twc', line: 1 },
};
const runner = new WatchRunner(spec, {
  start: (content) => startProcess({ command: spec.command, stdin: content }),
  gate: leases.gate(spec.znode),
  listener: say,
});
runner.update(Buffer.from('v5'), { mzxid: 5n });
runner.idle().then(() => { say({ type: 'idle' }); redis.disconnect(); });
`;

interface DaemonEvent {
  type: string;
  pid?: number;
  result?: string | null;
  leaseLost?: boolean;
}

function startStalledDaemon(): {
  child: ChildProcess;
  events: DaemonEvent[];
  next(type: string): Promise<DaemonEvent>;
} {
  const child = spawn(
    process.execPath,
    ['-r', join(repoRoot, 'test/support/swc-register.cjs'), '-e', STALLED_DAEMON],
    {
      cwd: repoRoot,
      env: { ...process.env, REDIS_URL: redisUrlFrom(), LEASE_NAMESPACE: namespace },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const events: DaemonEvent[] = [];
  const waiters: Array<() => void> = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) events.push(JSON.parse(line) as DaemonEvent);
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async (type: string): Promise<DaemonEvent> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const found = events.find((e) => e.type === type);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no '${type}' from the daemon; it said ${JSON.stringify(events)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  return { child, events, next };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a stalled holder loses its lease after its length; the other host takes it; the holder stops its child on resuming', async () => {
  const daemon = startStalledDaemon();
  let actionPid: number | undefined;
  try {
    const started = await daemon.next('runStarted');
    actionPid = started.pid!;
    expect(alive(actionPid)).toBe(true);
    const other = host({ leaseMs: 5000 });
    daemon.child.kill('SIGSTOP');
    const stoppedAt = performance.now();
    const permit = await enter(other.gate);
    const takenAfter = performance.now() - stoppedAt;
    // The last renewal was at most a third of the lease (300 ms) before the stall.
    expect(takenAfter).toBeGreaterThan(500);
    expect(takenAfter).toBeLessThan(900 + 1000);
    expect(await permit.alreadyRun({ mzxid: 5n })).toBe(false); // the stalled run recorded nothing
    expect(alive(actionPid)).toBe(true); // both run now: the overlap the lease cannot prevent
    const resumedAt = performance.now();
    daemon.child.kill('SIGCONT');
    await daemon.next('leaseLost');
    const finished = await daemon.next('runFinished');
    expect(performance.now() - resumedAt).toBeLessThan(2000);
    expect(finished).toMatchObject({ result: 'SIGTERM', leaseLost: true });
    expect(alive(actionPid)).toBe(false);
    await daemon.next('idle');
    expect(daemon.events.map((e) => e.type)).toContain('lost');
    await permit.leave({ mzxid: 5n });
  } finally {
    daemon.child.kill('SIGCONT');
    daemon.child.kill('SIGKILL');
    if (actionPid !== undefined && alive(actionPid)) process.kill(-actionPid, 'SIGKILL');
  }
});
