import { createHash } from 'node:crypto';
import { IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { RedisClient } from '../redis/client';
import { redriveLogKey } from '../redis/keys';
import { createProducer } from '../topology/role-runner';
import { avroRecordReader, isAvroRecord } from '../topology/serialization';
import { TopologySettings } from '../config/topology-settings';
import { partitionCount } from '../topology/topics';
import { OpsInputError, scanTopics, ScanReport, ScanWindow } from './scan';

/** The stage a dead-letter topic belongs to, as `--topic` names it. */
export type DlqStage = 'notifications' | 'events' | 'streams' | 'archiver';
export const DLQ_STAGES: readonly DlqStage[] = ['notifications', 'events', 'streams', 'archiver'];

/** Headers a redriven record carries: where in the DLQ it came from, and why it was there. */
export const REDRIVE_HEADERS = {
  from: 'winchester.redrive.from',
  reason: 'winchester.redrive.reason',
  time: 'winchester.redrive.time',
} as const;

export interface DlqTopic {
  stage: DlqStage;
  topic: string;
}

/** Where a record came from, per the `dlq.source.*` headers the roles write. */
export interface DlqSource {
  topic: string;
  partition: number | null;
  offset: string | null;
}

/** One dead-letter record, described for operators (the payload itself is left out). */
export interface DlqRecord {
  stage: DlqStage;
  topic: string;
  partition: number;
  offset: string;
  /** `topic:partition:offset`, what `dlq show` takes. */
  coordinates: string;
  /** When the record was written to the DLQ (the Kafka record timestamp). */
  timestamp: string;
  reason: string | null;
  /** The reason's first word (`conversion`, `invalid-json`, …), how metrics count it. */
  category: string | null;
  source: DlqSource | null;
  messageId: string | null;
  /** For stream records: the stream. */
  streamId: string | null;
  eventType: string | null;
  key: string | null;
  bytes: number;
  /** The original size when only the head of the payload was kept. */
  truncatedFrom: number | null;
  headers: Record<string, string>;
  /** Set when redrive marks were looked up: the mark, or null when never redriven. */
  redriven?: RedriveMark | null;
  /**
   * Set when redrive marks were looked up and this record failed again after a redrive:
   * the DLQ record it was redriven from (the roles do not copy a record's headers into its
   * DLQ record, so only the redrive log links the two).
   */
  redriveOf?: string | null;
}

/** What the redrive log in Redis keeps per DLQ record. */
export interface RedriveMark {
  at: string;
  /** Digest of the DLQ record (timestamp + payload): a recreated DLQ topic reuses offsets. */
  fingerprint: string;
  /** `sending` until the produce was acknowledged; a crash in between leaves it (and blocks a repeat). */
  state: 'sending' | 'sent';
  target?: { topic: string; partition: number; offset: string };
}

export interface DlqFilter {
  /** Case-insensitive substring of the reason. */
  reason?: string;
  messageId?: string;
  /** Offsets of the DLQ topic, `partition:offset`. */
  offsets?: Array<{ partition: number; offset: string }>;
}

/** The DLQ topics `--topic` selects: a stage name, a DLQ topic's full name, or all of them. */
export function dlqTopics(settings: TopologySettings, topic?: string): DlqTopic[] {
  const all: DlqTopic[] = [
    { stage: 'notifications', topic: settings.topics.notificationsDlq },
    { stage: 'events', topic: settings.topics.eventsDlq },
    { stage: 'streams', topic: settings.topics.streamsDlq },
    { stage: 'archiver', topic: settings.topics.archiverDlq },
  ];
  if (topic === undefined) return all;
  const found = all.filter((t) => t.stage === topic || t.topic === topic);
  if (!found.length) {
    throw new OpsInputError(
      `${topic} is not a dead-letter topic: expected ${DLQ_STAGES.join(', ')} or one of ${all.map((t) => t.topic).join(', ')}`,
    );
  }
  return found;
}

export function headerText(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    out[name] = values.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))).join(', ');
  }
  return out;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

export interface PayloadIds {
  messageId: string | null;
  eventType: string | null;
  streamId: string | null;
  messageIds: string[];
}

