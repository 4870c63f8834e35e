import { Consumer, Kafka, Message, Producer, CompressionTypes } from 'kafkajs';
import { logger } from '../util/logger';
import { TopologySettings } from './settings';

/** Produces with acks from every in-sync replica, one request in flight, in chunks. */
export async function sendAll(
  producer: Producer,
  topic: string,
  messages: Message[],
  compression = CompressionTypes.None,
): Promise<void> {
  const chunk = 500;
  for (let i = 0; i < messages.length; i += chunk) {
    await producer.send({ topic, acks: -1, compression, messages: messages.slice(i, i + chunk) });
  }
}

/** A role's consumer: group `<namespace>.<role>`, heartbeats at a fifth of the session timeout. */
export function createRoleConsumer(
  kafka: Kafka,
  settings: Pick<TopologySettings, 'namespace' | 'sessionTimeoutMs'>,
  role: string,
): Consumer {
  return kafka.consumer({
    groupId: `${settings.namespace}.${role}`,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: Math.floor(settings.sessionTimeoutMs / 5),
  });
}

export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false });
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
