import type { ConsumeMessage } from 'amqplib';
import { IHeaders, Message, Producer, TopicMessages } from 'kafkajs';
import type { ChannelLease } from '../amqp/feed';
import { shortReason } from '../topology/records';
import { Logger } from '../util/logger';
import { tally } from '../util/tally';
import type { JsonCheck } from '../config/bridge-settings';
import { Classified, classifyDelivery, RejectCategory } from './message';

/** A delivery the bridge holds, with the channel it must be acknowledged on, and what it becomes. */
export interface Pending {
  message: ConsumeMessage;
  lease: ChannelLease;
  outcome: Classified;
}

/**
 * Classifies a delivery as it arrives: the parse then runs while the batch before it is in
 * Kafka's hands, not between taking a batch and sending it.
 */
export function pendingDelivery(
  message: ConsumeMessage,
  lease: ChannelLease,
  limits: { maxRecordBytes: number; jsonCheck: JsonCheck },
): Pending {
  const outcome = classifyDelivery(deliveryOf(message), limits.maxRecordBytes, limits.jsonCheck);
  return { message, lease, outcome };
}

export interface ForwardResult {
  /** Kafka has every record of the batch: its deliveries may be acknowledged. */
  delivered: boolean;
  produced: number;
  deadLettered: number;
  dlqReasons: Map<string, number>;
}

export interface ForwarderOptions {
  outputTopic: string;
  dlqTopic: string;
  maxRecordBytes: number;
  log: Logger;
  onRetry: () => void;
}

/** The broker's answers that mean "this record will never fit", whatever the retry. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Produces a batch of deliveries to Kafka: each as a record of the input topic, or as a DLQ
 * record with the reason. A failed send is tried again (backing off to 5 s) for as long as the
 * deliveries' channel lives; after that RabbitMQ delivers them again, so nothing is dropped.
 */
export class BridgeForwarder {
  inFlight = 0;
  private deadline = Infinity;

  constructor(
    private readonly producer: Producer,
    private readonly options: ForwarderOptions,
  ) {}

  get dlqTopic(): string {
    return this.options.dlqTopic;
  }

  /** While stopping: stop retrying at this time (epoch ms). */
  giveUpAt(deadline: number): void {
    this.deadline = deadline;
  }

  async forward(batch: Pending[]): Promise<ForwardResult> {
    const records: Message[] = [];
    const deadLetters: Message[] = [];
    const dlqReasons = new Map<string, number>();
    for (const pending of batch) {
      const outcome = pending.outcome;
      if (outcome.kind === 'record') records.push({ key: outcome.key, value: outcome.value });
      else {
        deadLetters.push(this.deadLetter(pending.message, outcome.category, outcome.reason));
        tally(dlqReasons, outcome.category);
      }
    }
    this.inFlight = batch.length;
    try {
      const delivered = await this.send(batch[0].lease, records, deadLetters, dlqReasons);
      return { delivered, produced: records.length, deadLettered: deadLetters.length, dlqReasons };
    } finally {
      this.inFlight = 0;
    }
  }

  /** Sends records and DLQ records in one request; on a refusal of size, one record at a time. */
  private async send(
    lease: ChannelLease,
    records: Message[],
    deadLetters: Message[],
    dlqReasons: Map<string, number>,
  ): Promise<boolean> {
    const topicMessages: TopicMessages[] = [];
    if (records.length) topicMessages.push({ topic: this.options.outputTopic, messages: records });
    if (deadLetters.length) topicMessages.push({ topic: this.options.dlqTopic, messages: deadLetters });
    const outcome = await this.sendWithRetry(lease, () =>
      this.producer.sendBatch({ acks: -1, topicMessages }),
    );
    if (outcome !== 'too-large') return outcome === 'sent';
    return this.sendOneByOne(lease, records, deadLetters, dlqReasons);
  }

  /**
   * The broker refused the batch as too large (its topic's max.message.bytes is under
   * max_record_bytes): each record alone, and those still refused go to the DLQ.
   */
  private async sendOneByOne(
    lease: ChannelLease,
    records: Message[],
    deadLetters: Message[],
    dlqReasons: Map<string, number>,
  ): Promise<boolean> {
    for (const record of [...records]) {
      const send = () =>
        this.producer.send({ topic: this.options.outputTopic, acks: -1, messages: [record] });
      const outcome = await this.sendWithRetry(lease, send);
      if (outcome === 'gone') return false;
      if (outcome === 'too-large') {
        records.splice(records.indexOf(record), 1);
        const reason = `Kafka refused the record as too large for ${this.options.outputTopic} (${record.value?.length} bytes)`;
        deadLetters.push(this.deadLetterOf(record, 'oversized', reason));
        tally(dlqReasons, 'oversized');
      }
    }
    if (!deadLetters.length) return true;
    const sendDlq = () =>
      this.producer.send({ topic: this.options.dlqTopic, acks: -1, messages: deadLetters });
    return (await this.sendWithRetry(lease, sendDlq)) === 'sent';
  }

  private async sendWithRetry(
    lease: ChannelLease,
    send: () => Promise<unknown>,
  ): Promise<'sent' | 'too-large' | 'gone'> {
    for (let attempt = 1; ; attempt++) {
      try {
        await send();
        return 'sent';
      } catch (error) {
        if (TOO_LARGE.has(kafkaErrorType(error) ?? '')) return 'too-large';
        if (!lease.alive || Date.now() >= this.deadline) return 'gone';
        this.options.onRetry();
        this.options.log.warn({ attempt, error: shortReason(error) }, 'Kafka send failed: trying again');
        await sleep(Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  private deadLetter(message: ConsumeMessage, category: RejectCategory, reason: string): Message {
    return this.deadLetterOf({ key: null, value: message.content }, category, reason, message);
  }

  /**
   * A DLQ record: the bytes as received (cut to fit, with the original length in a header),
   * the reason, and where the message came from in RabbitMQ.
   */
  private deadLetterOf(record: Message, category: string, reason: string, from?: ConsumeMessage): Message {
    const headers: IHeaders = {
      'dlq.reason': shortReason(`${category}: ${reason}`),
      'dlq.source.transport': 'amqp',
      'dlq.target.topic': this.options.outputTopic,
      'dlq.time': new Date().toISOString(),
    };
    if (from) {
      headers['dlq.source.exchange'] = from.fields.exchange;
      headers['dlq.source.routing-key'] = shortReason(from.fields.routingKey);
      const compression = from.properties.headers?.compression as unknown;
      if (compression !== undefined) headers['dlq.source.compression'] = shortReason(String(compression));
    }
    let value = record.value as Buffer;
    const room = this.options.maxRecordBytes - 4096;
    if (value.length > room) {
      headers['dlq.truncated-from'] = String(value.length);
      value = value.subarray(0, room);
    }
    return { key: record.key ?? null, value, headers };
  }
}

/** What the classifier reads of an amqplib delivery. */
function deliveryOf(message: ConsumeMessage) {
  return {
    body: message.content,
    headers: message.properties.headers,
    exchange: message.fields.exchange,
    routingKey: message.fields.routingKey,
    redelivered: message.fields.redelivered,
  };
}

/** The Kafka protocol error type (`MESSAGE_TOO_LARGE`…) anywhere in kafkajs's error chain. */
function kafkaErrorType(error: unknown): string | undefined {
  let current = error as
    { type?: string; cause?: unknown; originalError?: unknown; errors?: unknown[] } | undefined;
  for (let depth = 0; current && depth < 8; depth++) {
    if (current.type) return current.type;
    current = (current.originalError ?? current.cause ?? current.errors?.[0]) as typeof current;
  }
  return undefined;
}
