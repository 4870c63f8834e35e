import { randomUUID } from 'node:crypto';
import { Admin, Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { TopologySettings } from '../config/topology-settings';
import { avroRecordReader, isAvroRecord } from '../topology/serialization';
import { AvroReader, payloadView } from './dlq';
import { OpsInputError } from './scan';

/**
 * The topology's topics by short name (the full name without the namespace prefix):
 * `notifications`, `events`, `streams`, `streams.completed`, `notifications.dlq`, …
 */
export function topologyTopics(settings: TopologySettings): Map<string, string> {
  const prefix = settings.namespace ? `${settings.namespace}.` : '';
  const shortName = (topic: string) =>
    prefix && topic.startsWith(prefix) ? topic.slice(prefix.length) : topic;
  // With input_pattern the input topics are whatever matches it: given by full name.
  const inputs = settings.inputPattern ? [] : settings.inputTopics;
  const byShortName = new Map<string, string>();
  for (const topic of [...inputs, ...Object.values(settings.topics)])
    byShortName.set(shortName(topic), topic);
  // `notifications` also names input topics configured outside the namespace (shared with OpenStack).
  if (inputs.length && !byShortName.has('notifications')) byShortName.set('notifications', inputs[0]);
  return byShortName;
}

/** A short name or a full topic name → the full name of an existing topic. */
export function resolveTopic(settings: TopologySettings, name: string, existing: Set<string>): string {
  const byShortName = topologyTopics(settings);
  const topic =
    byShortName.get(name) ?? ([...byShortName.values()].includes(name) || existing.has(name) ? name : null);
  if (topic === null) {
    throw new OpsInputError(
      `unknown topic ${name}: expected one of ${[...byShortName.keys()].join(', ')} ` +
        `(namespace ${settings.namespace || '(none)'}) or the full name of an existing topic`,
    );
  }
  if (!existing.has(topic)) {
    throw new OpsInputError(
      `topic ${topic} does not exist: wrong namespace, or no role of it has run yet (they create ` +
        'the topics), or under Kafka ACLs this principal may not DESCRIBE it',
    );
  }
  return topic;
}

/** One record as `consume` prints it. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  /** The Kafka record timestamp, ISO-8601. */
  timestamp: string;
  key: string | null;
  headers: Record<string, string>;
  /** How `value` was obtained: parsed JSON, Avro through the registry, an escaped preview, or a tombstone. */
  format: 'json' | 'avro' | 'escaped' | 'null';
  value: unknown;
  /** The size of the value in bytes. */
  bytes: number;
  schemaId?: number;
  /** The escaped preview shows only the first `previewBytes` bytes. */
  truncated?: boolean;
  /** Why an Avro value could not be decoded (the value is then the escaped preview). */
  error?: string;
}

/** Text when the bytes are UTF-8, else an escaped rendering (`\xNN`): safe to print either way. */
export function safeBytes(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return payloadView(bytes, bytes.length).preview ?? '';
  }
}

function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    out[name] = values.map((v) => (Buffer.isBuffer(v) ? safeBytes(v) : String(v))).join(', ');
  }
  return out;
}

/**
 * Turns record values into something printable; Avro (any schema: events, stream and
 * completion records, …) only when a registry is configured, shown as its writer's schema reads it.
 */
export class ValueDecoder {
  private readonly avro: AvroReader;

  constructor(
    schemaRegistryUrl: string | undefined,
    private readonly previewBytes = 4096,
  ) {
    this.avro = avroRecordReader(schemaRegistryUrl);
  }

  async decode(
    value: Buffer | null,
  ): Promise<Pick<ConsumedRecord, 'format' | 'value' | 'bytes' | 'schemaId' | 'truncated' | 'error'>> {
    if (value === null) return { format: 'null', value: null, bytes: 0 };
    let error: string | undefined;
    if (this.avro && isAvroRecord(value)) {
      try {
        const { schemaId, value: decoded } = await this.avro(value);
        return { format: 'avro', value: decoded, bytes: value.length, schemaId };
      } catch (e) {
        error = `not decodable as Avro: ${(e as Error).message}`;
      }
    }
    const view = payloadView(value, this.previewBytes);
    if (view.json !== undefined) return { format: 'json', value: view.json, bytes: value.length };
    return {
      format: 'escaped',
      value: view.preview ?? '',
      bytes: value.length,
      ...(view.previewBytes! < value.length ? { truncated: true } : {}),
      ...(error ? { error } : {}),
    };
  }
}

