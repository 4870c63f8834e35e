import { randomUUID } from 'node:crypto';
import { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';

/** A request an operator tool cannot act on (bad coordinates, offsets, selectors, times). */
export class OpsInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpsInputError';
  }
}

/** Which part of each partition a scan reads. */
export interface ScanWindow {
  /** Only records written at or after this time (epoch milliseconds). */
  sinceMs?: number;
  /** At most this many records per partition: the newest ones. */
  maxRecordsPerPartition?: number;
  /** Exact offsets instead: [offset, offset + 1) of one partition per entry. */
  exact?: Array<{ topic: string; partition: number; offset: string }>;
  /** Give up when no partition made progress for this long (a broker gone away). */
  idleTimeoutMs?: number;
}

/** What one partition's scan covered. Offsets are decimal strings, as Kafka gives them. */
export interface PartitionCoverage {
  topic: string;
  partition: number;
  /** The partition's log start and high watermark when the scan began. */
  low: string;
  high: string;
  /** The range read: [start, end). */
  start: string;
  end: string;
  /** Records before `start` left out because of `sinceMs`. */
  skippedBySince: number;
  /** Records before `start` left out because of `maxRecordsPerPartition`. */
  truncated: number;
  /** Whether the range was read to its end. */
  complete: boolean;
}

export interface ScanReport {
  coverage: PartitionCoverage[];
  /** Topics asked for that do not exist. */
  missingTopics: string[];
  recordsRead: number;
  /** Every range was read to its end and nothing was left out by the window. */
  complete: boolean;
  /** Plain-language notes on what was not read, for operators. */
  notes: string[];
}

export type RecordVisitor = (topic: string, partition: number, message: KafkaMessage) => void | Promise<void>;

const big = (s: string) => BigInt(s);

type Offsets = { partition: number; low: string; high: string };

/** A partition's high watermark when the scan was planned. */
type PartitionEnd = { topic: string; partition: number; high: string };

/** Exact offsets of one partition: one single-record range each. */
function exactCoverage(
  topic: string,
  { partition, low, high }: Offsets,
  exact: Array<{ offset: string }>,
): PartitionCoverage[] {
  return exact.map((e) => {
    // An offset outside the log (never written, or deleted by retention) reads nothing.
    const present = big(e.offset) >= big(low) && big(e.offset) < big(high);
    return {
      topic,
      partition,
      low,
      high,
      start: e.offset,
      end: String(big(e.offset) + 1n),
      skippedBySince: 0,
      truncated: 0,
      complete: !present,
    };
  });
}

/** A partition's range up to its high watermark, narrowed by `sinceOffset` and `maxRecords`. */
function windowCoverage(
  topic: string,
  { partition, low, high }: Offsets,
  sinceOffset: string | undefined,
  maxRecords: number | undefined,
): PartitionCoverage {
  let start = big(low);
  const end = big(high);
  let skippedBySince = 0;
  let truncated = 0;
  if (sinceOffset !== undefined && big(sinceOffset) > start) {
    skippedBySince = Number(big(sinceOffset) - start);
    start = big(sinceOffset);
  }
  if (maxRecords !== undefined && end - start > BigInt(maxRecords)) {
    truncated = Number(end - start - BigInt(maxRecords));
    start = end - BigInt(maxRecords);
  }
  return {
    topic,
    partition,
    low,
    high,
    start: String(start),
    end: String(end),
    skippedBySince,
    truncated,
    complete: start >= end,
  };
}

