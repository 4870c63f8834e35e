import {
  Consumer,
  EachBatchPayload,
  Kafka,
  Message,
  Partitioners,
  Producer,
  CompressionTypes,
} from 'kafkajs';
import { trackConsumerLag } from '../metrics/consumer-lag';
import { WinchesterMetrics } from '../metrics/metrics';
import { logger } from '../util/logger';
import { TopologySettings } from '../config/topology-settings';

/** One produce request carries at most this many messages or (uncompressed) bytes. */
const SEND_MAX_MESSAGES = 2000;
const SEND_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Produces with acks from every in-sync replica, one request in flight, in chunks. A chunk
 * also stays within `maxBytes` (the topology's record limit, which the topics' own limit
 * is sized from): the broker measures a partition's whole batch against that limit.
 */
export async function sendAll(
  producer: Producer,
  topic: string,
  messages: Message[],
  options: { compression?: CompressionTypes; maxBytes?: number } = {},
): Promise<void> {
  const budget = Math.min(SEND_MAX_BYTES, options.maxBytes ?? SEND_MAX_BYTES);
  let start = 0;
  while (start < messages.length) {
    // Always at least one message per request; a single large one goes alone.
    let end = start + 1;
    let bytes = messageBytes(messages[start]);
    while (end < messages.length && end - start < SEND_MAX_MESSAGES) {
      bytes += messageBytes(messages[end]);
      if (bytes > budget) break;
      end++;
    }
    await producer.send({
      topic,
      acks: -1,
      compression: options.compression ?? CompressionTypes.None,
      messages: messages.slice(start, end),
    });
    start = end;
  }
}

/** Produces `messages` with a producer of its own (connected for the call), through sendAll. */
export async function produceAll(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    await sendAll(producer, topic, messages);
  } finally {
    await producer.disconnect();
  }
}

/**
 * A role's consumer: group `<namespace>.<role>`, heartbeats at a fifth of the session timeout.
 * With metrics, its lag per owned partition is kept in `winchester_consumer_lag`.
 */
export function createRoleConsumer(
  kafka: Kafka,
  settings: Pick<TopologySettings, 'namespace' | 'sessionTimeoutMs'>,
  role: string,
  metrics?: WinchesterMetrics,
): Consumer {
  const groupId = `${settings.namespace}.${role}`;
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: Math.floor(settings.sessionTimeoutMs / 5),
  });
  if (metrics) trackConsumerLag(kafka, consumer, groupId, metrics.consumerLag);
  return consumer;
}

export function createProducer(kafka: Kafka): Producer {
  // The default (murmur2, Java-compatible) partitioner, named so kafkajs does not warn about it.
  return kafka.producer({
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

export function messageBytes(message: Message): number {
  const value = message.value;
  const key = message.key;
  const size = (v: unknown) => (v == null ? 0 : Buffer.isBuffer(v) ? v.length : Buffer.byteLength(String(v)));
  let headers = 0;
  for (const [k, v] of Object.entries(message.headers ?? {})) headers += k.length + size(v);
  return size(value) + size(key) + headers + 64;
}

/**
 * Stops a role within its deadline on SIGTERM/SIGINT: consumers finish the batch in hand,
 * commit and leave the group, then producers and other resources close.
 */
export function stopOnSignals(stop: () => Promise<void>, deadlineMs = 10000): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const timer = setTimeout(() => {
      logger.error('did not stop within the deadline; exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    stop()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => handler('SIGTERM'));
  process.once('SIGINT', () => handler('SIGINT'));
}

export async function disconnectAll(...clients: Array<Consumer | Producer | undefined>): Promise<void> {
  for (const client of clients) await client?.disconnect().catch(() => undefined);
}

/** A consuming role's Kafka clients: what it reads with and what it writes with. */
export interface RoleClients {
  consumer: Consumer;
  producer: Producer;
}

/**
 * Connects a role's clients and runs its batch handler: offsets resolved by the role (its
 * batch loop) and committed by kafkajs, three partitions consumed concurrently.
 */
export async function startConsuming(
  clients: RoleClients,
  topics: Array<string | RegExp>,
  eachBatch: (payload: EachBatchPayload) => Promise<void>,
): Promise<void> {
  await clients.producer.connect();
  await clients.consumer.connect();
  await clients.consumer.subscribe({ topics, fromBeginning: true });
  await clients.consumer.run({
    eachBatchAutoResolve: false,
    autoCommit: true,
    partitionsConsumedConcurrently: 3,
    eachBatch,
  });
}

export async function stopConsuming(clients: RoleClients): Promise<void> {
  await clients.consumer.stop();
  await disconnectAll(clients.consumer, clients.producer);
}