export async function describeRecord(
  decoder: ValueDecoder,
  topic: string,
  partition: number,
  message: KafkaMessage,
): Promise<ConsumedRecord> {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: new Date(Number(message.timestamp)).toISOString(),
    key: message.key ? safeBytes(message.key) : null,
    headers: headerStrings(message.headers),
    ...(await decoder.decode(message.value)),
  };
}

export interface ConsumeOptions {
  /** The full name of an existing topic (see resolveTopic). */
  topic: string;
  /** Start at each partition's log start instead of its end. */
  fromBeginning?: boolean;
  /**
   * Keep reading new records after the end. Starting at the end always follows; from the
   * beginning the read stops at the high watermarks taken at start unless this is set.
   */
  follow?: boolean;
  /** Stop after this many records. */
  maxRecords?: number;
  /** Stops the read (Ctrl-C). */
  signal?: AbortSignal;
  schemaRegistryUrl?: string;
  /** Prefix of the throwaway consumer group: the namespace. */
  groupPrefix: string;
  previewBytes?: number;
  /** A bounded read gives up after this long without progress (a broker gone, an open transaction). */
  idleTimeoutMs?: number;
}

export type StopReason = 'count' | 'end' | 'signal' | 'idle';

export interface ConsumeSummary {
  records: number;
  stoppedBy: StopReason;
  /** The throwaway consumer group used (deleted again), for the curious. */
  groupId: string | null;
  notes: string[];
}

interface PartitionRange {
  partition: number;
  /** First offset to print. */
  start: bigint;
  /** The high watermark when the read began: a bounded read ends before it. */
  end: bigint;
  /** Last offset seen (printed or not), -1 before any. */
  reached: bigint;
}

async function partitionRanges(
  admin: Admin,
  topic: string,
  fromBeginning: boolean,
): Promise<PartitionRange[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets
    .sort((a, b) => a.partition - b.partition)
    .map(({ partition, low, high }) => ({
      partition,
      start: BigInt(fromBeginning ? low : high),
      end: BigInt(high),
      reached: BigInt(fromBeginning ? low : high) - 1n,
    }));
}

