import { isUtf8 } from 'node:buffer';
import { Consumer, Kafka, Message, Producer } from 'kafkajs';
import { DistillError, DistillErrorCategory, DistillOutcome, DropReason } from '../distiller/outcome';
import { WinchesterEvent } from '../events/event';
import { DLQ_REASON, WinchesterMetrics } from '../metrics/metrics';
import { Logger, roleLogger } from '../util/logger';
import { BatchLoop, BatchPayload, ChunkOutput, Rejection, SourceRecord } from './batch-loop';
import { RoleEvents } from './role-events';
import {
  createProducer,
  createRoleConsumer,
  messageBytes,
  startConsuming,
  stopConsuming,
} from './role-runner';
import { EventSerializer, jsonEventSerializer } from './serialization';
import { TopologySettings } from '../config/topology-settings';
import { tally } from '../util/tally';

// The one outcome type is the distiller's; re-exported for the role's callers.
export type { DistillOutcome } from '../distiller/outcome';

/** Raw notification text → outcome; the pure distiller behind an adapter. */
export type DistillFunction = (text: string) => DistillOutcome;

/**
 * The text of a notification record, or why it has none. JSON on the wire is UTF-8 (RFC 8259);
 * decoding invalid bytes would silently turn them into U+FFFD and distill altered data.
 */
export function notificationText(value: Buffer | null): string | DistillError {
  if (value === null) return new DistillError('invalid-json', 'the record has no value (null)');
  if (value.length === 0) return new DistillError('invalid-json', 'the record value is empty');
  if (!isUtf8(value)) return new DistillError('invalid-json', 'the record value is not valid UTF-8');
  return value.toString('utf8');
}

export interface DistillerCounters {
  consumed: number;
  distilled: number;
  dropped: number;
  dlq: Map<string, number>;
}

/** What the distiller role makes of each record, for counters, metrics and logs to record. */
export type DistillerOutcomes = {
  /** A notification was read from an input topic. */
  consumed: SourceRecord;
  /** It became an event, bound for `events`. */
  distilled: { source: SourceRecord; event: WinchesterEvent };
  /** The definitions make no event of it (no definition, no traits): counted, not an error. */
  dropped: { source: SourceRecord; reason: DropReason };
  /** It goes to the DLQ: `category` counts it, `reason` is its `dlq.reason` header. */
  deadLettered: {
    source: SourceRecord;
    category: DistillErrorCategory | typeof DLQ_REASON.oversized;
    reason: string;
    messageId?: string;
    eventType?: string;
  };
  /** A chunk of `records` records is produced and its offsets resolved. */
  chunkDone: { records: number };
  /** A whole batch of `records` records is done. */
  batchDone: { records: number };
};

export interface DistillerHooks {
  onCounters?: (c: DistillerCounters) => void;
  metrics?: WinchesterMetrics;
  serializer?: EventSerializer;
}

/**
 * Distiller role: input topics → `events`, at least once. Each batch is processed record
 * by record (a bad record goes to the DLQ, never fails the batch); the produced records
 * are acknowledged before the offsets that produced them are resolved and committed.
 */
export async function startDistiller(
  kafka: Kafka,
  settings: TopologySettings,
  distill: DistillFunction,
  hooks: DistillerHooks = {},
): Promise<DistillerRole> {
  const clients = {
    consumer: createRoleConsumer(kafka, settings, 'distiller', hooks.metrics),
    producer: createProducer(kafka),
  };
  return new DistillerRole(clients, settings, distill, hooks).start();
}

/** The distiller role as its stages: decode a record, route its outcome; the batch loop does the rest. */
export class DistillerRole {
  readonly counters: DistillerCounters = { consumed: 0, distilled: 0, dropped: 0, dlq: new Map() };
  readonly events = new RoleEvents<DistillerOutcomes>();
  readonly consumer: Consumer;
  readonly producer: Producer;
  private readonly serializer: EventSerializer;
  private readonly loop: BatchLoop<DistillOutcome>;

  constructor(
    clients: { consumer: Consumer; producer: Producer },
    private readonly settings: TopologySettings,
    private distill: DistillFunction,
    hooks: DistillerHooks = {},
  ) {
    this.consumer = clients.consumer;
    this.producer = clients.producer;
    this.serializer = hooks.serializer ?? jsonEventSerializer;
    recordDistillerOutcomes(this.events, {
      counters: this.counters,
      metrics: hooks.metrics,
      log: roleLogger('distiller'),
      dlqTopic: settings.topics.notificationsDlq,
      onCounters: hooks.onCounters,
    });
    this.loop = new BatchLoop<DistillOutcome>(
      {
        decode: (source) => this.decode(source),
        undecodable: (source, error) => this.undecodable(source, error),
        route: (outcome, source, out) => this.route(outcome, source, out),
        chunkDone: (records) => this.events.emit('chunkDone', { records }),
        batchDone: (batch) => this.events.emit('batchDone', { records: batch.messages.length }),
      },
      {
        producer: this.producer,
        topics: { output: settings.topics.events, dlq: settings.topics.notificationsDlq },
        maxRecordBytes: settings.maxRecordBytes,
      },
    );
  }

