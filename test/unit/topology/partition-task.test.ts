/**
 * The matcher's stage 2 as one task per repartition partition, on a fake partition Redis
 * that fences writes by owner epoch as the Redis store does (partition-fakes.ts).
 */
import { StreamRecord } from '../../../src/streams/model';
import { PartitionOutcomes } from '../../../src/topology/partition-outcomes';
import { RoleEvents } from '../../../src/topology/role-events';
import {
  clockAdvance,
  eventRecord,
  FakeLeases,
  FakePartitionRedis,
  marker,
  repartitionBatch,
  S,
  taskOn,
} from './partition-fakes';

const update = (instance: string, seconds: number, id?: string) =>
  eventRecord('compute.instance.update', instance, seconds, id);
const exists = (instance: string, seconds: number, id?: string) =>
  eventRecord('compute.instance.exists', instance, seconds, id);

const instanceOf = (record: StreamRecord) => (record.distinguished_by.instance_id as { value: string }).value;

/** A wall clock a test moves by hand, in seconds. */
function wallClock(seconds: number) {
  const clock = { seconds, now: () => clock.seconds * S };
  return clock;
}

describe('PartitionTask: process', () => {
  it('claims on its first batch, applies it, stores the offset and only then resolves it', async () => {
    const redis = new FakePartitionRedis();
    const events = new RoleEvents<PartitionOutcomes>();
    const claimed = jest.fn();
    events.on('claimed', claimed);
    const a = taskOn(redis, 'A', { wallClock: wallClock(1000).now, events });
    const batch = repartitionBatch([update('i-1', 990), update('i-1', 991), exists('i-1', 995)]);
    batch.resolveOffset.mockImplementation(
      (offset) => void batch.resolved.push(`${offset} at ${redis.offset}`),
    );
    await a.task.process(batch);

    expect(redis.writes).toEqual(['A claim', 'A apply', 'A offset 2']);
    expect(batch.resolved).toEqual(['2 at 2']);
    expect(batch.heartbeat).toHaveBeenCalledTimes(1);
    expect(claimed).toHaveBeenCalledWith({ partition: 0, epoch: '1', appliedUpTo: null });
    const [stream] = await redis.streams();
    expect([stream.eventCount, stream.fireAt]).toEqual([3, 1000 * S]);
    expect(a.task.owning).toBe(true);
  });

  it('sends an undecodable record to the DLQ and takes it, so its offset is stored with the rest', async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A');
    const batch = repartitionBatch(['{not json', update('i-1', 10), null]);
    await a.task.process(batch);
    expect(a.deadLetters).toEqual(['0', '2']);
    expect(batch.resolved).toEqual(['2']);
    expect(redis.offset).toBe('2');
  });

  it('after a restart, records at or below the stored offset are resolved without being applied again', async () => {
    const redis = new FakePartitionRedis();
    const records = Array.from({ length: 10 }, (_, i) => update('i-1', 100 + i, `m${i}`));
    const a = taskOn(redis, 'A', { wallClock: wallClock(100).now });
    await a.task.process(repartitionBatch(records.slice(0, 5)));
    expect(redis.offset).toBe('4');

    // A dies before kafkajs commits: B gets the whole partition again from offset 0.
    const b = taskOn(redis, 'B', { wallClock: wallClock(100).now });
    const again = repartitionBatch(records);
    await b.task.process(again);

    expect(again.resolved).toEqual(['0', '1', '2', '3', '4', '9']);
    expect(b.task.processor.stats).toMatchObject({ eventsApplied: 5, duplicatesIgnored: 0 });
    expect(redis.writes.slice(-3)).toEqual(['B claim', 'B apply', 'B offset 9']);
    expect((await redis.streams()).map((s) => s.eventCount)).toEqual([10]);
  });

  it("when Redis is behind the committed offset, it seeks back to Redis's and applies nothing", async () => {
    const redis = new FakePartitionRedis();
    redis.offset = '2';
    const a = taskOn(redis, 'A');
    const batch = repartitionBatch([update('i-1', 10)], { firstOffset: 10 });
    await a.task.process(batch);
    expect(a.seeks).toEqual(['3']);
    expect(batch.resolved).toEqual([]);
    expect(redis.writes).toEqual(['A claim']);

    // The records from there come next, to the task that already claimed.
    await a.task.process(repartitionBatch([update('i-1', 10)], { firstOffset: 3 }));
    expect(redis.writes).toEqual(['A claim', 'A apply', 'A offset 3']);
  });

  it('closed while a batch is being applied: no further writes, offsets resolved only up to what was stored', async () => {
    const redis = new FakePartitionRedis();
    const records = Array.from({ length: 6 }, (_, i) => update('i-1', 100 + i, `m${i}`));
    const a = taskOn(redis, 'A', { segmentSize: 2, wallClock: wallClock(100).now });
    const batch = repartitionBatch(records);
    const secondApply = redis.pauseAt('apply', 2);
    const processing = a.task.process(batch);
    await secondApply.reached;
    // Revoked now; the apply already on its way to Redis lands (a close changes no epoch).
    const closing = a.task.close();
    secondApply.release();
    await Promise.all([processing, closing]);

    expect(redis.writes).toEqual(['A claim', 'A apply', 'A offset 1', 'A apply']);
    expect(batch.resolved).toEqual(['1']);
    expect(a.task.status).toBe('closed');

    // The next owner reads from the stored offset; the seen-set absorbs what landed unstored.
    const b = taskOn(redis, 'B', { wallClock: wallClock(100).now });
    const rest = repartitionBatch(records.slice(2), { firstOffset: 2 });
    await b.task.process(rest);
    expect(rest.resolved).toEqual(['5']);
    expect(b.task.processor.stats).toMatchObject({ eventsApplied: 2, duplicatesIgnored: 2 });
    expect((await redis.streams()).map((s) => s.eventCount)).toEqual([6]);
  });

  it('a batch that waited for its turn behind a closing task is left to the next owner', async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A', { wallClock: wallClock(100).now });
    await a.task.process(repartitionBatch([update('i-1', 100)]));
    const due = redis.pauseAt('due');
    const punctuation = a.task.punctuate(() => 100 * S);
    await due.reached;
    const waiting = repartitionBatch([update('i-1', 101)], { firstOffset: 1 });
    const processing = a.task.process(waiting);
    await a.task.close();
    due.release();
    await Promise.all([punctuation, processing]);
    expect(waiting.resolved).toEqual([]);
    expect(redis.writes).toEqual(['A claim', 'A apply', 'A offset 0']);
  });
});

