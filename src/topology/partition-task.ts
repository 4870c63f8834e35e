import { performance } from 'node:perf_hooks';
import type { StageTimers } from '../metrics/stage-latency';
import { LostOwnershipError } from '../redis/errors';
import { ClockMode } from '../streams/engine';
import { MatchedEvent } from '../streams/model';
import { PartitionProcessor } from '../streams/processor';
import { PartitionStore } from '../streams/store';
import { Micros } from '../time/micros';
import { SourceRecord } from './batch-loop';
import { PartitionLease } from './partition-lease';
import { PartitionOutcomes, TaskStage } from './partition-outcomes';
import { PartitionWrites, RepartitionBatch, RepartitionPayload } from './repartition-batch';
import { RoleEvents } from './role-events';

/** What a task uses of its partition's store: the engine's store, plus ownership, offsets and timer statistics. */
export interface TaskStore extends PartitionStore {
  /** Bumps the owner epoch (fencing out the previous owner) and returns the last applied offset. */
  claim(): Promise<string | null>;
  readonly ownerEpoch: string | null;
  /** Records the last applied repartition offset (fenced by the owner epoch). */
  storeOffset(offset: string): Promise<void>;
  timerStats(): Promise<{ active: number; oldestDue: Micros | null }>;
}

export interface PartitionTaskDeps {
  store: TaskStore;
  /** Applies events and runs timers on `store`, producing the stream records. */
  processor: PartitionProcessor;
  lease: PartitionLease;
  events: RoleEvents<PartitionOutcomes>;
  /** Sends an undecodable record to the DLQ; resolves once it is acknowledged. */
  deadLetter(source: SourceRecord, error: unknown): Promise<void>;
  /** Consumes the partition again from `offset`. */
  seek(offset: string): void;
  /** The wall clock, in microseconds (Date.now unless given). */
  wallClock?: () => Micros;
  /** Where the repartition hop and each segment's Redis work are timed (none: not timed). */
  latency?: Pick<StageTimers, 'repartition_hop' | 'redis_apply'>;
}

export interface PartitionTaskOptions {
  clock: ClockMode;
  /** Partitions of `events`: the event clock is the minimum over their watermarks. */
  sourceCount: number;
  /** Event records per Redis apply (and offset store); SEGMENT_SIZE unless given. */
  segmentSize?: number;
}

/**
 * created → running (claimed) ⇄ suspended (kept across a rebalance, or fenced out: claims
 * again on its next batch) → closed (revoked or stopped: writes nothing more, ever).
 */
export type TaskState = 'created' | 'running' | 'suspended' | 'closed';

/** Thrown inside a stage when its task was closed meanwhile: the stage ends without writing. */
class TaskClosed extends Error {}

const wallMicros = () => Date.now() * 1000;

/**
 * One repartition partition owned by this process, as Kafka Streams has a task per input
 * partition: its stages are `init` (claim), `process` (a batch into Redis), `punctuate`
 * (due timers) and `close`. They take turns, one at a time: a timer run never interleaves
 * with a batch on the same partition. Every write is fenced by the owner epoch taken at
 * the claim, so a stale owner's writes fail (LostOwnershipError) and it stops owning.
 */
export class PartitionTask {
  private state: TaskState = 'created';
  /** Records at or below this offset are already in Redis (applied before a crash or a move). */
  private appliedUpTo: bigint | null = null;
  /** The partition's event clock as last read or moved (always null under the wall clock). */
  private eventClock: Micros | null = null;
  private readonly turns = new Turns();
  private readonly wallClock: () => Micros;

  constructor(
    readonly partition: number,
    private readonly deps: PartitionTaskDeps,
    private readonly options: PartitionTaskOptions,
  ) {
    this.wallClock = deps.wallClock ?? wallMicros;
  }

  get processor(): PartitionProcessor {
    return this.deps.processor;
  }

  get status(): TaskState {
    return this.state;
  }

