import type { Channel, ChannelModel } from 'amqplib';
import { QueuePlan } from '../config/bridge-settings';
import { Logger } from '../util/logger';

export interface QueueOptions {
  durable: boolean;
  quorum: boolean;
}

/** oslo.messaging's queue arguments: a quorum queue is its only one the bridge declares. */
const queueArguments = (options: QueueOptions) => (options.quorum ? { 'x-queue-type': 'quorum' } : {});

/**
 * Makes the plan's exchanges, queues and bindings exist. What exists already is used as it is:
 * RabbitMQ refuses to declare an existing exchange or queue with other settings (and oslo's
 * services declare the same ones with theirs), so each is looked up before it is declared.
 */
export async function declareQueues(
  model: ChannelModel,
  plan: QueuePlan[],
  options: QueueOptions,
  log: Logger,
): Promise<void> {
  const exchanges = [...new Set(plan.flatMap((queue) => queue.bindings.map((b) => b.exchange)))];
  for (const exchange of exchanges) {
    if (await exists(model, (channel) => channel.checkExchange(exchange))) continue;
    await withChannel(model, (channel) =>
      channel.assertExchange(exchange, 'topic', { durable: options.durable, autoDelete: false }),
    );
  }
  for (const queue of plan) {
    const found = await exists(model, (channel) => channel.checkQueue(queue.name));
    if (!found) {
      await withChannel(model, (channel) =>
        channel.assertQueue(queue.name, {
          durable: options.durable,
          autoDelete: false,
          arguments: queueArguments(options),
        }),
      );
      log.info({ queue: queue.name, durable: options.durable, quorum: options.quorum }, 'queue declared');
    }
    await withChannel(model, async (channel) => {
      for (const { exchange, routingKey } of queue.bindings)
        await channel.bindQueue(queue.name, exchange, routingKey);
    });
  }
}

/** Runs `work` on a channel of its own, closed afterwards (a failed operation closes only it). */
export async function withChannel<T>(
  model: ChannelModel,
  work: (channel: Channel) => Promise<T>,
): Promise<T> {
  const channel = await model.createChannel();
  channel.on('error', () => undefined);
  try {
    return await work(channel);
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** A passive declaration: true when the entity exists; a 404 closes only its own channel. */
async function exists(model: ChannelModel, check: (channel: Channel) => Promise<unknown>): Promise<boolean> {
  try {
    await withChannel(model, check);
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return false;
    throw error;
  }
}
