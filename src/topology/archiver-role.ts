import { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { TopologySettings } from '../config/topology-settings';
import { WinchesterMetrics } from '../metrics/metrics';
import { storedEventOf } from '../store/canonical-events';
import { CompletedStream, CompletedStreamArchive } from '../store/completed-streams';
import { EventStore, StoredEvent } from '../store/model';
import { roleLogger } from '../util/logger';
import { completedStreamFrom, completedStreamOf } from './archiver-completions';
import { EventExpiry, ExpiringStreams, ExpirySchedule, expirySchedule } from './archiver-expiry';
import {
  ArchiverOutcomes,
  newArchiverCounters,
  recordArchiverOutcomes,
  RejectionCause,
} from './archiver-outcomes';
import { BackOff, ChunkWriter } from './archiver-write';
import {
  BatchLiveness,
  BatchLoop,
  BatchPayload,
  CHUNK_SIZE,
  ChunkOutput,
  EndOfChunk,
  SourceRecord,
} from './batch-loop';
import { RoleEvents } from './role-events';
import { createProducer, createRoleConsumer, startConsuming, stopConsuming } from './role-runner';
import { isAvroRecord, jsonSerializers, TopologyDecoders } from './serialization';

export type { ArchiverCounters, ArchiverOutcomes } from './archiver-outcomes';

/** Where the archiver keeps completion records, and expires them with the events. */
export type CompletedStreamsStore = Pick<CompletedStreamArchive, 'recordCompletedStreams'> & ExpiringStreams;

export interface ArchiverHooks {
  metrics?: WinchesterMetrics;
  /** Events and completion records, JSON or Avro (the latter through a schema registry). */
  decoders?: Pick<TopologyDecoders, 'events' | 'completions'>;
  /**
   * Where the completion records of `streams.completed` are kept (the caller closes it).
   * Without it the archiver reads `events` alone.
   */
  completedStreams?: CompletedStreamsStore;
  /** event_ttl: with it, the archiver owning partition 0 of `events` expires older events and streams. */
  ttlSeconds?: number;
  /** When expiry runs (tests shorten it). */
  expiry?: Partial<Omit<ExpirySchedule, 'ttlSeconds'>>;
  /** Waits between attempts to write a chunk the store failed to take. */
  backOff?: BackOff;
  chunkSize?: number;
}

/**
 * Archiver role: `events` → the event store, and `streams.completed` → its completed streams,
 * at least once, in one consumer group. Each chunk of a batch is written with one store call
 * before its offsets are resolved; the store's duplicate checks make a redelivered chunk
 * harmless. When the store fails, the chunk is written again after a back-off, heartbeating
 * meanwhile: nothing is skipped, and the group's lag grows instead.
 */
export async function startArchiver(
  kafka: Kafka,
  settings: TopologySettings,
  store: EventStore,
  hooks: ArchiverHooks = {},
): Promise<ArchiverRole> {
  const clients = {
    consumer: createRoleConsumer(kafka, settings, 'archiver', hooks.metrics),
    producer: createProducer(kafka),
  };
  return new ArchiverRole(clients, settings, store, hooks).start();
}

/** A record as the archiver reads it: an event, or a finished stream, and where it came from. */
type ArchiverRecord = EventRecord | StreamRecord;
type EventRecord = { event: StoredEvent; source: SourceRecord };
type StreamRecord = { stream: CompletedStream; source: SourceRecord };

const isEvent = (record: ArchiverRecord): record is EventRecord => 'event' in record;
const isStream = (record: ArchiverRecord): record is StreamRecord => 'stream' in record;

/** The archiver as its stages: decode each record, write each chunk as it ends; the loop does the rest. */
export class ArchiverRole {
  readonly counters = newArchiverCounters();
  readonly events = new RoleEvents<ArchiverOutcomes>();
  readonly consumer: Consumer;
  readonly producer: Producer;
  /** Present when `ttlSeconds` is given. */
  readonly expiry: EventExpiry | undefined;
  private readonly decoders: Pick<TopologyDecoders, 'events' | 'completions'>;
  private readonly completedStreams: CompletedStreamsStore | undefined;
  private readonly writer: ChunkWriter;
  private readonly loop: BatchLoop<ArchiverRecord>;

  constructor(
    clients: { consumer: Consumer; producer: Producer },
    private readonly settings: TopologySettings,
    private readonly store: EventStore,
    hooks: ArchiverHooks = {},
  ) {
    this.consumer = clients.consumer;
    this.producer = clients.producer;
    this.decoders = hooks.decoders ?? jsonSerializers;
    this.completedStreams = hooks.completedStreams;
    const dlqTopic = settings.topics.archiverDlq;
    const log = roleLogger('archiver');
    recordArchiverOutcomes(this.events, { counters: this.counters, metrics: hooks.metrics, log, dlqTopic });
    this.writer = new ChunkWriter(this.events, hooks.backOff);
    if (hooks.ttlSeconds !== undefined) {
      const schedule = { ...expirySchedule(hooks.ttlSeconds), ...hooks.expiry };
      this.expiry = new EventExpiry(store, this.events, schedule, hooks.completedStreams);
    }
    this.loop = new BatchLoop<ArchiverRecord>(
      {
        decode: (source) => this.decode(source),
        undecodable: (source, error) =>
          this.rejection(source, this.undecodableCause(source), errorText(error)),
        // Nothing per record: a chunk is written with one store call when it ends.
        route: () => undefined,
        endChunk: (chunk) => this.writeChunk(chunk),
      },
      {
        producer: this.producer,
        // Nothing is produced but DLQ records: the chunk's output is the store.
        topics: { output: settings.topics.events, dlq: dlqTopic },
        maxRecordBytes: settings.maxRecordBytes,
        chunkSize: hooks.chunkSize ?? CHUNK_SIZE,
      },
    );
  }

  /** What the archiver consumes: `events`, and `streams.completed` when it keeps completed streams. */
  get topics(): string[] {
    const { events, completed } = this.settings.topics;
    return this.completedStreams ? [events, completed] : [events];
  }

  async start(): Promise<this> {
    this.followAssignment();
    await startConsuming(this, this.topics, (payload) => this.eachBatch(payload));
    this.expiry?.start();
    return this;
  }

  /** Bound, so callers may pass it around as a function. The role owns the event store and closes it. */
  readonly stop = async (): Promise<void> => {
    await this.expiry?.stop();
    await stopConsuming(this);
    await this.store.close();
  };

  /** One consumed batch (kafkajs's `eachBatch`). */
  eachBatch(payload: BatchPayload): Promise<void> {
    return this.loop.run(payload);
  }

  /** A record by its topic: a completion record, or an event. A throw sends it to the DLQ. */
  private async decode(source: SourceRecord): Promise<ArchiverRecord> {
    this.events.emit('consumed', source);
    const { message } = source;
    if (source.topic === this.settings.topics.completed) {
      return { stream: await this.completedStream(message), source };
    }
    const event = await this.decoders.events.decode(message.value ?? Buffer.alloc(0));
    return { event: storedEventOf(event), source };
  }

  /** A completion record, checked field by field whichever format it came in. */
  private async completedStream(message: KafkaMessage): Promise<CompletedStream> {
    const { namespace } = this.settings;
    const completedAt = Number(message.timestamp) * 1000;
    const value = message.value;
    if (!value || !isAvroRecord(value)) return completedStreamOf(value, namespace, completedAt);
    const record = await this.decoders.completions.decode(value);
    return completedStreamFrom(record as unknown as Record<string, unknown>, namespace, completedAt);
  }

  private undecodableCause(source: SourceRecord): RejectionCause {
    return source.topic === this.settings.topics.completed ? 'undecodable-completion' : 'undecodable';
  }

  /** Writes a chunk durably before its offsets are resolved; gives it up when the batch is no longer ours. */
  private async writeChunk({ batch, records, out, liveness }: EndOfChunk<ArchiverRecord>): Promise<void> {
    const written =
      (await this.writeEvents(records.filter(isEvent), out, liveness)) &&
      (await this.writeStreams(records.filter(isStream), liveness));
    if (written) return;
    this.events.emit('abandoned', {
      batch: { topic: batch.topic, partition: batch.partition },
      records: records.length,
    });
    out.abandon();
  }

  /** The chunk's events with one store call; those the store refused go to the DLQ. False: given up. */
  private async writeEvents(
    records: EventRecord[],
    out: ChunkOutput,
    liveness: BatchLiveness,
  ): Promise<boolean> {
    if (records.length === 0) return true;
    const events = records.map((r) => r.event);
    const call = () => this.recordEvents(events);
    const written = await this.writer.write({ operation: 'record', records: events.length, call }, liveness);
    if (!written) return false;
    const results = written.value;
    const stored = results.filter((r) => r.outcome === 'stored').length;
    const duplicates = results.filter((r) => r.outcome === 'duplicate').length;
    this.events.emit('written', { events: events.length, stored, duplicates, seconds: written.seconds });
    results.forEach(({ outcome, reason, message_id }, i) => {
      if (outcome === 'stored' || outcome === 'duplicate') return;
      const { source } = records[i];
      const why = reason ? `${outcome}: ${reason}` : outcome;
      out.reject(source, this.rejection(source, 'store', why, message_id));
    });
    return true;
  }

  private async recordEvents(events: StoredEvent[]) {
    const results = await this.store.recordEvents(events);
    if (results.length !== events.length) {
      throw new Error(`the store answered ${results.length} results for ${events.length} events`);
    }
    return results;
  }

  /** The chunk's completed streams with one store call. False: given up. */
  private async writeStreams(records: StreamRecord[], liveness: BatchLiveness): Promise<boolean> {
    const archive = this.completedStreams;
    if (records.length === 0) return true;
    // Unreachable: the archiver reads `streams.completed` only when it has somewhere to keep them.
    if (!archive) throw new Error('archiver: completion records, but no completed-stream store');
    const streams = records.map((r) => r.stream);
    const call = () => archive.recordCompletedStreams(streams);
    const written = await this.writer.write(
      { operation: 'record_streams', records: streams.length, call },
      liveness,
    );
    if (!written) return false;
    const { value: recorded, seconds } = written;
    this.events.emit('streamsWritten', { streams: streams.length, recorded, seconds });
    return true;
  }

  private rejection(source: SourceRecord, cause: RejectionCause, reason: string, messageId?: string) {
    this.events.emit('rejected', { source, cause, reason, messageId });
    return { reason, detail: { 'message-id': messageId, role: 'archiver' } };
  }

  /** The member that owns partition 0 of `events` runs expiry. */
  private followAssignment(): void {
    const { expiry, consumer } = this;
    if (!expiry) return;
    const topic = this.settings.topics.events;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) =>
      expiry.lead(payload.memberAssignment[topic] ?? []),
    );
    consumer.on(consumer.events.STOP, () => expiry.lead([]));
  }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));