describe('PartitionTask: fencing', () => {
  it("a stale epoch fails the batch's writes: nothing resolved, and the task stops owning", async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A', { wallClock: wallClock(100).now });
    await a.task.process(repartitionBatch([update('i-1', 100)]));
    const b = taskOn(redis, 'B');
    await b.task.init();

    const batch = repartitionBatch([update('i-2', 100)], { firstOffset: 1 });
    await a.task.process(batch);
    expect(batch.resolved).toEqual([]);
    expect(redis.writes).toEqual(['A claim', 'A apply', 'A offset 0', 'B claim']);
    expect(a.task.owning).toBe(false);
    expect(a.fencedOut).toEqual(['process']);
  });

  it('a stale epoch fails the timer transaction: the stale owner emits nothing, the new one fires', async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A', { wallClock: wallClock(100).now });
    await a.task.process(repartitionBatch([exists('i-1', 100)]));
    const b = taskOn(redis, 'B');
    await b.task.init();

    expect(await a.task.punctuate(() => 101 * S)).toBe(0);
    expect(a.emitted).toEqual([]);
    expect(a.fencedOut).toEqual(['punctuate']);
    expect(a.task.owning).toBe(false);
    expect(await redis.streams('active')).toHaveLength(1);
    // Not owning, it does not even look at the timers again.
    expect(await a.task.punctuate(() => 101 * S)).toBe(0);

    expect(await b.task.punctuate(() => 101 * S)).toBe(1);
    expect(b.emitted.map((r) => [r.kind, r.events.length])).toEqual([['fired', 1]]);
  });

  it('fenced out but still given batches by Kafka, it claims again on the next one', async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A', { wallClock: wallClock(100).now });
    await a.task.process(repartitionBatch([update('i-1', 100)]));
    await taskOn(redis, 'B').task.init();
    await a.task.process(repartitionBatch([update('i-1', 101)], { firstOffset: 1 }));
    const next = repartitionBatch([update('i-1', 101)], { firstOffset: 1 });
    await a.task.process(next);
    expect(redis.writes.slice(-3)).toEqual(['A claim', 'A apply', 'A offset 1']);
    expect(redis.epoch).toBe(3);
    expect(next.resolved).toEqual(['1']);
  });
});

