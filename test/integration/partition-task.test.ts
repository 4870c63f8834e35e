/**
 * The partition task's fencing against the real Redis store and redlock (no Kafka): the
 * rules the unit tests' fake partition Redis stands in for, checked where they are enforced.
 */
import Redlock from 'redlock';
import { createRedisClient } from '../../src/redis/client';
import { RedisConnectionPool } from '../../src/redis/connection-pool';
import { RedisPartitionStore } from '../../src/redis/partition-store';
import { StreamRecord } from '../../src/streams/model';
import { PartitionProcessor } from '../../src/streams/processor';
import { PartitionLease } from '../../src/topology/partition-lease';
import { PartitionOutcomes } from '../../src/topology/partition-outcomes';
import { PartitionTask } from '../../src/topology/partition-task';
import { RoleEvents } from '../../src/topology/role-events';
import { testNamespace } from '../support/namespace';
import { eventRecord, repartitionBatch, S, TRIGGER } from '../unit/topology/partition-fakes';

const ns = testNamespace();
const pool = new RedisConnectionPool(ns.settings.redisUrl, 8);
const control = createRedisClient(ns.settings.redisUrl);
const redlock = new Redlock([control], { retryCount: 0 });
redlock.on('error', () => undefined);
afterAll(async () => {
  await pool.close();
  control.disconnect();
});

const exists = (instance: string, seconds: number) =>
  eventRecord('compute.instance.exists', instance, seconds);
const update = (instance: string, seconds: number, id?: string) =>
  eventRecord('compute.instance.update', instance, seconds, id);

/** A task of one owner on the real store of `partition`, on a wall clock fixed at `seconds`. */
function ownerOf(partition: number, seconds = 100) {
  const store = new RedisPartitionStore(partition, pool, {
    namespace: ns.prefix,
    seenRetentionSeconds: 3600,
    maxAttempts: 50,
  });
  const emitted: StreamRecord[] = [];
  const fencedOut: string[] = [];
  const events = new RoleEvents<PartitionOutcomes>().on(
    'fencedOut',
    ({ stage }) => void fencedOut.push(stage),
  );
  const emit = async (records: StreamRecord[]) => void emitted.push(...records);
  const processor = new PartitionProcessor(store, new Map([[TRIGGER.name, TRIGGER]]), 'wall', emit);
  const lease = new PartitionLease(redlock, store.keys.lease);
  const deps = { store, processor, lease, events, deadLetter: async () => undefined, seek: () => undefined };
  const task = new PartitionTask(
    partition,
    { ...deps, wallClock: () => seconds * S },
    { clock: 'wall', sourceCount: 1 },
  );
  return { task, store, emitted, fencedOut };
}

describe('PartitionTask on Redis', () => {
  it('a stale owner epoch fails the timer transaction: the stale owner emits nothing, the new one fires', async () => {
    const a = ownerOf(0);
    await a.task.process(repartitionBatch([exists('i-1', 100)], { partition: 0 }));
    const b = ownerOf(0);
    await b.task.init();

    expect(await a.task.punctuate(() => 101 * S)).toBe(0);
    expect([a.emitted, a.fencedOut, a.task.owning]).toEqual([[], ['punctuate'], false]);
    expect(await b.task.punctuate(() => 101 * S)).toBe(1);
    expect(b.emitted.map((r) => r.kind)).toEqual(['fired']);
  });

  it("a stale owner epoch fails the batch's writes: nothing applied, nothing resolved", async () => {
    const a = ownerOf(3);
    await a.task.process(repartitionBatch([update('i-1', 100)], { partition: 3 }));
    await ownerOf(3).task.init();
    const batch = repartitionBatch([update('i-2', 100)], { partition: 3, firstOffset: 1 });
    await a.task.process(batch);
    expect([batch.resolved, a.fencedOut, a.task.owning]).toEqual([[], ['process'], false]);
    expect(await a.store.listStreams()).toHaveLength(1);
    expect(await ownerOf(3).store.claim()).toBe('0');
  });

  it('a timer due while the partition moves runs once, on the new owner, who holds the lease', async () => {
    const a = ownerOf(1);
    await a.task.process(repartitionBatch([exists('i-1', 100)], { partition: 1 }));
    // A finds the timer due, then stalls before its transaction.
    let resume!: () => void;
    let stalled!: () => void;
    const reachedTake = new Promise<void>((resolve) => (stalled = resolve));
    const takeDueMany = a.store.takeDueMany.bind(a.store);
    a.store.takeDueMany = async (...args) => {
      stalled();
      await new Promise<void>((resolve) => (resume = resolve));
      return takeDueMany(...args);
    };
    const punctuating = a.task.punctuate(() => 101 * S);
    await reachedTake;

    await a.task.close();
    const b = ownerOf(1);
    await b.task.init();
    expect(await b.task.holdLease()).toBe(true);
    resume();

    expect(await punctuating).toBe(0);
    expect(await b.task.punctuate(() => 101 * S)).toBe(1);
    expect([a.emitted.length, b.emitted.length]).toEqual([0, 1]);
  });

  it('after a restart, records at or below the stored offset are not applied again', async () => {
    const records = Array.from({ length: 10 }, (_, i) => update('i-1', 100 + i, `restart-${i}`));
    const a = ownerOf(2);
    await a.task.process(repartitionBatch(records.slice(0, 5), { partition: 2 }));
    const b = ownerOf(2);
    const again = repartitionBatch(records, { partition: 2 });
    await b.task.process(again);
    expect(again.resolved).toEqual(['0', '1', '2', '3', '4', '9']);
    expect(b.task.processor.stats).toMatchObject({ eventsApplied: 5, duplicatesIgnored: 0 });
    expect((await b.store.listStreams()).map((s) => s.eventCount)).toEqual([10]);
    expect(await ownerOf(2).store.claim()).toBe('9');
  });
});