  /** Claimed and not fenced out, suspended or closed since: its timers are this process's to run. */
  get owning(): boolean {
    return this.state === 'running';
  }

  /** The event clock as this task last saw it (null under the wall clock). */
  get clock(): Micros | null {
    return this.eventClock;
  }

  /** Claims the partition now rather than on its next batch. A closed task claims nothing. */
  init(): Promise<void> {
    return this.turns.take(() => this.unlessClosed('init', () => this.claim()));
  }

  /** kafkajs's `eachBatch` for this partition: claims it first when needed, then applies the batch. */
  process(payload: RepartitionPayload): Promise<void> {
    return this.turns.take(() =>
      this.unlessClosed('process', async () => {
        if (this.state !== 'running' && !(await this.claimForBatch(payload.batch))) return;
        const writes = this.batchWrites();
        await new RepartitionBatch(payload, writes, this.options.clock, this.options.segmentSize).apply();
      }),
    );
  }

  /**
   * Runs the timers due strictly before `now()`, which is read once this turn starts (a wait
   * behind a batch must not leave it stale). Nothing unless the task owns its partition.
   */
  punctuate(now: () => Micros): Promise<number> {
    return this.whileOwning('punctuate', 0, () => this.processor.runTimers(now()));
  }

  /** Produces again the records taken but never acknowledged, or reset for retry. */
  reemitPending(): Promise<number> {
    return this.whileOwning('reemit', 0, () => this.reemit());
  }

  /** Whether the timer lease was held at its last renewal (no Redis call). */
  get leaseHeld(): boolean {
    return this.deps.lease.held;
  }

  /** Renews (or takes) the timer lease while the task owns its partition; false when it cannot. */
  async holdLease(): Promise<boolean> {
    if (!this.owning) return false;
    const held = await this.deps.lease.hold();
    // Closed while asking: the lease must not outlive the task.
    if (this.status === 'closed') await this.deps.lease.release();
    return held && this.owning;
  }

  /**
   * Kept across a rebalance: another instance may have owned the partition in between, so the
   * next batch claims it again (new epoch, stored offset). A batch in flight goes on, fenced.
   */
  suspend(): void {
    if (this.state === 'running') this.state = 'suspended';
  }

  /** Revoked, or the role stops: no stage writes anything more, and the timer lease is released. */
  async close(): Promise<void> {
    this.state = 'closed';
    await this.deps.lease.release();
  }

  /** Active streams and how far the oldest timer is behind the task's clock, for the gauges. */
  async timerBacklog(): Promise<{ active: number; lagSeconds: number }> {
    const { active, oldestDue } = await this.deps.store.timerStats();
    const now = this.options.clock === 'wall' ? this.wallClock() : this.eventClock;
    const behind = oldestDue !== null && now !== null && oldestDue < now ? now - oldestDue : 0;
    return { active, lagSeconds: behind / 1e6 };
  }

  /**
   * Takes the partition: a new owner epoch (fencing out the previous owner), the offset and
   * event clock Redis holds, the timer lease if it is free, and the stream records a previous
   * owner took but never saw acknowledged.
   */
  private async claim(): Promise<void> {
    const { store, lease, events } = this.deps;
    const stored = await store.claim();
    this.checkOpen();
    this.state = 'running';
    this.appliedUpTo = stored === null ? null : BigInt(stored);
    const { clock, sourceCount } = this.options;
    this.eventClock = clock === 'event' ? await store.readClock(sourceCount) : null;
    await lease.hold();
    await this.reemit();
    events.emit('claimed', { partition: this.partition, epoch: store.ownerEpoch, appliedUpTo: stored });
  }

  /** Claims before a batch; false when the batch is not the one to apply next (a seek back). */
  private async claimForBatch(batch: RepartitionPayload['batch']): Promise<boolean> {
    await this.claim();
    const first = BigInt(batch.firstOffset() ?? '0');
    if (this.appliedUpTo !== null && this.appliedUpTo + 1n < first) {
      // Redis is behind the committed offset (e.g. lost its last second of AOF): replay from Redis's.
      this.deps.seek(String(this.appliedUpTo + 1n));
      return false;
    }
    // Timers the stored event clock made due while nobody owned the partition.
    if (this.eventClock !== null) await this.runDueTimers(this.eventClock);
    return true;
  }

