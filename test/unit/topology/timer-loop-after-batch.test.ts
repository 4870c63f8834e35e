/**
 * The timer loop's share in fire latency: a partition's timers run right after a batch went
 * in (wall clock, under the lease), not at the loop's next turn.
 */
import { StreamRecord } from '../../../src/streams/model';
import { PartitionOutcomes } from '../../../src/topology/partition-outcomes';
import { RoleEvents } from '../../../src/topology/role-events';
import { TimerLoop } from '../../../src/topology/timer-loop';
import { ClockMode } from '../../../src/streams/engine';
import {
  eventRecord,
  FakeLeases,
  FakePartitionRedis,
  repartitionBatch,
  S,
  taskOn,
  TaskUnderTest,
} from './partition-fakes';

const exists = (instance: string, seconds: number) =>
  eventRecord('compute.instance.exists', instance, seconds);
const kinds = (records: StreamRecord[]) => records.map((r) => r.kind);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two partitions, each given a batch that makes one stream fire, on a hand-moved wall clock. */
async function twoPartitions(options: { leases?: FakeLeases; clock?: ClockMode } = {}) {
  const wall = { seconds: 100 };
  const wallClock = () => wall.seconds * S;
  const leases = options.leases ?? new FakeLeases();
  const clock = options.clock ?? 'wall';
  const events = new RoleEvents<PartitionOutcomes>();
  const redis = [new FakePartitionRedis(0), new FakePartitionRedis(1)];
  const tasks: TaskUnderTest[] = [];
  for (const p of [0, 1]) {
    const harness = taskOn(redis[p], `m${p}`, { leases, events, wallClock, clock, sourceCount: 1 });
    await harness.task.process(repartitionBatch([exists(`i-${p}`, 100)], { partition: p }));
    tasks.push(harness);
  }
  const loop = new TimerLoop(
    () => tasks.map((t) => t.task),
    { intervalMs: 60_000, clock, measureGauges: false, wallClock },
    events,
  );
  wall.seconds = 101;
  return { redis, tasks, loop, events };
}

describe('TimerLoop.afterBatch', () => {
  it("runs that partition's due timers at once, without waiting for a turn", async () => {
    const { tasks, loop } = await twoPartitions();
    loop.afterBatch(tasks[0].task);
    await loop.stop();
    expect(tasks.map((t) => kinds(t.emitted))).toEqual([['fired'], []]);
  });

  it('runs nothing for a task without its timer lease, nor under the event clock, nor once stopped', async () => {
    const leases = new FakeLeases();
    // Another instance holds partition 1's lease when its task claims.
    await leases.acquire(['lease:1'], 5000);
    const wall = await twoPartitions({ leases });
    wall.loop.afterBatch(wall.tasks[1].task);
    await wall.loop.stop();
    wall.loop.afterBatch(wall.tasks[0].task);
    await sleep(10);
    expect(wall.tasks.map((t) => kinds(t.emitted))).toEqual([[], []]);

    const event = await twoPartitions({ clock: 'event' });
    const punctuate = jest.spyOn(event.tasks[0].task, 'punctuate');
    event.loop.afterBatch(event.tasks[0].task);
    await event.loop.stop();
    expect(punctuate).not.toHaveBeenCalled();
  });

  it('asked again while its run is held up, runs once more after it (and only once)', async () => {
    const { redis, tasks, loop } = await twoPartitions();
    const punctuate = jest.spyOn(tasks[0].task, 'punctuate');
    const due = redis[0].pauseAt('due');
    loop.afterBatch(tasks[0].task);
    await due.reached;
    loop.afterBatch(tasks[0].task);
    loop.afterBatch(tasks[0].task);
    expect(punctuate).toHaveBeenCalledTimes(1);
    due.release();
    for (let waited = 0; punctuate.mock.calls.length < 2 && waited < 1000; waited += 5) await sleep(5);
    await sleep(20);
    expect(punctuate).toHaveBeenCalledTimes(2);
    await loop.stop();
    expect(kinds(tasks[0].emitted)).toEqual(['fired']);
  });

  it('stop waits for the run in flight', async () => {
    const { redis, tasks, loop } = await twoPartitions();
    const due = redis[0].pauseAt('due');
    loop.afterBatch(tasks[0].task);
    await due.reached;
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await sleep(20);
    expect(stopped).toBe(false);
    due.release();
    await stopping;
    expect(kinds(tasks[0].emitted)).toEqual(['fired']);
  });
});
