/** Partition tasks made and closed as the consumer group assigns and revokes repartition partitions. */
import { PartitionAssignment } from '../../../src/topology/partition-assignment';
import { PartitionOutcomes } from '../../../src/topology/partition-outcomes';
import { RoleEvents } from '../../../src/topology/role-events';
import { eventRecord, FakeLeases, FakePartitionRedis, repartitionBatch, taskOn } from './partition-fakes';

const update = (instance: string, seconds: number) =>
  eventRecord('compute.instance.update', instance, seconds);

function assignmentOver(partitions: number) {
  const redis = Array.from({ length: partitions }, (_, p) => new FakePartitionRedis(p));
  const leases = new FakeLeases();
  const events = new RoleEvents<PartitionOutcomes>();
  const assignment = new PartitionAssignment((p) => taskOn(redis[p], `me`, { leases, events }).task, events);
  const batchOn = (p: number, firstOffset = 0) =>
    assignment.taskFor(p).process(repartitionBatch([update('i-1', 10)], { partition: p, firstOffset }));
  return { redis, leases, events, assignment, batchOn };
}

describe('PartitionAssignment', () => {
  it("makes a partition's task on its first batch and keeps it for the next", async () => {
    const { redis, assignment, batchOn } = assignmentOver(2);
    expect(assignment.tasks.size).toBe(0);
    await batchOn(1);
    const task = assignment.tasks.get(1);
    await batchOn(1, 1);
    expect(assignment.tasks.get(1)).toBe(task);
    expect(redis[1].writes).toEqual(['me claim', 'me apply', 'me offset 0', 'me apply', 'me offset 1']);
  });

  it('a revoked partition closes its task and frees its lease; a kept one claims again on its next batch', async () => {
    const { redis, leases, events, assignment, batchOn } = assignmentOver(2);
    const assigned = jest.fn();
    events.on('assigned', assigned);
    await batchOn(0);
    await batchOn(1);
    const [kept, revoked] = [assignment.tasks.get(0)!, assignment.tasks.get(1)!];

    assignment.assign([0]);
    await Promise.resolve();
    expect(assigned).toHaveBeenCalledWith({ partitions: [0] });
    expect([...assignment.tasks.keys()]).toEqual([0]);
    expect(revoked.status).toBe('closed');
    expect(leases.isHeld('lease:1')).toBe(false);
    // Another instance may have owned partition 0 in between: no timers until it is claimed again.
    expect(kept.owning).toBe(false);

    await batchOn(0, 1);
    expect(assignment.tasks.get(0)).toBe(kept);
    expect(kept.owning).toBe(true);
    expect([redis[0].epoch, redis[0].offset]).toEqual([2, '1']);
  });

  it('closeAll closes every task and releases every lease', async () => {
    const { leases, assignment, batchOn } = assignmentOver(2);
    await batchOn(0);
    await batchOn(1);
    await assignment.closeAll();
    expect([...assignment.tasks.values()].map((t) => t.status)).toEqual(['closed', 'closed']);
    expect([leases.isHeld('lease:0'), leases.isHeld('lease:1')]).toEqual([false, false]);
  });
});
