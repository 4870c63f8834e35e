import { randomUUID } from 'node:crypto';
import { Kafka, KafkaMessage } from 'kafkajs';

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

/** The partition ranges a window selects, from the partitions' offsets at this moment. */
async function plan(kafka: Kafka, topics: string[], window: ScanWindow) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missingTopics = topics.filter((t) => !existing.has(t));
    const coverage: PartitionCoverage[] = [];
    const ends: Array<{ topic: string; partition: number; high: string }> = [];
    for (const topic of topics.filter((t) => existing.has(t))) {
      const offsets = (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition);
      const since =
        window.sinceMs !== undefined ? await admin.fetchTopicOffsetsByTimestamp(topic, window.sinceMs) : [];
      for (const { partition, low, high } of offsets) {
        ends.push({ topic, partition, high });
        const exact = window.exact?.filter((e) => e.topic === topic && e.partition === partition);
        if (window.exact && !exact?.length) continue;
        if (exact?.length) {
          for (const e of exact) {
            // An offset outside the log (never written, or deleted by retention) reads nothing.
            const present = big(e.offset) >= big(low) && big(e.offset) < big(high);
            coverage.push({
              topic,
              partition,
              low,
              high,
              start: e.offset,
              end: String(big(e.offset) + 1n),
              skippedBySince: 0,
              truncated: 0,
              complete: !present,
            });
          }
          continue;
        }
        let start = big(low);
        const end = big(high);
        let skippedBySince = 0;
        let truncated = 0;
        const fromTime = since.find((s) => s.partition === partition);
        if (fromTime && big(fromTime.offset) > start) {
          skippedBySince = Number(big(fromTime.offset) - start);
          start = big(fromTime.offset);
        }
        const max = window.maxRecordsPerPartition;
        if (max !== undefined && end - start > BigInt(max)) {
          truncated = Number(end - start - BigInt(max));
          start = end - BigInt(max);
        }
        coverage.push({
          topic,
          partition,
          low,
          high,
          start: String(start),
          end: String(end),
          skippedBySince,
          truncated,
          complete: start >= end,
        });
      }
    }
    return { coverage, missingTopics, ends };
  } finally {
    await admin.disconnect();
  }
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
    const byPartition = new Map<string, PartitionCoverage[]>();
    for (const c of pending) {
      const id = `${c.topic}\u0000${c.partition}`;
      byPartition.set(id, [...(byPartition.get(id) ?? []), c]);
    }
    // One range per partition is read; several exact offsets of one partition read their span.
    const ranges = new Map<string, { start: bigint; end: bigint; entries: PartitionCoverage[] }>();
    for (const [id, entries] of byPartition) {
      const start = entries.reduce((m, e) => (big(e.start) < m ? big(e.start) : m), big(entries[0].start));
      const end = entries.reduce((m, e) => (big(e.end) > m ? big(e.end) : m), big(entries[0].end));
      ranges.set(id, { start, end, entries });
    }
    const wanted = (topic: string, partition: number, offset: bigint) =>
      (byPartition.get(`${topic}\u0000${partition}`) ?? []).some(
        (c) => offset >= big(c.start) && offset < big(c.end),
      );
    const progress = new Map<string, bigint>();
    let lastProgress = Date.now();
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const advance = (topic: string, partition: number, lastOffset: string) => {
      const id = `${topic}\u0000${partition}`;
      const range = ranges.get(id);
      if (!range) return;
      const last = big(lastOffset);
      if (last > (progress.get(id) ?? -1n)) {
        progress.set(id, last);
        lastProgress = Date.now();
      }
      if ([...ranges].every(([key, r]) => (progress.get(key) ?? r.start - 1n) >= r.end - 1n)) finish();
    };

    const groupId = `${groupPrefix}.ops.scan.${randomUUID()}`;
    const consumer = kafka.consumer({
      groupId,
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
      retry: { retries: 3 },
    });
    const admin = kafka.admin();
    try {
      await consumer.connect();
      // Batches made only of control records or compacted-away offsets reach no eachBatch;
      // this event still reports how far the partition was read.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
        advance(payload.topic, payload.partition, payload.lastOffset),
      );
      const subscribed = [...new Set(pending.map((c) => c.topic))];
      await consumer.subscribe({ topics: subscribed, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset }) => {
          for (const message of batch.messages) {
            const offset = big(message.offset);
            // Resolved (never committed): without it kafkajs fetches the same batch again.
            resolveOffset(message.offset);
            if (!wanted(batch.topic, batch.partition, offset)) continue;
            recordsRead++;
            await visit(batch.topic, batch.partition, message);
          }
        },
      });
      // Partitions of these topics that have nothing to read are parked at their end.
      for (const p of ends.filter((e) => subscribed.includes(e.topic))) {
        const range = ranges.get(`${p.topic}\u0000${p.partition}`);
        consumer.seek({
          topic: p.topic,
          partition: p.partition,
          offset: String(range ? range.start : p.high),
        });
      }
      const idle = window.idleTimeoutMs ?? 20000;
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<void>((resolve) => {
        timer = setInterval(() => {
          if (Date.now() - lastProgress > idle) resolve();
        }, 200);
      });
      await Promise.race([finished, stalled]);
      clearInterval(timer);
    } finally {
      await consumer.disconnect().catch(() => undefined);
      // The group held no offsets; removing it keeps `kafka-consumer-groups --list` clean.
      await admin
        .connect()
        .then(() => admin.deleteGroups([groupId]))
        .catch(() => undefined)
        .finally(() => admin.disconnect().catch(() => undefined));
    }
    for (const [id, range] of ranges) {
      const done = (progress.get(id) ?? range.start - 1n) >= range.end - 1n;
      for (const entry of range.entries) entry.complete = done;
    }
  }
  const notes: string[] = [];
  for (const topic of missingTopics) notes.push(`topic ${topic} does not exist`);
  for (const c of coverage) {
    const where = `${c.topic}[${c.partition}]`;
    if (c.truncated)
      notes.push(`${where}: scan truncated, ${c.truncated} older records not read (raise --max-records)`);
    if (c.skippedBySince) notes.push(`${where}: ${c.skippedBySince} records older than --since not read`);
    if (!c.complete) notes.push(`${where}: offsets ${c.start}..${c.end} not read to the end (timed out)`);
  }
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