/** The partition ranges a window selects, from the partitions' offsets at this moment. */
async function plan(kafka: Kafka, topics: string[], window: ScanWindow) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missingTopics = topics.filter((t) => !existing.has(t));
    const coverage: PartitionCoverage[] = [];
    const ends: PartitionEnd[] = [];
    for (const topic of topics.filter((t) => existing.has(t))) {
      const offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
      const since =
        window.sinceMs !== undefined ? await admin.fetchTopicOffsetsByTimestamp(topic, window.sinceMs) : [];
      for (const offset of offsets) {
        const { partition, high } = offset;
        ends.push({ topic, partition, high });
        const exact = window.exact?.filter((e) => e.topic === topic && e.partition === partition);
        if (window.exact && !exact?.length) continue;
        if (exact?.length) {
          coverage.push(...exactCoverage(topic, offset, exact));
          continue;
        }
        const sinceOffset = since.find((s) => s.partition === partition)?.offset;
        coverage.push(windowCoverage(topic, offset, sinceOffset, window.maxRecordsPerPartition));
      }
    }
    return { coverage, missingTopics, ends };
  } finally {
    await admin.disconnect();
  }
}

const partitionId = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** Pending coverage by partition (several exact offsets of one partition share it). */
function groupByPartition(pending: PartitionCoverage[]): Map<string, PartitionCoverage[]> {
  const byPartition = new Map<string, PartitionCoverage[]>();
  for (const c of pending) {
    const id = partitionId(c.topic, c.partition);
    byPartition.set(id, [...(byPartition.get(id) ?? []), c]);
  }
  return byPartition;
}

interface ReadRange {
  start: bigint;
  end: bigint;
  entries: PartitionCoverage[];
}

/** The group held no offsets; removing it keeps `kafka-consumer-groups --list` clean. */
async function deleteGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  await admin
    .connect()
    .then(() => admin.deleteGroups([groupId]))
    .catch(() => undefined)
    .finally(() => admin.disconnect().catch(() => undefined));
}

/** One read of the pending ranges: what was wanted, how far each partition got, and when. */
class RangeRead {
  recordsRead = 0;
  private readonly byPartition: Map<string, PartitionCoverage[]>;
  /** One range per partition is read; several exact offsets of one partition read their span. */
  private readonly ranges = new Map<string, ReadRange>();
  /** Last offset seen per partition. */
  private readonly progress = new Map<string, bigint>();
  private lastProgress = Date.now();
  private finish!: () => void;
  private readonly finished = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(
    private readonly pending: PartitionCoverage[],
    private readonly visit: RecordVisitor,
  ) {
    this.byPartition = groupByPartition(pending);
    for (const [id, entries] of this.byPartition) {
      const start = entries.reduce((m, e) => (big(e.start) < m ? big(e.start) : m), big(entries[0].start));
      const end = entries.reduce((m, e) => (big(e.end) > m ? big(e.end) : m), big(entries[0].end));
      this.ranges.set(id, { start, end, entries });
    }
  }

