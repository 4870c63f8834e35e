import * as amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import { QueuePlan } from '../config/bridge-settings';
import { Logger } from '../util/logger';
import { declareQueues, QueueOptions } from './declare';
import { amqpTarget, explainAmqpError } from './errors';

/**
 * The channel a delivery came on. A delivery tag means something only on its own channel:
 * once the channel is gone its unacknowledged deliveries go back to the queue, and
 * acknowledging them on another channel would be an error, so `ack` then does nothing.
 */
export class ChannelLease {
  private open = true;

  constructor(private readonly channel: Channel) {}

  get alive(): boolean {
    return this.open;
  }

  /** Acknowledges `message` and every earlier delivery of this channel not yet acknowledged. */
  ackUpTo(message: ConsumeMessage): boolean {
    if (!this.open) return false;
    this.channel.ack(message, true);
    return true;
  }

  lose(): void {
    this.open = false;
  }
}

export interface FeedHandlers {
  onDelivery(message: ConsumeMessage, lease: ChannelLease): void;
  /** The channel is gone (broker restart, network): its unacknowledged deliveries are void. */
  onLost(lease: ChannelLease, reason: string): void;
  /** Connected again, queues declared and consumed: the `attempt`-th reconnection. */
  onReconnected(): void;
}

export interface FeedOptions extends QueueOptions {
  prefetch: number;
  /** How long to keep trying before the first connection fails the command. */
  initialAttempts?: number;
}

/**
 * Consumes the plan's queues from RabbitMQ on one channel, reconnecting (amqplib's recovery,
 * backing off to 10 s) and declaring and consuming again after every reconnection.
 */
export class AmqpFeed {
  private model?: RecoveringChannelModel;
  private current?: { channel: Channel; lease: ChannelLease; tags: string[] };
  private connectedOnce = false;
  private stopping = false;

  constructor(
    private readonly url: string,
    private readonly plan: QueuePlan[],
    private readonly options: FeedOptions,
    private readonly handlers: FeedHandlers,
    private readonly log: Logger,
  ) {}

  /** Connects, declares and starts consuming; fails with one explained error when it cannot. */
  async start(): Promise<void> {
    const attempts = this.options.initialAttempts ?? 3;
    try {
      this.model = await amqp.connect(this.url, {
        recovery: {
          initialMaxRetries: attempts - 1,
          initialDelay: 500,
          maxDelay: 10000,
          setup: (model: ChannelModel) => this.consumeOn(model),
        },
      });
    } catch (error) {
      throw new Error(explainAmqpError(error, amqpTarget(this.url)), { cause: error });
    }
    this.model.on('reconnect-scheduled', ({ attempt, delay, error }) =>
      this.log.warn({ attempt, delay_ms: delay, error: error.message }, 'RabbitMQ: reconnecting'),
    );
    this.model.on('error', (error: Error) =>
      this.log.warn({ error: error.message }, 'RabbitMQ connection error'),
    );
  }

  /** Stops deliveries (those already sent to the bridge stay acknowledgeable). */
  async cancel(): Promise<void> {
    this.stopping = true;
    const current = this.current;
    if (!current?.lease.alive) return;
    for (const tag of current.tags) await current.channel.cancel(tag).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.stopping = true;
    this.current?.lease.lose();
    await this.model?.close();
  }

  /** amqplib's setup step: runs on every new connection before it counts as connected. */
  private async consumeOn(model: ChannelModel): Promise<void> {
    await declareQueues(model, this.plan, this.options, this.log);
    const channel = await model.createChannel();
    // global: one limit for the channel, over every queue's consumer (RabbitMQ's meaning).
    await channel.prefetch(this.options.prefetch, true);
    const lease = new ChannelLease(channel);
    // A channel can close alone (a queue deleted, a consumer timeout): closing the connection
    // then hands the recovery to amqplib, which reconnects and runs this setup again.
    channel.on('close', () => this.channelClosed(model, lease, 'the channel closed'));
    channel.on('error', (error: Error) => this.log.warn({ error: error.message }, 'RabbitMQ channel error'));
    model.on('close', () => this.channelClosed(model, lease, 'the connection closed'));
    const tags: string[] = [];
    this.current = { channel, lease, tags };
    for (const queue of this.plan) {
      const { consumerTag } = await channel.consume(queue.name, (message) =>
        message ? this.handlers.onDelivery(message, lease) : this.cancelled(model, lease, queue.name),
      );
      tags.push(consumerTag);
    }
    if (this.connectedOnce) this.handlers.onReconnected();
    this.connectedOnce = true;
  }

  private channelClosed(model: ChannelModel, lease: ChannelLease, reason: string): void {
    if (!lease.alive) return;
    lease.lose();
    this.handlers.onLost(lease, reason);
    if (!this.stopping) void model.close().catch(() => undefined);
  }

  /** The broker cancelled a consumer (its queue was deleted): start over on a new connection. */
  private cancelled(model: ChannelModel, lease: ChannelLease, queue: string): void {
    if (this.stopping) return;
    this.log.warn({ queue }, 'RabbitMQ cancelled the consumer of a queue (deleted?): reconnecting');
    this.channelClosed(model, lease, `the consumer of ${queue} was cancelled`);
  }
}
