import * as amqp from 'amqplib';
import { amqpTarget, explainAmqpError } from './errors';

/** oslo.messaging's priority of a notification line (`INFO` → `info`), `info` when it has none. */
export function priorityOf(line: string): string {
  const m = /"priority"\s*:\s*"([A-Za-z]+)"/.exec(line);
  return m ? m[1].toLowerCase() : 'info';
}

/**
 * Publishes notification lines as an OpenStack service's notifier does: persistent JSON on the
 * topic exchange, routing key `<topic>.<priority>`, through publisher confirms, `window` lines at
 * a time (RabbitMQ has them all on return).
 */
export async function publishNotifications(
  url: string,
  target: { exchange: string; topic: string; durable: boolean },
  lines: string[],
  onProgress?: (published: number) => void,
  window = 1000,
): Promise<void> {
  const connection = await amqp.connect(url).catch((error: unknown) => {
    throw new Error(explainAmqpError(error, amqpTarget(url)), { cause: error });
  });
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertExchange(target.exchange, 'topic', { durable: target.durable });
    for (let i = 0; i < lines.length; i += window) {
      for (const line of lines.slice(i, i + window)) {
        channel.publish(target.exchange, `${target.topic}.${priorityOf(line)}`, Buffer.from(line), {
          persistent: true,
          contentType: 'application/json',
          contentEncoding: 'utf-8',
        });
      }
      await channel.waitForConfirms();
      onProgress?.(Math.min(lines.length, i + window));
    }
  } finally {
    await connection.close();
  }
}

/** Deletes a queue (a run's own pool queue), ignoring one that is already gone. */
export async function deleteQueue(url: string, queue: string): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.deleteQueue(queue).catch(() => undefined);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