const NO_IDS: PayloadIds = { messageId: null, eventType: null, streamId: null, messageIds: [] };

/** Decodes Avro payloads (Confluent's wire format) with their writer's schema; null without a registry. */
export type AvroReader = ReturnType<typeof avroRecordReader>;

/**
 * Ids a payload still carries: a notification (also inside an oslo.messaging v2 envelope),
 * a flat event, a repartition record (`e`), or a stream record / too-large stream summary.
 */
export function payloadIds(value: Buffer | null): PayloadIds {
  if (!value || !value.length || value[0] === 0) return NO_IDS;
  const text = value.toString('utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // A repartition record is a routing header, a newline, then the event's JSON.
    const newline = text.indexOf('\n');
    try {
      doc = newline < 0 ? undefined : JSON.parse(text.slice(newline + 1));
    } catch {
      doc = undefined;
    }
  }
  return idsOf(doc);
}

/** The same for a payload in either format: an Avro one through `avro` (none without it, or when it cannot). */
export async function anyPayloadIds(value: Buffer | null, avro: AvroReader): Promise<PayloadIds> {
  if (!value || !avro || !isAvroRecord(value)) return payloadIds(value);
  try {
    return idsOf((await avro(value)).value);
  } catch {
    return NO_IDS;
  }
}

/** Ids in a decoded document: JSON, or an Avro event, stream record or completion record. */
function idsOf(doc: unknown): PayloadIds {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return NO_IDS;
  let obj = doc as Record<string, unknown>;
  if (typeof obj['oslo.message'] === 'string') {
    try {
      const inner = JSON.parse(obj['oslo.message']) as unknown;
      if (inner && typeof inner === 'object' && !Array.isArray(inner)) obj = inner as Record<string, unknown>;
    } catch {
      return NO_IDS;
    }
  }
  const event = obj.e && typeof obj.e === 'object' ? (obj.e as Record<string, unknown>) : obj;
  const ids = Array.isArray(obj.message_ids)
    ? obj.message_ids.filter((m): m is string => typeof m === 'string')
    : [];
  if (Array.isArray(obj.events)) {
    for (const e of obj.events as Array<{ message_id?: unknown } | null>) {
      if (e && typeof e.message_id === 'string') ids.push(e.message_id);
    }
  }
  return {
    messageId: str(event.message_id),
    eventType: str(event.event_type),
    streamId: str(obj.stream_id),
    messageIds: ids,
  };
}

export function describeDlqRecord(
  dlq: DlqTopic,
  partition: number,
  message: KafkaMessage,
  ids: PayloadIds = payloadIds(message.value),
): DlqRecord {
  const headers = headerText(message.headers);
  const reason = headers['dlq.reason'] ?? null;
  const sourceTopic = headers['dlq.source.topic'];
  const sourcePartition = headers['dlq.source.partition'];
  const truncated = headers['dlq.truncated-from'];
  return {
    stage: dlq.stage,
    topic: dlq.topic,
    partition,
    offset: message.offset,
    coordinates: `${dlq.topic}:${partition}:${message.offset}`,
    timestamp: new Date(Number(message.timestamp)).toISOString(),
    reason,
    category: reason === null ? null : reason.split(':')[0].trim(),
    source: sourceTopic
      ? {
          topic: sourceTopic,
          partition:
            sourcePartition !== undefined && /^\d+$/.test(sourcePartition) ? Number(sourcePartition) : null,
          offset: headers['dlq.source.offset'] ?? null,
        }
      : null,
    messageId: headers['dlq.message-id'] ?? ids.messageId,
    streamId: ids.streamId,
    eventType: headers['dlq.event-type'] ?? ids.eventType,
    key: message.key ? message.key.toString('utf8') : null,
    bytes: message.value?.length ?? 0,
    truncatedFrom: truncated !== undefined && /^\d+$/.test(truncated) ? Number(truncated) : null,
    headers,
  };
}

export function matchesFilter(record: DlqRecord, filter: DlqFilter): boolean {
  if (
    filter.reason !== undefined &&
    !(record.reason ?? '').toLowerCase().includes(filter.reason.toLowerCase())
  ) {
    return false;
  }
  if (filter.messageId !== undefined && record.messageId !== filter.messageId) return false;
  if (
    filter.offsets !== undefined &&
    !filter.offsets.some((o) => o.partition === record.partition && o.offset === record.offset)
  ) {
    return false;
  }
  return true;
}

