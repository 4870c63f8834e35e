import { CompressionTypes, Message, Producer } from 'kafkajs';
import type { StageTimers } from '../metrics/stage-latency';
import { ClockMode } from '../streams/engine';
import { StreamRecord } from '../streams/model';
import { PartitionOutcomes } from './partition-outcomes';
import { RoleEvents } from './role-events';
import { messageBytes, sendAll } from './role-runner';
import { jsonSerializers, RecordSerializer } from './serialization';

export interface StreamEmitterOptions {
  topics: { streams: string; streamsDlq: string };
  /** The record limit the topics are sized for: larger stream records go to the DLQ instead. */
  maxRecordBytes: number;
  /** Under the wall clock, fired records are timed end to end (see `timeEndToEnd`). */
  clock?: ClockMode;
}

/**
 * The matcher's output stage: fired and expired streams → `streams`, GZIP-compressed, on a
 * producer of their own (so timers never queue behind stage 1's sends). A record too large
 * even so is an error with a DLQ record, never a stuck partition.
 */
export class StreamEmitter {
  constructor(
    private readonly producer: Producer,
    private readonly options: StreamEmitterOptions,
    private readonly events: RoleEvents<PartitionOutcomes>,
    /** JSON, or Avro through the schema registry. */
    private readonly serializer: RecordSerializer<StreamRecord> = jsonSerializers.streams,
    private readonly latency?: Pick<StageTimers, 'end_to_end'>,
  ) {}

  /** Produces the records; resolves once every one is acknowledged. Bound: the processor calls it as a function. */
  readonly emit = async (records: StreamRecord[]): Promise<void> => {
    const { fitting, tooLarge } = await this.split(records);
    const { topics, maxRecordBytes } = this.options;
    // Produce requests stay within the record limit the topics are sized for.
    await sendAll(this.producer, topics.streamsDlq, tooLarge, { maxBytes: maxRecordBytes });
    await sendAll(this.producer, topics.streams, fitting, {
      maxBytes: maxRecordBytes,
      compression: CompressionTypes.GZIP,
    });
    this.timeEndToEnd(records);
  };

  /**
   * A fired stream, acknowledged: how long since its newest event's notification was made
   * (the event's own timestamp; the notification's Kafka timestamp does not travel with
   * stream state). Under the event clock a stream fires when the data says, not the wall.
   */
  private timeEndToEnd(records: StreamRecord[]): void {
    if (!this.latency || this.options.clock !== 'wall') return;
    const now = Date.now() * 1000;
    for (const { kind, events } of records) {
      if (kind === 'fired' && events.length)
        this.latency.end_to_end.sinceMicros(events[events.length - 1].timestamp, now);
    }
  }

  private async split(records: StreamRecord[]): Promise<{ fitting: Message[]; tooLarge: Message[] }> {
    const fitting: Message[] = [];
    const tooLarge: Message[] = [];
    for (const record of records) {
      this.events.emit('emitting', { record });
      const message: Message = { key: record.stream_id, value: await this.serializer.encode(record) };
      const bytes = messageBytes(message);
      if (bytes <= this.options.maxRecordBytes) {
        fitting.push(message);
        continue;
      }
      this.events.emit('tooLarge', { record, bytes });
      tooLarge.push(tooLargeRecord(record, bytes));
    }
    return { fitting, tooLarge };
  }
}

/**
 * What the streams DLQ gets for a record too large: the stream without its events, and their
 * ids. JSON whatever the topic's format: it is for people, and is never redriven.
 */
function tooLargeRecord(record: StreamRecord, bytes: number): Message {
  const { events, ...meta } = record;
  return {
    key: record.stream_id,
    value: JSON.stringify({
      ...meta,
      event_count: events.length,
      message_ids: events.map((e) => e.message_id),
    }),
    headers: { 'dlq.reason': 'stream record too large', 'dlq.bytes': String(bytes) },
  };
}