async function withAdmin<T>(kafka: Kafka, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The group held no offsets; removing it keeps `kafka-consumer-groups --list` clean. */
async function leaveAndDeleteGroup(kafka: Kafka, consumer: Consumer, groupId: string): Promise<void> {
  await consumer.disconnect().catch(() => undefined);
  await withAdmin(kafka, (admin) => admin.deleteGroups([groupId])).catch(() => undefined);
}

/** Every partition was read up to the high watermark taken at start. */
const atEnd = (ranges: PartitionRange[]) => ranges.every((r) => r.reached >= r.end - 1n);

/** State of one read: how far each partition got, how many records were printed, why it stopped. */
class TopicRead {
  records = 0;
  stoppedBy: StopReason | null = null;
  crash: Error | null = null;
  readonly finished: Promise<void>;
  private finish!: () => void;
  private lastProgress = Date.now();
  private readonly byPartition: Map<number, PartitionRange>;
  private readonly decoder: ValueDecoder;

  constructor(
    private readonly options: ConsumeOptions,
    private readonly ranges: PartitionRange[],
    /** Stops at the high watermarks taken at start. */
    private readonly bounded: boolean,
    private readonly emit: (record: ConsumedRecord) => void | Promise<void>,
  ) {
    this.finished = new Promise<void>((resolve) => (this.finish = resolve));
    this.byPartition = new Map(ranges.map((r) => [r.partition, r]));
    this.decoder = new ValueDecoder(options.schemaRegistryUrl, options.previewBytes);
  }

  stop(reason: StopReason): void {
    this.stoppedBy ??= reason;
    this.finish();
  }

  crashed(error: Error): void {
    this.crash = error;
    this.finish();
  }

  advance(partition: number, offset: bigint): void {
    const range = this.byPartition.get(partition);
    if (!range || offset <= range.reached) return;
    range.reached = offset;
    this.lastProgress = Date.now();
    if (this.bounded && atEnd(this.ranges)) this.stop('end');
  }

  /** Prints the batch's records that are in range, until the read stops. */
  async handleBatch({ batch, resolveOffset }: EachBatchPayload): Promise<void> {
    const range = this.byPartition.get(batch.partition);
    for (const message of batch.messages) {
      if (this.stoppedBy !== null) return;
      // Resolved (never committed): without it kafkajs fetches the same batch again.
      resolveOffset(message.offset);
      const offset = BigInt(message.offset);
      // A fetch may run before the seek lands; and a bounded read ends at `end`.
      if (!range || offset < range.start || (this.bounded && offset >= range.end)) continue;
      await this.emit(await describeRecord(this.decoder, batch.topic, batch.partition, message));
      this.records++;
      this.advance(batch.partition, offset);
      const max = this.options.maxRecords;
      if (max !== undefined && this.records >= max) this.stop('count');
    }
  }

  /** The group has no offsets: every partition starts where the read was planned to start. */
  seekToStarts(consumer: Consumer): void {
    for (const range of this.ranges) {
      consumer.seek({ topic: this.options.topic, partition: range.partition, offset: String(range.start) });
    }
  }

  /** Stops a bounded read that stalled (a broker gone, an open transaction); a followed read waits. */
  watchIdle(): NodeJS.Timeout | undefined {
    if (!this.bounded) return undefined;
    const idleMs = this.options.idleTimeoutMs ?? 20000;
    return setInterval(() => Date.now() - this.lastProgress > idleMs && this.stop('idle'), 200);
  }

  /** For a read that stopped idle: where each unfinished partition stopped. */
  notes(): string[] {
    if (this.stoppedBy !== 'idle') return [];
    const seconds = Math.round((this.options.idleTimeoutMs ?? 20000) / 1000);
    return this.ranges
      .filter((r) => r.reached < r.end - 1n)
      .map(
        (r) =>
          `${this.options.topic}[${r.partition}]: stopped at offset ${r.reached + 1n} of ${r.end} (no progress for ${seconds} s)`,
      );
  }
}

/** Runs `read` from a throwaway consumer group until it finishes, then deletes the group. */
async function runRead(
  kafka: Kafka,
  read: TopicRead,
  groupId: string,
  { topic, signal }: ConsumeOptions,
): Promise<void> {
  const consumer = kafka.consumer({
    groupId,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    retry: { retries: 3 },
  });
  const onAbort = () => read.stop('signal');
  signal?.addEventListener('abort', onAbort, { once: true });
  let idleTimer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    // Batches made only of control records or compacted-away offsets reach no eachBatch;
    // this event still reports how far the partition was read.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === topic) read.advance(payload.partition, BigInt(payload.lastOffset));
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) read.crashed(payload.error);
    });
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (b) => read.handleBatch(b),
    });
    read.seekToStarts(consumer);
    idleTimer = read.watchIdle();
    await read.finished;
  } finally {
    clearInterval(idleTimer);
    signal?.removeEventListener('abort', onAbort);
    await leaveAndDeleteGroup(kafka, consumer, groupId);
  }
}

/**
 * Prints (through `emit`) the records of one topic, like `kcat -C`: from the end (following
 * new records) or from the beginning (up to the high watermarks taken at start, or following
 * with `follow`), stopping after `maxRecords`, at the end, or when `signal` aborts. kafkajs has
 * no manual assignment, so it reads from a throwaway consumer group that never commits and is
 * deleted afterwards: no role's offsets move.
 */
export async function consumeTopic(
  kafka: Kafka,
  options: ConsumeOptions,
  emit: (record: ConsumedRecord) => void | Promise<void>,
): Promise<ConsumeSummary> {
  const fromBeginning = options.fromBeginning ?? false;
  const bounded = fromBeginning && !options.follow;
  const ranges = await withAdmin(kafka, (admin) => partitionRanges(admin, options.topic, fromBeginning));
  if (options.signal?.aborted) return { records: 0, stoppedBy: 'signal', groupId: null, notes: [] };
  if (bounded && atEnd(ranges)) return { records: 0, stoppedBy: 'end', groupId: null, notes: [] };

  const read = new TopicRead(options, ranges, bounded, emit);
  const groupId = `${options.groupPrefix}.ops.consume.${randomUUID()}`;
  await runRead(kafka, read, groupId, options);
  if (read.crash) throw read.crash;
  return { records: read.records, stoppedBy: read.stoppedBy ?? 'end', groupId, notes: read.notes() };
}