/** `p:o,p:o` → offsets. */
export function parseOffsets(text: string): Array<{ partition: number; offset: string }> {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const m = /^(\d+):(\d+)$/.exec(entry);
      if (!m) throw new OpsInputError(`--offsets ${entry}: expected partition:offset, e.g. 0:42`);
      return { partition: Number(m[1]), offset: String(BigInt(m[2])) };
    });
}

/** `topic:partition:offset`, the topic given as its stage name or its full name. */
export function parseCoordinates(
  settings: TopologySettings,
  text: string,
): { dlq: DlqTopic; partition: number; offset: string } {
  const m = /^(.+):(\d+):(\d+)$/.exec(text.trim());
  if (!m) throw new OpsInputError(`${text}: expected <topic>:<partition>:<offset>, e.g. notifications:0:12`);
  const [dlq] = dlqTopics(settings, m[1]);
  return { dlq, partition: Number(m[2]), offset: String(BigInt(m[3])) };
}

export interface DlqReadOptions {
  topic?: string;
  filter?: DlqFilter;
  maxRecordsPerPartition?: number;
  sinceMs?: number;
  /** Avro payloads are read through it; without it their ids are not known. */
  schemaRegistryUrl?: string;
}

export interface Collected {
  record: DlqRecord;
  message: KafkaMessage;
}

async function collect(
  kafka: Kafka,
  settings: TopologySettings,
  options: DlqReadOptions,
): Promise<{ found: Collected[]; scan: ScanReport }> {
  const topics = dlqTopics(settings, options.topic);
  const byTopic = new Map(topics.map((t) => [t.topic, t]));
  const filter = options.filter ?? {};
  const window: ScanWindow = {
    maxRecordsPerPartition: options.maxRecordsPerPartition,
    sinceMs: options.sinceMs,
  };
  // Asked-for offsets are fetched alone, not found by reading the whole topic.
  if (filter.offsets) {
    window.exact = topics.flatMap((t) =>
      filter.offsets!.map((o) => ({ topic: t.topic, partition: o.partition, offset: o.offset })),
    );
  }
  const found: Collected[] = [];
  const avro = avroRecordReader(options.schemaRegistryUrl);
  const scan = await scanTopics(
    kafka,
    topics.map((t) => t.topic),
    window,
    async (topic, partition, message) => {
      const ids = await anyPayloadIds(message.value, avro);
      const record = describeDlqRecord(byTopic.get(topic)!, partition, message, ids);
      if (matchesFilter(record, filter)) found.push({ record, message });
    },
    settings.namespace || 'winchester',
  );
  found.sort(
    (a, b) =>
      a.record.topic.localeCompare(b.record.topic) ||
      a.record.partition - b.record.partition ||
      (BigInt(a.record.offset) < BigInt(b.record.offset) ? -1 : 1),
  );
  return { found, scan };
}

function fingerprint(message: KafkaMessage): string {
  return createHash('sha256')
    .update(String(message.timestamp))
    .update('\u0000')
    .update(message.value ?? Buffer.alloc(0))
    .digest('hex')
    .slice(0, 32);
}

/** Sets `redriven` and `redriveOf` on each record from the redrive log (one HGETALL: the log is small). */
export async function attachRedriveMarks(
  redis: RedisClient,
  namespace: string,
  items: Collected[],
): Promise<void> {
  if (!items.length) return;
  const log = await redis.hgetall(redriveLogKey(namespace));
  const byTarget = new Map<string, string>();
  const marks = new Map<string, RedriveMark>();
  for (const [coordinates, raw] of Object.entries(log)) {
    const mark = JSON.parse(raw) as RedriveMark;
    marks.set(coordinates, mark);
    if (mark.target)
      byTarget.set(`${mark.target.topic}:${mark.target.partition}:${mark.target.offset}`, coordinates);
  }
  for (const { record, message } of items) {
    const mark = marks.get(record.coordinates);
    record.redriven = mark && mark.fingerprint === fingerprint(message) ? mark : null;
    const source = record.source;
    record.redriveOf = source
      ? (byTarget.get(`${source.topic}:${source.partition}:${source.offset}`) ?? null)
      : null;
  }
}

