import { KafkaMessage, Message, Producer } from 'kafkajs';
import { deadLetter } from './records';
import { SchemaRegistryError } from './serialization-registry';
import { sendAll } from './role-runner';

/** Records per chunk: a chunk is produced and its offsets resolved before the next one starts. */
export const CHUNK_SIZE = 500;

/** Marks a record `decode` rejected: a symbol, so no decoded record can be mistaken for it. */
const REJECTED: unique symbol = Symbol('rejected');

/** What the loop uses of kafkajs's EachBatchPayload (which satisfies it, and a test can fake it). */
export interface BatchPayload extends BatchLiveness {
  batch: BatchOrigin & { messages: KafkaMessage[] };
  resolveOffset(offset: string): void;
  /** Commits the resolved offsets when kafkajs's auto-commit interval or threshold says so. */
  commitOffsetsIfNecessary?(): Promise<void>;
}

/** Whether the batch in hand is still this consumer's, and keeping its session alive meanwhile. */
export interface BatchLiveness {
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface BatchOrigin {
  topic: string;
  partition: number;
}

/** One consumed record and where it came from, as DLQ headers and log lines name it. */
export interface SourceRecord extends BatchOrigin {
  message: KafkaMessage;
}

/** Why a record goes to the DLQ: its `dlq.reason` header, and `dlq.<name>` headers for details. */
export interface Rejection {
  reason: string;
  detail?: Record<string, string | undefined>;
}

/** What one chunk produces: records for the role's output topic, and records for its DLQ. */
export class ChunkOutput {
  readonly records: Message[] = [];
  readonly deadLetters: Message[] = [];
  /** Set by `abandon`. */
  abandoned = false;

  constructor(private readonly maxRecordBytes: number) {}

  send(record: Message): void {
    this.records.push(record);
  }

  /** The original record goes to the DLQ with the reason in its headers, cut to fit the topic. */
  reject(source: SourceRecord, rejection: Rejection): void {
    this.deadLetters.push(deadLetter(source, rejection.reason, rejection.detail, this.maxRecordBytes));
  }

  /**
   * Gives the chunk up (say, its partition was taken away while a record was processed): the
   * loop sends and resolves nothing of it and stops the batch, so kafkajs delivers it again.
   */
  abandon(): void {
    this.abandoned = true;
  }
}

/** What `endChunk` is given: the chunk's decoded records, its output, and the batch's liveness. */
export interface EndOfChunk<R> {
  batch: BatchOrigin;
  records: R[];
  out: ChunkOutput;
  liveness: BatchLiveness;
}

/** The parts of a consuming role that differ from role to role, over records of type R. */
export interface BatchStages<R> {
  /** A consumed record → R. A throw rejects this record alone (see `undecodable`); the rest go on. */
  decode(source: SourceRecord): R | Promise<R>;
  /** Why a record `decode` threw on goes to the DLQ. */
  undecodable(source: SourceRecord, error: unknown): Rejection;
  /**
   * A decoded record → what it sends (or rejects) into its chunk's output. A throw fails the
   * batch. `batch` is for a record that takes long: heartbeat, and see whether the batch is stale.
   */
  route(record: R, source: SourceRecord, out: ChunkOutput, batch: BatchLiveness): void | Promise<void>;
  /**
   * After a chunk's records are routed: what the chunk as a whole adds to its output (or a
   * write of the whole chunk elsewhere). Awaited before the chunk is sent and its offsets
   * resolved, so a throw fails the batch with the chunk unresolved, and `abandon` gives it up.
   * `liveness` is for a chunk that takes long, as in `route`.
   */
  endChunk?(chunk: EndOfChunk<R>): void | Promise<void>;
  /** A chunk of `records` records is produced and its offsets resolved. */
  chunkDone?(records: number): void;
  /** Every chunk of the batch is done (not called when the loop stopped early). */
  batchDone?(batch: BatchPayload['batch']): void;
}

export interface BatchLoopOptions {
  producer: Producer;
  /** Where a chunk's records go, and where its rejected records go. */
  topics: { output: string; dlq: string };
  /** The record limit the topics are sized for: DLQ records and produce requests stay within it. */
  maxRecordBytes: number;
  chunkSize?: number;
  /**
   * After each chunk, also commit if kafkajs's auto-commit interval or threshold is due (when
   * the consumer sets one): for roles whose chunks take long, so fewer run again after a crash.
   */
  commitEachChunk?: boolean;
}

/**
 * One consumed batch, chunk by chunk, at least once: each record is decoded and routed by the
 * role's stages, the chunk is ended (`endChunk`), its output is produced (acknowledged by
 * every in-sync replica), and only then are its offsets resolved. In kafkajs a throw from
 * `eachBatch` redelivers the whole batch, so a bad record is a DLQ record, never a throw; a
 * failed send (or `endChunk`) does throw, leaving that chunk's offsets unresolved: kafkajs
 * commits the chunks before it and delivers the rest again. A stage that abandons a chunk
 * stops the batch the same way, without the throw.
 */
export class BatchLoop<R> {
  private readonly chunkSize: number;

  constructor(
    private readonly stages: BatchStages<R>,
    private readonly options: BatchLoopOptions,
  ) {
    this.chunkSize = options.chunkSize ?? CHUNK_SIZE;
  }

  /** kafkajs's `eachBatch` (with `eachBatchAutoResolve: false`). */
  async run(payload: BatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    for (let start = 0; start < batch.messages.length; start += this.chunkSize) {
      // Stopping, or a seek after a rebalance: what is not resolved yet is delivered again.
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + this.chunkSize);
      const out = await this.processChunk(batch, chunk, { heartbeat, isRunning, isStale });
      if (out.abandoned) return;
      await this.send(out);
      resolveOffset(chunk[chunk.length - 1].offset);
      if (this.options.commitEachChunk) await payload.commitOffsetsIfNecessary?.();
      // A long batch must not outlast the session timeout.
      await heartbeat();
      this.stages.chunkDone?.(chunk.length);
    }
    this.stages.batchDone?.(batch);
  }

  private async processChunk(
    batch: BatchOrigin,
    chunk: KafkaMessage[],
    liveness: BatchLiveness,
  ): Promise<ChunkOutput> {
    const out = new ChunkOutput(this.options.maxRecordBytes);
    const records: R[] = [];
    for (const message of chunk) {
      const source: SourceRecord = { topic: batch.topic, partition: batch.partition, message };
      const record = await this.decode(source, out);
      if (record === REJECTED) continue;
      records.push(record);
      await this.stages.route(record, source, out, liveness);
      if (out.abandoned) return out;
    }
    await this.stages.endChunk?.({ batch, records, out, liveness });
    return out;
  }

  private async decode(source: SourceRecord, out: ChunkOutput): Promise<R | typeof REJECTED> {
    try {
      return await this.stages.decode(source);
    } catch (error) {
      // The registry not answering is no fault of the record: the batch is retried, not dead-lettered.
      if (error instanceof SchemaRegistryError) throw error;
      out.reject(source, this.stages.undecodable(source, error));
      return REJECTED;
    }
  }

  /** Records before DLQ records; each in produce requests bounded by count and bytes. */
  private async send(out: ChunkOutput): Promise<void> {
    const { producer, topics, maxRecordBytes } = this.options;
    await sendAll(producer, topics.output, out.records, { maxBytes: maxRecordBytes });
    await sendAll(producer, topics.dlq, out.deadLetters, { maxBytes: maxRecordBytes });
  }
}