describe('PartitionTask: a timer due during a rebalance runs exactly once, on the new owner', () => {
  async function firingStreamOn(redis: FakePartitionRedis, leases: FakeLeases) {
    const a = taskOn(redis, 'A', { leases, wallClock: wallClock(100).now });
    await a.task.process(repartitionBatch([exists('i-1', 100)]));
    const [stream] = await redis.streams();
    return { a, stream };
  }

  it('the old owner is revoked while it punctuates: its take is fenced, the new owner fires', async () => {
    const redis = new FakePartitionRedis();
    const leases = new FakeLeases();
    const { a, stream } = await firingStreamOn(redis, leases);
    expect(leases.isHeld('lease:0')).toBe(true);

    const take = redis.pauseAt('take');
    const punctuating = a.task.punctuate(() => 101 * S);
    await take.reached;
    // The group moves the partition: A is revoked, B claims it.
    await a.task.close();
    expect(leases.isHeld('lease:0')).toBe(false);
    const b = taskOn(redis, 'B', { leases });
    await b.task.init();
    expect(leases.isHeld('lease:0')).toBe(true);
    take.release();

    expect(await punctuating).toBe(0);
    expect(await b.task.punctuate(() => 101 * S)).toBe(1);
    expect(await a.task.punctuate(() => 101 * S)).toBe(0);
    expect(a.emitted).toEqual([]);
    expect(b.emitted.map((r) => [r.stream_id, r.serial])).toEqual([[stream.id, stream.serial + 1]]);
    expect(redis.writes.filter((w) => w.endsWith(' take'))).toEqual(['B take']);
  });

  it('the old owner took it before the new claim: the new owner has nothing left to fire', async () => {
    const redis = new FakePartitionRedis();
    const leases = new FakeLeases();
    const { a } = await firingStreamOn(redis, leases);
    const claim = redis.pauseAt('claim');
    const b = taskOn(redis, 'B', { leases });
    const claiming = b.task.init();
    await claim.reached;
    expect(await a.task.punctuate(() => 101 * S)).toBe(1);
    await a.task.close();
    claim.release();
    await claiming;

    expect(await b.task.punctuate(() => 101 * S)).toBe(0);
    expect([a.emitted.length, b.emitted.length]).toEqual([1, 0]);
  });

  it("a record taken but never acknowledged is the new owner's to produce again, once", async () => {
    const redis = new FakePartitionRedis();
    const { a, stream } = await firingStreamOn(redis, new FakeLeases());
    a.failNextEmit(new Error('broker away'));
    await expect(a.task.punctuate(() => 101 * S)).rejects.toThrow('broker away');
    await a.task.close();

    const events = new RoleEvents<PartitionOutcomes>();
    const reemitted = jest.fn();
    events.on('reemitted', reemitted);
    const b = taskOn(redis, 'B', { events });
    await b.task.init();
    expect(b.emitted.map((r) => [r.stream_id, r.kind])).toEqual([[stream.id, 'fired']]);
    expect(reemitted).toHaveBeenCalledWith({ partition: 0, records: 1 });
    expect(await b.task.reemitPending()).toBe(0);
    expect(await b.task.punctuate(() => 101 * S)).toBe(0);
  });
});

describe('PartitionTask: the event clock', () => {
  it('punctuates as the watermark moves, coalescing clock records, never going backwards', async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A', { clock: 'event', sourceCount: 2 });
    const clocks: Array<number | null> = [];
    const fired: string[][] = [];
    const step = async (records: string[]) => {
      const before = a.emitted.length;
      await a.task.process(
        repartitionBatch(records, { firstOffset: redis.offset === null ? 0 : 1 + +redis.offset }),
      );
      clocks.push(a.task.clock === null ? null : a.task.clock / S);
      fired.push(a.emitted.slice(before).map((r) => `${r.kind} ${instanceOf(r)}`));
    };
    // i-1 fires at 100; i-2 expires at 160 (60 s after its last event).
    await step([exists('i-1', 100), update('i-2', 100), marker(0, 150)]);
    await step([marker(1, 120), marker(0, 155)]);
    await step([marker(1, 200)]);
    await step([marker(0, 140)]);
    await step([update('i-3', 150), clockAdvance(170)]);

    expect(clocks).toEqual([null, 120, 155, 155, 170]);
    expect(fired).toEqual([[], ['fired i-1'], [], [], ['expired i-2']]);
    // Six clock records, five clock writes: the second batch's two markers are one.
    expect(redis.writes.filter((w) => w === 'A clock')).toHaveLength(5);
    expect((await redis.streams('active')).map((s) => s.distinguished.instance_id)).toEqual([
      { type: 'text', value: 'i-3' },
    ]);
  });

  it('events after a clock move see the timers that move ran', async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A', { clock: 'event', sourceCount: 1 });
    await a.task.process(
      repartitionBatch([update('i-1', 100, 'first'), marker(0, 200), update('i-1', 150, 'late')]),
    );
    // The marker expired the first stream (due 160 < 200); the late event opens a new one.
    expect(a.emitted.map((r) => [r.kind, r.events.map((e) => e.message_id)])).toEqual([
      ['expired', ['first']],
    ]);
    expect((await redis.streams('active')).map((s) => s.eventCount)).toEqual([1]);
  });

  it('a new owner runs the timers the stored clock made due that the old owner never ran', async () => {
    const redis = new FakePartitionRedis();
    const a = taskOn(redis, 'A', { clock: 'event', sourceCount: 1 });
    await a.task.process(repartitionBatch([update('i-1', 100), marker(0, 150)]));
    // A records the clock at 170, then stalls before running its timers.
    const due = redis.pauseAt('due');
    const stalled = a.task.process(repartitionBatch([marker(0, 170)], { firstOffset: 2 }));
    await due.reached;

    // B takes over from the stored offset; the claim runs the timers, before the batch's clock record.
    const b = taskOn(redis, 'B', { clock: 'event', sourceCount: 1 });
    await b.task.process(repartitionBatch([marker(0, 170), update('i-2', 171)], { firstOffset: 2 }));
    expect(b.task.clock).toBe(170 * S);
    expect(redis.writes.slice(-5)).toEqual(['B claim', 'B take', 'B clock', 'B apply', 'B offset 3']);
    due.release();
    await stalled;

    expect(b.emitted.map((r) => r.kind)).toEqual(['expired']);
    expect(a.emitted).toEqual([]);
    expect(a.fencedOut).toEqual(['process']);
  });
});
