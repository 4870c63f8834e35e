/** The matcher's punctuator over partition tasks on fake partition Redis and fake leases. */
import { StreamRecord } from '../../../src/streams/model';
import { PartitionOutcomes } from '../../../src/topology/partition-outcomes';
import { RoleEvents } from '../../../src/topology/role-events';
import { TimerLoop, TimerLoopOptions } from '../../../src/topology/timer-loop';
import {
  eventRecord,
  FakeLeases,
  FakePartitionRedis,
  repartitionBatch,
  S,
  TaskSetup,
  taskOn,
  TaskUnderTest,
} from './partition-fakes';

const exists = (instance: string, seconds: number) =>
  eventRecord('compute.instance.exists', instance, seconds);
const update = (instance: string, seconds: number) =>
  eventRecord('compute.instance.update', instance, seconds);
const kinds = (records: StreamRecord[]) => records.map((r) => r.kind);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two partitions, each with one stream, and a loop over their tasks on a hand-moved wall clock. */
async function twoPartitions(records: [string, string], setup: TaskSetup & Partial<TimerLoopOptions> = {}) {
  const wall = { seconds: 100 };
  const wallClock = () => wall.seconds * S;
  const leases = setup.leases ?? new FakeLeases();
  const events = new RoleEvents<PartitionOutcomes>();
  const redis = [new FakePartitionRedis(0), new FakePartitionRedis(1)];
  const tasks: TaskUnderTest[] = [];
  for (const [p, record] of records.entries()) {
    const harness = taskOn(redis[p], `m${p}`, { ...setup, leases, events, wallClock });
    await harness.task.process(repartitionBatch([record], { partition: p }));
    tasks.push(harness);
  }
  const options: TimerLoopOptions = {
    intervalMs: 1000,
    clock: 'wall',
    measureGauges: false,
    wallClock,
    ...setup,
  };
  const loop = new TimerLoop(() => tasks.map((t) => t.task), options, events);
  return { wall, leases, events, redis, tasks, loop };
}

describe('TimerLoop', () => {
  it("runs the wall-clock timers of the tasks it owns, each under its partition's lease", async () => {
    const leases = new FakeLeases();
    // Another instance still holds partition 1's lease when its task claims.
    const intruder = await leases.acquire(['lease:1'], 5000);
    const { wall, tasks, loop } = await twoPartitions([exists('i-1', 100), exists('i-2', 100)], { leases });
    wall.seconds = 101;

    await loop.tick();
    expect(tasks.map((t) => kinds(t.emitted))).toEqual([['fired'], []]);
    await intruder.release();
    await loop.tick();
    expect(tasks.map((t) => kinds(t.emitted))).toEqual([['fired'], ['fired']]);
    expect(leases.isHeld('lease:1')).toBe(true);
  });

  it('a task that does not own its partition is not driven', async () => {
    const { wall, tasks, loop } = await twoPartitions([exists('i-1', 100), exists('i-2', 100)]);
    tasks[1].task.suspend();
    wall.seconds = 101;
    await loop.tick();
    expect(tasks.map((t) => kinds(t.emitted))).toEqual([['fired'], []]);
  });

  it('one failing partition does not stop the others; what it took is re-emitted on a ~5 s turn', async () => {
    const { wall, events, tasks, loop } = await twoPartitions([exists('i-1', 100), exists('i-2', 100)]);
    const failed = jest.fn();
    const reemitted = jest.fn();
    events.on('timerFailed', failed).on('reemitted', reemitted);
    tasks[0].failNextEmit(new Error('broker away'));
    wall.seconds = 101;

    await loop.tick();
    expect(failed).toHaveBeenCalledWith({ partition: 0, error: new Error('broker away') });
    expect(tasks.map((t) => kinds(t.emitted))).toEqual([[], ['fired']]);
    for (let turn = 2; turn <= 4; turn++) await loop.tick();
    expect(tasks[0].emitted).toEqual([]);
    await loop.tick();
    expect(kinds(tasks[0].emitted)).toEqual(['fired']);
    expect(reemitted).toHaveBeenCalledWith({ partition: 0, records: 1 });
  });

  it('under the event clock it leaves timers to the watermark, and still re-emits', async () => {
    const { wall, tasks, loop } = await twoPartitions([exists('i-1', 100), exists('i-2', 100)], {
      clock: 'event',
      sourceCount: 1,
    });
    const punctuate = jest.spyOn(tasks[0].task, 'punctuate');
    const reemit = jest.spyOn(tasks[0].task, 'reemitPending');
    wall.seconds = 1_000_000;
    for (let turn = 1; turn <= 5; turn++) await loop.tick();
    expect(punctuate).not.toHaveBeenCalled();
    expect(reemit).toHaveBeenCalledTimes(1);
    expect(tasks.flatMap((t) => t.emitted)).toEqual([]);
  });

  it('measures active streams and timer lag before driving the tasks', async () => {
    const { wall, events, loop } = await twoPartitions([update('i-1', 100), update('i-2', 130)], {
      intervalMs: 5000,
      measureGauges: true,
    });
    const gauges = jest.fn();
    events.on('timerGauges', gauges);
    wall.seconds = 200;
    await loop.tick();
    // Expiring 60 s after their last event: 160 and 190, so 40 s and 10 s late.
    expect(gauges).toHaveBeenCalledWith({ activeStreams: 2, timerLagSeconds: 40 });
    await loop.tick();
    expect(gauges).toHaveBeenLastCalledWith({ activeStreams: 0, timerLagSeconds: 0 });
  });

  it('stop waits for the turn in flight, which drives no further task, and no turn starts after', async () => {
    const { wall, redis, tasks, loop } = await twoPartitions([exists('i-1', 100), exists('i-2', 100)], {
      intervalMs: 5,
    });
    wall.seconds = 101;
    const punctuations = tasks.map((t) => jest.spyOn(t.task, 'punctuate'));
    const due = redis[0].pauseAt('due');
    loop.start();
    await due.reached;
    await sleep(30);
    // The turn in flight holds the next ones off.
    expect(punctuations.map((p) => p.mock.calls.length)).toEqual([1, 0]);

    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await sleep(20);
    expect(stopped).toBe(false);
    due.release();
    await stopping;
    await sleep(30);
    expect(punctuations.map((p) => p.mock.calls.length)).toEqual([1, 0]);
    expect(tasks.map((t) => kinds(t.emitted))).toEqual([['fired'], []]);
  });
});
