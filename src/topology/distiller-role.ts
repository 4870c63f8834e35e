import { isUtf8 } from 'node:buffer';
import { EachBatchPayload, Kafka, Message, Consumer, Producer } from 'kafkajs';
import { WinchesterEvent } from '../events/event';
import { EventSerializer, jsonEventSerializer } from './serialization';
import { roleLogger } from '../util/logger';
import { deadLetter } from './records';
import { createRoleConsumer, createProducer, disconnectAll, messageBytes, sendAll } from './role-runner';
import { TopologySettings } from './settings';
import { WinchesterMetrics } from '../metrics/metrics';

export type DistillOutcome =
  | { kind: 'event'; event: WinchesterEvent }
  | { kind: 'dropped'; reason: string }
  | { kind: 'error'; reason: string; messageId?: string; eventType?: string; trait?: string };

/** Raw notification text → outcome; the pure distiller behind an adapter. */
export type DistillFunction = (text: string) => DistillOutcome;

/**
 * The text of a notification record, or why it has none. JSON on the wire is UTF-8 (RFC 8259);
 * decoding invalid bytes would silently turn them into U+FFFD and distill altered data.
 */
export function notificationText(value: Buffer | null): string | Extract<DistillOutcome, { kind: 'error' }> {
  if (value === null) return { kind: 'error', reason: 'invalid-json: the record has no value (null)' };
  if (value.length === 0) return { kind: 'error', reason: 'invalid-json: the record value is empty' };
  if (!isUtf8(value)) return { kind: 'error', reason: 'invalid-json: the record value is not valid UTF-8' };
  return value.toString('utf8');
}

export interface DistillerCounters {
  consumed: number;
  distilled: number;
  dropped: number;
  dlq: Map<string, number>;
}

export interface DistillerRole {
  consumer: Consumer;
  producer: Producer;
  counters: DistillerCounters;
  stop(): Promise<void>;
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
  hooks: {
    onCounters?: (c: DistillerCounters) => void;
    metrics?: WinchesterMetrics;
    serializer?: EventSerializer;
  } = {},
): Promise<DistillerRole> {
  const counters: DistillerCounters = { consumed: 0, distilled: 0, dropped: 0, dlq: new Map() };
  const producer = createProducer(kafka);
  const consumer = createRoleConsumer(kafka, settings, 'distiller', hooks.metrics);
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({
    topics: settings.inputPattern ? [new RegExp(settings.inputPattern)] : settings.inputTopics,
    fromBeginning: true,
  });
  const log = roleLogger('distiller');
  // Produce requests stay within the record limit the topics are sized for.
  const sendLimit = { maxBytes: settings.maxRecordBytes };
  // Ids and types in logs come from the bad input: keep a log line small whatever it sent.
  const short = (v: string | undefined) => (v && v.length > 256 ? `${v.slice(0, 255)}…` : v);
  const metrics = hooks.metrics;
  const serializer = hooks.serializer ?? jsonEventSerializer;
  const toDlq = (
    reason: string,
    source: { topic: string; partition: number; message: { offset: string } },
    fields: object,
  ) => {
    counters.dlq.set(reason, (counters.dlq.get(reason) ?? 0) + 1);
    metrics?.dlqRecords.inc({ topic: settings.topics.notificationsDlq, reason });
    log.warn(
      { ...fields, topic: source.topic, partition: source.partition, offset: source.message.offset },
      'notification sent to the DLQ',
    );
  };

  await consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: true,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload) => {
      const chunkSize = 500;
      for (let start = 0; start < batch.messages.length; start += chunkSize) {
        if (!isRunning() || isStale()) return;
        const chunk = batch.messages.slice(start, start + chunkSize);
        const events: Message[] = [];
        const dead: Message[] = [];
        for (const message of chunk) {
          counters.consumed++;
          metrics?.notificationsConsumed.inc();
          const source = { topic: batch.topic, partition: batch.partition, message };
          const text = notificationText(message.value);
          let outcome: DistillOutcome;
          try {
            outcome = typeof text === 'string' ? distill(text) : text;
          } catch (error) {
            // The distiller promises typed outcomes; anything else is still one record's problem.
            outcome = { kind: 'error', reason: `internal: ${(error as Error).message}` };
          }
          if (outcome.kind === 'event') {
            const out: Message = {
              key: message.key ?? outcome.event.message_id,
              value: await serializer.encode(outcome.event),
              headers: { 'winchester.source': `${batch.topic}/${batch.partition}/${message.offset}` },
            };
            if (messageBytes(out) > settings.maxRecordBytes) {
              dead.push(
                deadLetter(
                  source,
                  'oversized',
                  { 'message-id': outcome.event.message_id },
                  settings.maxRecordBytes,
                ),
              );
              toDlq('oversized', source, {
                message_id: short(outcome.event.message_id),
                reason: 'oversized',
              });
            } else {
              events.push(out);
              counters.distilled++;
              metrics?.notificationsDistilled.inc();
            }
          } else if (outcome.kind === 'dropped') {
            counters.dropped++;
            metrics?.notificationsDropped.inc({ reason: outcome.reason });
            log.debug({ reason: outcome.reason, offset: message.offset }, 'notification dropped');
          } else {
            const category = outcome.reason.split(':')[0];
            dead.push(
              deadLetter(
                source,
                outcome.reason,
                { 'message-id': outcome.messageId, 'event-type': outcome.eventType, trait: outcome.trait },
                settings.maxRecordBytes,
              ),
            );
            toDlq(category, source, {
              message_id: short(outcome.messageId),
              event_type: short(outcome.eventType),
              reason: outcome.reason,
            });
          }
        }
        await sendAll(producer, settings.topics.events, events, sendLimit);
        await sendAll(producer, settings.topics.notificationsDlq, dead, sendLimit);
        resolveOffset(chunk[chunk.length - 1].offset);
        await heartbeat();
        hooks.onCounters?.(counters);
      }
      if (counters.consumed % 10000 < batch.messages.length) {
        log.debug({ consumed: counters.consumed, distilled: counters.distilled }, 'progress');
      }
    },
  });
  return {
    consumer,
    producer,
    counters,
    stop: async () => {
      await consumer.stop();
      await disconnectAll(consumer, producer);
    },
  };
}
