import { KafkaMessage } from 'kafkajs';
import { ClockMode } from '../streams/engine';
import { MatchedEvent } from '../streams/model';
import { Micros } from '../time/micros';
import { BatchPayload, SourceRecord } from './batch-loop';
import { decodeRepartition, RepartitionRecord } from './records';

/** kafkajs's EachBatchPayload as stage 2 uses it (a test can fake it). */
export interface RepartitionPayload extends BatchPayload {
  batch: BatchPayload['batch'] & { firstOffset(): string | null };
}

/** What a batch writes through: its partition task's steps, each fenced by the owner epoch. */
export interface PartitionWrites {
  /** The record at `offset` is in Redis already (applied before a crash or a move). */
  alreadyApplied(offset: string): boolean;
  /** An event record was taken, sent at `timestampMs` (its Kafka timestamp): for the hop's latency. */
  received?(timestampMs: string): void;
  applyEvents(segment: MatchedEvent[]): Promise<void>;
  /** Records watermarks and the clock floor, then runs the timers the moved clock made due. */
  moveClock(marks: ReadonlyMap<number, Micros>, floor: Micros | null): Promise<void>;
  storeOffset(offset: string): Promise<void>;
  /** Sends an undecodable record to the DLQ; resolves once it is acknowledged. */
  deadLetter(source: SourceRecord, error: unknown): Promise<void>;
}

/** Event records per segment: each segment is applied, then its offset stored and resolved. */
export const SEGMENT_SIZE = 1000;

type ClockRecord = Exclude<RepartitionRecord, { type: 'event' }>;

/**
 * One batch of repartition records on its way into Redis: runs of events go in as segments,
 * runs of clock records (event clock) are coalesced into one clock move, and after each
 * segment the last offset taken is stored (fenced) and only then resolved. Records at or
 * below the applied offset are resolved without being applied again.
 */
export class RepartitionBatch {
  private segment: MatchedEvent[] = [];
  private readonly marks = new Map<number, Micros>();
  private floor: Micros | null = null;
  /** The last record taken (applied, dead-lettered or a clock record), stored at each flush. */
  private lastOffset: string | null = null;

  constructor(
    private readonly payload: RepartitionPayload,
    private readonly writes: PartitionWrites,
    private readonly clock: ClockMode,
    private readonly segmentSize = SEGMENT_SIZE,
  ) {}

  async apply(): Promise<void> {
    const { batch, isRunning, isStale } = this.payload;
    for (const message of batch.messages) {
      // Stopping, or a seek after a rebalance: what is not resolved yet is delivered again.
      if (!isRunning() || isStale()) break;
      await this.take(message);
      if (this.segment.length >= this.segmentSize) await this.flush();
    }
    await this.flush();
  }

  private async take(message: KafkaMessage): Promise<void> {
    if (this.writes.alreadyApplied(message.offset)) {
      this.payload.resolveOffset(message.offset);
      return;
    }
    const record = await this.decode(message);
    if (record?.type === 'event') {
      this.writes.received?.(message.timestamp);
      // Events after a clock move see the timers that move ran.
      await this.applyClock();
      this.segment.push(record.matched);
    } else if (record && this.clock === 'event') {
      // Events before a clock move are in Redis before its timers run.
      await this.applySegment();
      this.addClockRecord(record);
    }
    this.lastOffset = message.offset;
  }

  /** The record, or null when it cannot be decoded: then it is in the DLQ, and taken all the same. */
  private async decode(message: KafkaMessage): Promise<RepartitionRecord | null> {
    try {
      return decodeRepartition(message.value);
    } catch (error) {
      const { topic, partition } = this.payload.batch;
      await this.writes.deadLetter({ topic, partition, message }, error);
      return null;
    }
  }

  /**
   * Consecutive clock records are coalesced: one clock update and one timer run for a run of
   * markers is the same as one per marker, since no event falls between them.
   */
  private addClockRecord(record: ClockRecord): void {
    if (record.type === 'marker') {
      const before = this.marks.get(record.source) ?? -Infinity;
      this.marks.set(record.source, Math.max(record.watermark, before));
    } else {
      this.floor = Math.max(record.to, this.floor ?? -Infinity);
    }
  }

  private async applySegment(): Promise<void> {
    if (this.segment.length === 0) return;
    await this.writes.applyEvents(this.segment);
    this.segment = [];
  }

  private async applyClock(): Promise<void> {
    if (this.marks.size === 0 && this.floor === null) return;
    await this.writes.moveClock(this.marks, this.floor);
    this.marks.clear();
    this.floor = null;
  }

  /** Everything taken goes into Redis, then its offset (fenced), and only then is it resolved. */
  private async flush(): Promise<void> {
    await this.applySegment();
    await this.applyClock();
    if (this.lastOffset === null) return;
    await this.writes.storeOffset(this.lastOffset);
    this.payload.resolveOffset(this.lastOffset);
    // A long batch must not outlast the session timeout.
    await this.payload.heartbeat();
  }
}