  async start(): Promise<this> {
    const { inputPattern, inputTopics } = this.settings;
    await startConsuming(this, inputPattern ? [new RegExp(inputPattern)] : inputTopics, (payload) =>
      this.eachBatch(payload),
    );
    return this;
  }

  /** Bound, so callers may pass it around as a function. */
  readonly stop = (): Promise<void> => stopConsuming(this);

  /**
   * New event definitions (a topology version made current), from the next notification on.
   * Safe while a batch is in flight: each record is distilled whole, synchronously, with the
   * function set when it is read, so the batch in hand switches between two records.
   */
  setDistill(distill: DistillFunction): void {
    this.distill = distill;
  }

  /** One consumed batch (kafkajs's `eachBatch`). */
  eachBatch(payload: BatchPayload): Promise<void> {
    return this.loop.run(payload);
  }

  /** Bytes → text → outcome. A throw from `distill` is caught by the loop (`undecodable`). */
  private decode(source: SourceRecord): DistillOutcome {
    this.events.emit('consumed', source);
    const text = notificationText(source.message.value);
    return typeof text === 'string' ? this.distill(text) : text;
  }

  /** The distiller promises typed outcomes; anything it throws is still one record's problem. */
  private undecodable(source: SourceRecord, error: unknown): Rejection {
    return this.rejection(source, new DistillError('internal', (error as Error).message));
  }

  private async route(outcome: DistillOutcome, source: SourceRecord, out: ChunkOutput): Promise<void> {
    if (outcome.kind === 'event') await this.routeEvent(outcome.event, source, out);
    else if (outcome.kind === 'dropped') this.events.emit('dropped', { source, reason: outcome.reason });
    else out.reject(source, this.rejection(source, outcome));
  }

  /** An event goes to `events` unless its record is over the limit, which sends it to the DLQ. */
  private async routeEvent(event: WinchesterEvent, source: SourceRecord, out: ChunkOutput): Promise<void> {
    const { topic, partition, message } = source;
    const record: Message = {
      key: message.key ?? event.message_id,
      value: await this.serializer.encode(event),
      headers: { 'winchester.source': `${topic}/${partition}/${message.offset}` },
    };
    if (messageBytes(record) <= this.settings.maxRecordBytes) {
      out.send(record);
      this.events.emit('distilled', { source, event });
      return;
    }
    const reason = DLQ_REASON.oversized;
    out.reject(source, { reason, detail: { 'message-id': event.message_id } });
    this.events.emit('deadLettered', { source, category: reason, reason, messageId: event.message_id });
  }

  private rejection(source: SourceRecord, error: DistillError): Rejection {
    const { category, reason, messageId, eventType, trait } = error;
    this.events.emit('deadLettered', { source, category, reason, messageId, eventType });
    return { reason, detail: { 'message-id': messageId, 'event-type': eventType, trait } };
  }
}

/** The distiller's counters, metrics and log lines, each fed by the outcomes it records. */
export function recordDistillerOutcomes(
  events: RoleEvents<DistillerOutcomes>,
  { counters, metrics, log, dlqTopic, onCounters }: DistillerRecorders,
): void {
  // Ids and types in logs come from the bad input: keep a log line small whatever it sent.
  const short = (v: string | undefined) => (v && v.length > 256 ? `${v.slice(0, 255)}…` : v);
  events
    .on('consumed', () => {
      counters.consumed++;
      metrics?.notificationsConsumed.inc();
    })
    .on('distilled', ({ source }) => {
      counters.distilled++;
      metrics?.notificationsDistilled.inc();
      // Notification appended to its topic → its event ready to produce (the chunk's send follows).
      metrics?.stages.distill.sinceRecord(source.message.timestamp);
    })
    .on('dropped', ({ source, reason }) => {
      counters.dropped++;
      metrics?.notificationsDropped.inc({ reason });
      log.debug({ reason, offset: source.message.offset }, 'notification dropped');
    })
    .on('deadLettered', ({ source, category, reason, messageId, eventType }) => {
      tally(counters.dlq, category);
      metrics?.dlqRecords.inc({ topic: dlqTopic, reason: category });
      const { topic, partition, message } = source;
      log.warn(
        {
          message_id: short(messageId),
          event_type: short(eventType),
          reason,
          topic,
          partition,
          offset: message.offset,
        },
        'notification sent to the DLQ',
      );
    })
    .on('chunkDone', () => onCounters?.(counters))
    .on('batchDone', ({ records }) => {
      if (counters.consumed % 10000 < records) {
        log.debug({ consumed: counters.consumed, distilled: counters.distilled }, 'progress');
      }
    });
}

interface DistillerRecorders {
  counters: DistillerCounters;
  metrics?: WinchesterMetrics;
  log: Logger;
  dlqTopic: string;
  onCounters?: (c: DistillerCounters) => void;
}