export interface DlqListResult {
  records: DlqRecord[];
  /** Matching records before `limit`. */
  matched: number;
  scan: ScanReport;
}

/** Lists DLQ records (newest `limit` of those matching), with their redrive marks when Redis is given. */
export async function listDlq(
  kafka: Kafka,
  settings: TopologySettings,
  options: DlqReadOptions & { limit?: number; redis?: RedisClient },
): Promise<DlqListResult> {
  const { found, scan } = await collect(kafka, settings, options);
  let shown = found;
  if (options.limit !== undefined && options.limit < found.length) {
    const newest = new Set(
      [...found]
        .sort((a, b) => Number(a.message.timestamp) - Number(b.message.timestamp))
        .slice(found.length - options.limit),
    );
    shown = found.filter((f) => newest.has(f));
  }
  if (options.redis) await attachRedriveMarks(options.redis, settings.namespace, shown);
  return { records: shown.map((f) => f.record), matched: found.length, scan };
}

/** A payload for a person: pretty JSON when it parses (or Avro decoded), else a safe escaped preview. */
export interface PayloadView {
  bytes: number;
  json?: unknown;
  /** Set when `json` is an Avro payload decoded with the writer's schema. */
  avro?: { schemaId: number };
  /** Escaped text (control and non-printable bytes as \xNN / \uNNNN), at most `previewBytes`. */
  preview?: string;
  previewBytes?: number;
  utf8: boolean;
}

export function payloadView(value: Buffer | null, previewLimit = 2048): PayloadView {
  if (!value) return { bytes: 0, utf8: true, preview: '', previewBytes: 0 };
  let text: string | null;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    text = null;
  }
  if (text !== null) {
    try {
      return { bytes: value.length, utf8: true, json: JSON.parse(text) as unknown };
    } catch {
      // not JSON: previewed below
    }
  }
  const head = value.subarray(0, previewLimit);
  return {
    bytes: value.length,
    utf8: text !== null,
    preview: text !== null ? escapeText(new TextDecoder().decode(head)) : escapeBytes(head),
    previewBytes: head.length,
  };
}

/** Printable text only: C0/C1 controls, DEL, bidi overrides and the backslash escaped. */
export function escapeText(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\\\ufffd]/g,
    (c) => {
      if (c === '\\') return '\\\\';
      if (c === '\n') return '\\n';
      if (c === '\t') return '\\t';
      if (c === '\r') return '\\r';
      const code = c.charCodeAt(0);
      return code < 0x100
        ? `\\x${code.toString(16).padStart(2, '0')}`
        : `\\u${code.toString(16).padStart(4, '0')}`;
    },
  );
}

function escapeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else if (b === 0x0a) out += '\\n';
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

export interface DlqShowResult {
  record: DlqRecord;
  payload: PayloadView;
}

/** payloadView, with an Avro payload decoded through `avro` when it can be. */
export async function anyPayloadView(value: Buffer | null, avro: AvroReader): Promise<PayloadView> {
  if (!value || !avro || !isAvroRecord(value)) return payloadView(value);
  try {
    const { schemaId, value: decoded } = await avro(value);
    return { bytes: value.length, utf8: false, json: decoded, avro: { schemaId } };
  } catch {
    return payloadView(value);
  }
}

/** One DLQ record with its payload, or null when there is no record at those coordinates. */
export async function showDlq(
  kafka: Kafka,
  settings: TopologySettings,
  coordinates: string,
  redis?: RedisClient,
  schemaRegistryUrl?: string,
): Promise<DlqShowResult | null> {
  const { dlq, partition, offset } = parseCoordinates(settings, coordinates);
  const { found } = await collect(kafka, settings, {
    topic: dlq.topic,
    filter: { offsets: [{ partition, offset }] },
    schemaRegistryUrl,
  });
  if (!found.length) return null;
  if (redis) await attachRedriveMarks(redis, settings.namespace, found);
  const payload = await anyPayloadView(found[0].message.value, avroRecordReader(schemaRegistryUrl));
  return { record: found[0].record, payload };
}