  /** Reads until every range is read to its end or no partition progressed for `idleMs`. */
  async run(kafka: Kafka, groupId: string, ends: PartitionEnd[], idleMs: number): Promise<void> {
    const consumer = kafka.consumer({
      groupId,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
      retry: { retries: 3 },
    });
    try {
      await consumer.connect();
      // Batches made only of control records or compacted-away offsets reach no eachBatch;
      // this event still reports how far the partition was read.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
        this.advance(payload.topic, payload.partition, payload.lastOffset),
      );
      const subscribed = [...new Set(this.pending.map((c) => c.topic))];
      await consumer.subscribe({ topics: subscribed, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: (b) => this.handleBatch(b),
      });
      this.seekToRanges(consumer, ends, subscribed);
      await this.untilDoneOrStalled(idleMs);
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await deleteGroup(kafka, groupId);
    }
    this.markCompleteness();
  }

  /** Visits the batch's records that are in a range. */
  private async handleBatch({ batch, resolveOffset }: EachBatchPayload): Promise<void> {
    for (const message of batch.messages) {
      const offset = big(message.offset);
      // Resolved (never committed): without it kafkajs fetches the same batch again.
      resolveOffset(message.offset);
      if (!this.wanted(batch.topic, batch.partition, offset)) continue;
      this.recordsRead++;
      await this.visit(batch.topic, batch.partition, message);
    }
  }

  private wanted(topic: string, partition: number, offset: bigint): boolean {
    return (this.byPartition.get(partitionId(topic, partition)) ?? []).some(
      (c) => offset >= big(c.start) && offset < big(c.end),
    );
  }

  private advance(topic: string, partition: number, lastOffset: string): void {
    const id = partitionId(topic, partition);
    if (!this.ranges.has(id)) return;
    const last = big(lastOffset);
    if (last > (this.progress.get(id) ?? -1n)) {
      this.progress.set(id, last);
      this.lastProgress = Date.now();
    }
    if ([...this.ranges].every(([key, r]) => this.isRead(key, r))) this.finish();
  }

  private isRead(id: string, range: ReadRange): boolean {
    return (this.progress.get(id) ?? range.start - 1n) >= range.end - 1n;
  }

  /** The group has no offsets: each partition starts at its range, or is parked at its end. */
  private seekToRanges(consumer: Consumer, ends: PartitionEnd[], subscribed: string[]): void {
    for (const p of ends.filter((e) => subscribed.includes(e.topic))) {
      const range = this.ranges.get(partitionId(p.topic, p.partition));
      consumer.seek({
        topic: p.topic,
        partition: p.partition,
        offset: String(range ? range.start : p.high),
      });
    }
  }

  private async untilDoneOrStalled(idleMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<void>((resolve) => {
      timer = setInterval(() => {
        if (Date.now() - this.lastProgress > idleMs) resolve();
      }, 200);
    });
    await Promise.race([this.finished, stalled]);
    clearInterval(timer);
  }

  private markCompleteness(): void {
    for (const [id, range] of this.ranges) {
      const done = this.isRead(id, range);
      for (const entry of range.entries) entry.complete = done;
    }
  }
}

/** Plain-language notes on what the scan did not read. */
function coverageNotes(missingTopics: string[], coverage: PartitionCoverage[]): string[] {
  const notes: string[] = [];
  for (const topic of missingTopics) notes.push(`topic ${topic} does not exist`);
  for (const c of coverage) {
    const where = `${c.topic}[${c.partition}]`;
    if (c.truncated)
      notes.push(`${where}: scan truncated, ${c.truncated} older records not read (raise --max-records)`);
    if (c.skippedBySince) notes.push(`${where}: ${c.skippedBySince} records older than --since not read`);
    if (!c.complete) notes.push(`${where}: offsets ${c.start}..${c.end} not read to the end (timed out)`);
  }
  return notes;
}

/**
 * Reads bounded ranges of topics once, from a throwaway consumer group that never commits
 * and is deleted afterwards, so no role's group and no offset changes. kafkajs has no
 * manual assignment, hence the group; the ranges end at the high watermarks taken before
 * the read, so the scan terminates however fast the topics grow.
 */
export async function scanTopics(
  kafka: Kafka,
  topics: string[],
  window: ScanWindow,
  visit: RecordVisitor,
  groupPrefix = 'winchester',
): Promise<ScanReport> {
  const { coverage, missingTopics, ends } = await plan(kafka, [...new Set(topics)], window);
  let recordsRead = 0;
  const pending = coverage.filter((c) => !c.complete);
  if (pending.length) {
    const read = new RangeRead(pending, visit);
    await read.run(kafka, `${groupPrefix}.ops.scan.${randomUUID()}`, ends, window.idleTimeoutMs ?? 20000);
    recordsRead = read.recordsRead;
  }
  const notes = coverageNotes(missingTopics, coverage);
  const complete = coverage.every((c) => c.complete && !c.truncated && !c.skippedBySince);
  return { coverage, missingTopics, recordsRead, complete, notes };
}

/** `--since`: an ISO-8601 time, or a duration back from now such as `90m`, `6h`, `2d`. */
export function parseSince(text: string, now = Date.now()): number {
  const relative = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (relative) {
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[relative[2] as 's'];
    return Math.round(now - Number(relative[1]) * unit);
  }
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed))
    throw new OpsInputError(`--since ${text}: expected an ISO-8601 time or a duration like 6h`);
  return parsed;
}
