import { performance } from 'node:perf_hooks';
import { Consumer, Kafka } from 'kafkajs';

/** The part of a stream record (plain JSON) the probe reads. */
interface StreamRecordView {
  kind?: string;
  events?: Array<{ message_id: string }>;
}

/**
 * Fire latency as the benchmarks measure it: from just before a firing notification is
 * produced to the arrival, on the streams topic, of the fired stream record whose last event
 * it is (the firing event is the newest of its stream). A consumer of its own reads the topic.
 */
export class FireLatencyProbe {
  private readonly sentAt = new Map<string, number>();
  private samples: number[] = [];
  /** Every stream record read, fired or expired. */
  streamRecords = 0;

  private constructor(private readonly consumer: Consumer) {}

  static async start(kafka: Kafka, streamsTopic: string, groupId: string): Promise<FireLatencyProbe> {
    const consumer = kafka.consumer({ groupId });
    const probe = new FireLatencyProbe(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: streamsTopic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => probe.read(message.value) });
    return probe;
  }

  /** Call just before producing the firing notification with this message id. */
  sending(messageId: string): void {
    this.sentAt.set(messageId, performance.now());
  }

  /** Latencies (ms) measured since the last take. */
  take(): number[] {
    const taken = this.samples;
    this.samples = [];
    return taken;
  }

  /** How many latencies are waiting to be taken. */
  get pending(): number {
    return this.samples.length;
  }

  /** Firing sends whose stream record has not arrived (nor been forgotten) yet. */
  get awaited(): number {
    return this.sentAt.size;
  }

  /** Forgets sends older than `ms` that never arrived: bounded memory over a long run. */
  forgetOlderThan(ms: number): void {
    const limit = performance.now() - ms;
    // A Map iterates in insertion order, which is send order.
    for (const [id, at] of this.sentAt) {
      if (at >= limit) break;
      this.sentAt.delete(id);
    }
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }

  private read(value: Buffer | null): void {
    this.streamRecords++;
    if (!value) return;
    const record = JSON.parse(value.toString('utf8')) as StreamRecordView;
    if (record.kind !== 'fired' || !record.events?.length) return;
    const id = record.events[record.events.length - 1].message_id;
    const at = this.sentAt.get(id);
    if (at === undefined) return;
    this.samples.push(performance.now() - at);
    this.sentAt.delete(id);
  }
}