  private async reemit(): Promise<number> {
    const records = await this.processor.reemitPending();
    if (records) this.deps.events.emit('reemitted', { partition: this.partition, records });
    return records;
  }

  /** The steps a batch writes through, each refused once the task is closed. */
  private batchWrites(): PartitionWrites {
    return {
      alreadyApplied: (offset) => this.appliedUpTo !== null && BigInt(offset) <= this.appliedUpTo,
      received: (timestampMs) => this.deps.latency?.repartition_hop.sinceRecord(timestampMs),
      applyEvents: (segment) => this.applyEvents(segment),
      moveClock: (marks, floor) => this.moveClock(marks, floor),
      storeOffset: (offset) => {
        this.checkOpen();
        return this.deps.store.storeOffset(offset);
      },
      deadLetter: async (source, error) => {
        this.checkOpen();
        await this.deps.deadLetter(source, error);
        this.deps.events.emit('undecodable', { source, error });
      },
    };
  }

  private async applyEvents(segment: MatchedEvent[]): Promise<void> {
    this.checkOpen();
    // Before any watermark, the event clock's "now" is the segment's first event time.
    const now =
      this.options.clock === 'wall' ? this.wallClock() : (this.eventClock ?? segment[0].event.timestamp);
    const started = performance.now();
    await this.processor.apply(segment, now);
    this.deps.latency?.redis_apply.observe((performance.now() - started) / 1000);
  }

  /** Event clock: the partition's clock follows the watermarks (never backwards; the store sees to it). */
  private async moveClock(marks: ReadonlyMap<number, Micros>, floor: Micros | null): Promise<void> {
    this.checkOpen();
    const { store } = this.deps;
    const { sourceCount } = this.options;
    if (marks.size) this.eventClock = await store.recordWatermarks(marks, sourceCount);
    if (floor !== null) this.eventClock = await store.advanceClock(floor, sourceCount);
    if (this.eventClock !== null) await this.runDueTimers(this.eventClock);
  }

  private runDueTimers(now: Micros): Promise<number> {
    this.checkOpen();
    return this.processor.runTimers(now);
  }

  private checkOpen(): void {
    if (this.state === 'closed') throw new TaskClosed();
  }

  /** A stage of a task not closed; closed during it, it ends quietly, and fenced out, the task stops owning. */
  private async unlessClosed(stage: TaskStage, step: () => Promise<void>): Promise<void> {
    if (this.state === 'closed') return;
    try {
      await step();
    } catch (error) {
      if (error instanceof TaskClosed) return;
      if (error instanceof LostOwnershipError) return this.fencedOut(stage, error);
      throw error;
    }
  }

  /** A stage that runs only while the task owns its partition; `otherwise` is its result when not. */
  private whileOwning<T>(stage: TaskStage, otherwise: T, step: () => Promise<T>): Promise<T> {
    return this.turns.take(async () => {
      if (this.state !== 'running') return otherwise;
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof LostOwnershipError)) throw error;
        this.fencedOut(stage, error);
        return otherwise;
      }
    });
  }

  /** Another instance owns the partition now; if Kafka still gives this one a batch of it, it claims again. */
  private fencedOut(stage: TaskStage, error: LostOwnershipError): void {
    if (this.state === 'running') this.state = 'suspended';
    this.deps.events.emit('fencedOut', { partition: this.partition, stage, reason: error.message });
  }
}

/** One step at a time, in the order asked: a step starts once the one before it has settled. */
class Turns {
  private last: Promise<unknown> = Promise.resolve();

  take<T>(step: () => Promise<T>): Promise<T> {
    const turn = this.last.then(step);
    this.last = turn.catch(() => undefined);
    return turn;
  }
}
