import { PartitionOutcomes } from './partition-outcomes';
import { PartitionTask } from './partition-task';
import { RoleEvents } from './role-events';

/**
 * The repartition partitions this process is assigned, one task each. kafkajs 2.2.4 has no
 * assign/revoke callbacks: each GROUP_JOIN carries the member's whole new assignment, and the
 * difference with the tasks held tells what was revoked.
 */
export class PartitionAssignment {
  private readonly byPartition = new Map<number, PartitionTask>();

  constructor(
    private readonly newTask: (partition: number) => PartitionTask,
    private readonly events: RoleEvents<PartitionOutcomes>,
  ) {}

  /** Every task held, by partition (a live view). */
  get tasks(): ReadonlyMap<number, PartitionTask> {
    return this.byPartition;
  }

  /**
   * The task of the partition a batch came from, made on the partition's first batch (so the
   * tasks held are the partitions this process has consumed). A batch of a partition just
   * revoked makes a task as well: its claim fences the other owner, as any claim does.
   */
  taskFor(partition: number): PartitionTask {
    let task = this.byPartition.get(partition);
    if (!task) this.byPartition.set(partition, (task = this.newTask(partition)));
    return task;
  }

  /**
   * The member's new assignment: tasks of revoked partitions close; kept ones are suspended,
   * since another instance may have owned them in between (each claims again on its next batch).
   */
  assign(partitions: readonly number[]): void {
    const assigned = new Set(partitions);
    for (const [partition, task] of this.byPartition) {
      if (assigned.has(partition)) {
        task.suspend();
      } else {
        this.byPartition.delete(partition);
        void task.close();
      }
    }
    this.events.emit('assigned', { partitions: [...assigned] });
  }

  /** The role stops: every task closes (releasing its lease). */
  async closeAll(): Promise<void> {
    for (const task of this.byPartition.values()) await task.close();
  }
}
