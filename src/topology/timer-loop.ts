import { ClockMode } from '../streams/engine';
import { Micros } from '../time/micros';
import { PartitionOutcomes } from './partition-outcomes';
import { PartitionTask } from './partition-task';
import { RoleEvents } from './role-events';

/** What the loop drives of a partition task. */
export type TimedTask = Pick<
  PartitionTask,
  'partition' | 'owning' | 'leaseHeld' | 'holdLease' | 'punctuate' | 'reemitPending' | 'timerBacklog'
>;

export interface TimerLoopOptions {
  intervalMs: number;
  clock: ClockMode;
  /** Measure the active-stream and timer-lag gauges (they cost Redis reads; only metrics use them). */
  measureGauges: boolean;
  wallClock?: () => Micros;
}

/** Re-emission of unacknowledged records and the gauges run on every turn that ends such a period. */
const SLOW_PERIOD_MS = 5000;

/**
 * The matcher's punctuator: every `intervalMs`, each partition task this process owns renews
 * its timer lease and, holding it, runs its wall-clock timers (under the event clock they
 * follow the watermark inside `process` instead); every ~5 s it also re-emits what was never
 * acknowledged. One turn at a time: a turn still running when the next is due skips it.
 * Between turns, `afterBatch` runs a partition's timers as soon as a batch has gone in.
 */
export class TimerLoop {
  private timer?: NodeJS.Timeout;
  private turn?: Promise<void>;
  private turnsTaken = 0;
  private stopped = false;
  private readonly slowEvery: number;
  private readonly wallClock: () => Micros;
  /** Timer runs asked for by `afterBatch` and not finished yet, by partition. */
  private readonly asked = new Map<number, Promise<void>>();
  /** Partitions whose run was asked for again meanwhile: another follows it. */
  private readonly askedAgain = new Set<number>();

  constructor(
    private readonly tasks: () => Iterable<TimedTask>,
    private readonly options: TimerLoopOptions,
    private readonly events: RoleEvents<PartitionOutcomes>,
  ) {
    this.slowEvery = Math.max(1, Math.round(SLOW_PERIOD_MS / options.intervalMs));
    this.wallClock = options.wallClock ?? (() => Date.now() * 1000);
  }

  start(): void {
    this.stopped = false;
    this.timer ??= setInterval(() => this.startTurn(), this.options.intervalMs);
  }

  /**
   * No turn starts after this, and the turn in flight drives no further task; resolves once
   * that turn (and any run `afterBatch` started) has finished.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.turn;
    // A run that finishes asks for no other (stopped): the map empties.
    while (this.asked.size) await Promise.all(this.asked.values());
  }

  /** One turn over every owned task (the interval calls it; a test may too). Never throws. */
  async tick(): Promise<void> {
    if (this.stopped) return;
    this.turnsTaken++;
    const slow = this.turnsTaken % this.slowEvery === 0;
    try {
      if (this.options.measureGauges && slow) await this.measureGauges();
      // Live iteration: a task assigned during the turn is driven too, a revoked one is not.
      for (const task of this.tasks()) {
        if (this.stopped) break;
        await this.drive(task, slow);
      }
    } catch (error) {
      this.events.emit('timerLoopFailed', { error });
    }
  }

  /**
   * A batch went into `task`'s partition (wall clock): its timers run right after it, in the
   * task's next turn, instead of at the loop's next turn. A fire time is set to the moment its
   * batch was applied, so the streams the batch made due fire without waiting for the
   * interval. Only while the task holds its timer lease (the loop's turns renew it); one run
   * at a time per partition, and one more after it when asked meanwhile.
   */
  afterBatch(task: TimedTask): void {
    if (this.stopped || this.options.clock !== 'wall' || !task.owning || !task.leaseHeld) return;
    const { partition } = task;
    if (this.asked.has(partition)) {
      this.askedAgain.add(partition);
      return;
    }
    const run = task
      .punctuate(this.wallClock)
      .then(() => undefined)
      .catch((error: unknown) => this.events.emit('timerFailed', { partition, error }))
      .finally(() => {
        this.asked.delete(partition);
        if (this.askedAgain.delete(partition)) this.afterBatch(task);
      });
    this.asked.set(partition, run);
  }

  private startTurn(): void {
    if (this.turn) return;
    this.turn = this.tick().finally(() => (this.turn = undefined));
  }

  /** One task's share of a turn; its failure is its own, and the turn goes on. */
  private async drive(task: TimedTask, slow: boolean): Promise<void> {
    if (!task.owning || !(await task.holdLease())) return;
    try {
      if (this.options.clock === 'wall') await task.punctuate(this.wallClock);
      if (slow) await task.reemitPending();
    } catch (error) {
      this.events.emit('timerFailed', { partition: task.partition, error });
    }
  }

  private async measureGauges(): Promise<void> {
    let activeStreams = 0;
    let timerLagSeconds = 0;
    for (const task of this.tasks()) {
      if (!task.owning) continue;
      const { active, lagSeconds } = await task.timerBacklog();
      activeStreams += active;
      timerLagSeconds = Math.max(timerLagSeconds, lagSeconds);
    }
    this.events.emit('timerGauges', { activeStreams, timerLagSeconds });
  }
}