export interface RedriveOptions {
  /** A stage or DLQ topic name; default `notifications`. */
  topic?: string;
  filter?: DlqFilter;
  /** Required to redrive everything the other filters (if any) leave. */
  all?: boolean;
  force?: boolean;
  dryRun?: boolean;
  maxRecordsPerPartition?: number;
  /** For --message-id on Avro payloads. */
  schemaRegistryUrl?: string;
}

export interface RedriveOutcome {
  coordinates: string;
  messageId: string | null;
  reason: string | null;
  action: 'redriven' | 'would-redrive' | 'skipped' | 'failed';
  detail: string;
  target?: { topic: string; partition: number; offset: string };
}

export interface RedriveResult {
  outcomes: RedriveOutcome[];
  scan: ScanReport;
  counts: Record<RedriveOutcome['action'], number>;
}

/** Redriving the whole DLQ must be asked for (`--all`), not fallen into by a missing filter. */
function requireSelection(filter: DlqFilter, all: boolean | undefined): void {
  const selective =
    filter.reason !== undefined || filter.messageId !== undefined || filter.offsets !== undefined;
  if (!selective && !all) {
    throw new OpsInputError('choose what to redrive: --reason, --message-id, --offsets, or --all');
  }
}

/** Partition counts of the records' source topics; a topic that does not exist is left out. */
async function sourcePartitionCounts(kafka: Kafka, found: Collected[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  const existing = new Set(await admin.listTopics());
  const partitions = new Map<string, number>();
  for (const topic of new Set(found.map((f) => f.record.source?.topic).filter((t): t is string => !!t))) {
    if (existing.has(topic)) partitions.set(topic, await partitionCount(admin, topic));
  }
  await admin.disconnect();
  return partitions;
}

/** Why a record cannot (or need not) be redriven, or null when it can. */
function skipReason(
  { record, message }: Collected,
  partitions: Map<string, number>,
  force: boolean | undefined,
): string | null {
  const source = record.source;
  if (!source) return 'no dlq.source.topic header: the source topic is unknown';
  if (!partitions.has(source.topic)) return `source topic ${source.topic} does not exist`;
  if (record.truncatedFrom !== null) {
    return `only the first ${record.bytes} of ${record.truncatedFrom} bytes were kept: the original is lost`;
  }
  if (!message.value?.length) return 'empty payload';
  if (record.redriven && !force) {
    const where = record.redriven.target
      ? ` to ${record.redriven.target.topic}:${record.redriven.target.partition}:${record.redriven.target.offset}`
      : ' (its produce was never confirmed)';
    return `already redriven at ${record.redriven.at}${where}; --force to send it again`;
  }
  return null;
}

function countOutcomes(outcomes: RedriveOutcome[]): RedriveResult['counts'] {
  const counts = { redriven: 0, 'would-redrive': 0, skipped: 0, failed: 0 };
  for (const o of outcomes) counts[o.action]++;
  return counts;
}

/** Redrives records one at a time, keeping the redrive log in step with what was sent. */
class Redriver {
  private readonly logKey: string;

  constructor(
    private readonly redis: RedisClient,
    namespace: string,
    private readonly partitions: Map<string, number>,
    private readonly options: RedriveOptions,
    /** Null on a dry run. */
    private readonly producer: Producer | null,
  ) {
    this.logKey = redriveLogKey(namespace);
  }

  async redrive(item: Collected): Promise<RedriveOutcome> {
    const { record } = item;
    const base = { coordinates: record.coordinates, messageId: record.messageId, reason: record.reason };
    const skipped = skipReason(item, this.partitions, this.options.force);
    if (skipped !== null) return { ...base, action: 'skipped', detail: skipped };
    const source = record.source!;
    // The original partition when it still exists: keeps per-key order, and on the
    // repartition topic the partition is the owner of the stream state.
    const count = this.partitions.get(source.topic)!;
    const partition = source.partition !== null && source.partition < count ? source.partition : undefined;
    if (this.options.dryRun) {
      return {
        ...base,
        action: 'would-redrive',
        detail: `to ${source.topic}${partition === undefined ? '' : `:${partition}`}`,
      };
    }
    const mark: RedriveMark = {
      at: new Date().toISOString(),
      fingerprint: fingerprint(item.message),
      state: 'sending',
    };
    if (!(await this.claim(record, mark))) {
      return {
        ...base,
        action: 'skipped',
        detail: 'another redrive of this record is under way or just finished',
      };
    }
    try {
      const target = await this.send(item, source.topic, partition, mark);
      return {
        ...base,
        action: 'redriven',
        detail: `to ${target.topic}:${target.partition}:${target.offset}`,
        target,
      };
    } catch (error) {
      await this.unclaim(record);
      return { ...base, action: 'failed', detail: (error as Error).message };
    }
  }

  /** Writes the `sending` mark, unless another redrive holds the record. */
  private async claim(record: DlqRecord, mark: RedriveMark): Promise<boolean> {
    const { redis, logKey } = this;
    let claimed = record.redriven
      ? (await redis.hset(logKey, record.coordinates, JSON.stringify(mark))) >= 0
      : (await redis.hsetnx(logKey, record.coordinates, JSON.stringify(mark))) === 1;
    if (!claimed) {
      // An entry for other bytes at these coordinates (the DLQ topic was recreated) is stale.
      const current = await redis.hget(logKey, record.coordinates);
      if (current && (JSON.parse(current) as RedriveMark).fingerprint !== mark.fingerprint) {
        claimed = (await redis.hset(logKey, record.coordinates, JSON.stringify(mark))) >= 0;
      }
    }
    return claimed;
  }

  /** Produces the original key and payload, then marks the record `sent` with where it went. */
  private async send(
    { record, message }: Collected,
    topic: string,
    partition: number | undefined,
    mark: RedriveMark,
  ): Promise<NonNullable<RedriveMark['target']>> {
    const [meta] = await this.producer!.send({
      topic,
      acks: -1,
      messages: [
        {
          key: message.key,
          value: message.value,
          partition,
          headers: {
            [REDRIVE_HEADERS.from]: record.coordinates,
            [REDRIVE_HEADERS.reason]: record.reason ?? '',
            [REDRIVE_HEADERS.time]: mark.at,
          },
        },
      ],
    });
    const target = { topic, partition: meta.partition, offset: meta.baseOffset ?? '?' };
    await this.redis.hset(
      this.logKey,
      record.coordinates,
      JSON.stringify({ ...mark, state: 'sent', target }),
    );
    return target;
  }

  /** Not sent (as far as we know): puts the log back as it was, so the record can be tried again. */
  private async unclaim(record: DlqRecord): Promise<void> {
    const restore = record.redriven
      ? this.redis.hset(this.logKey, record.coordinates, JSON.stringify(record.redriven))
      : this.redis.hdel(this.logKey, record.coordinates);
    await restore.catch(() => undefined);
  }
}

/**
 * Sends chosen DLQ records' original key and payload back to their source topic, with
 * headers naming the DLQ record and its reason. Each DLQ record is redriven at most once
 * (the redrive log in Redis) unless `force`.
 */
export async function redriveDlq(
  kafka: Kafka,
  redis: RedisClient,
  settings: TopologySettings,
  options: RedriveOptions,
): Promise<RedriveResult> {
  const filter = options.filter ?? {};
  requireSelection(filter, options.all);
  const { found, scan } = await collect(kafka, settings, {
    topic: options.topic ?? 'notifications',
    filter,
    maxRecordsPerPartition: options.maxRecordsPerPartition,
    schemaRegistryUrl: options.schemaRegistryUrl,
  });
  await attachRedriveMarks(redis, settings.namespace, found);
  const partitions = await sourcePartitionCounts(kafka, found);
  const producer = options.dryRun ? null : createProducer(kafka);
  await producer?.connect();
  const outcomes: RedriveOutcome[] = [];
  try {
    const redriver = new Redriver(redis, settings.namespace, partitions, options, producer);
    for (const item of found) outcomes.push(await redriver.redrive(item));
  } finally {
    await producer?.disconnect().catch(() => undefined);
  }
  return { outcomes, scan, counts: countOutcomes(outcomes) };
}
