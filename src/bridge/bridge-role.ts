import type { ConsumeMessage } from 'amqplib';
import { Kafka, Producer } from 'kafkajs';
import { AmqpFeed, ChannelLease } from '../amqp/feed';
import { TopologySettings } from '../config/topology-settings';
import { WinchesterMetrics } from '../metrics/metrics';
import { createProducer } from '../topology/role-runner';
import { Logger, roleLogger } from '../util/logger';
import { DeliveryBatcher } from './batcher';
import { BridgeForwarder, ForwardResult, Pending, pendingDelivery } from './forward';
import { BridgeSettings, queuePlan } from '../config/bridge-settings';

export interface BridgeCounters {
  received: number;
  produced: number;
  deadLettered: number;
  redelivered: number;
  /** Reconnections to RabbitMQ. */
  reconnects: number;
  /** Kafka sends that failed and were tried again. */
  kafkaRetries: number;
}

export interface BridgeOptions {
  metrics?: WinchesterMetrics;
  /** How long `stop` keeps trying to deliver what it holds before leaving it to RabbitMQ. */
  stopTimeoutMs?: number;
}

/** RabbitMQ → the topology's input topic: see `BridgeRole`. */
export async function startBridge(
  kafka: Kafka,
  amqpUrl: string,
  settings: TopologySettings,
  bridge: BridgeSettings,
  options: BridgeOptions = {},
): Promise<BridgeRole> {
  const producer = createProducer(kafka);
  await producer.connect();
  const role = new BridgeRole(producer, amqpUrl, settings, bridge, options);
  try {
    await role.start();
  } catch (error) {
    await producer.disconnect();
    throw error;
  }
  return role;
}

/**
 * The bridge as its stages: the feed receives deliveries from RabbitMQ (at most `prefetch`
 * unacknowledged), the batcher groups them, the forwarder produces each batch to Kafka and
 * only then are its deliveries acknowledged to RabbitMQ. At least once: a delivery the bridge
 * loses (its channel closes first) comes back from RabbitMQ, and the distiller and matcher
 * ignore a message id they have seen.
 */
export class BridgeRole {
  readonly counters: BridgeCounters = {
    received: 0,
    produced: 0,
    deadLettered: 0,
    redelivered: 0,
    reconnects: 0,
    kafkaRetries: 0,
  };
  readonly outputTopic: string;
  private readonly maxRecordBytes: number;
  private readonly log: Logger = roleLogger('bridge');
  private readonly feed: AmqpFeed;
  private readonly batcher: DeliveryBatcher<Pending>;
  private readonly forwarder: BridgeForwarder;
  private draining?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly producer: Producer,
    amqpUrl: string,
    settings: TopologySettings,
    private readonly bridge: BridgeSettings,
    private readonly options: BridgeOptions = {},
  ) {
    this.outputTopic = bridge.outputTopic ?? settings.inputTopics[0];
    this.maxRecordBytes = settings.maxRecordBytes;
    this.batcher = new DeliveryBatcher<Pending>(
      bridge,
      (p) => p.message.content.length,
      () => void this.drain(),
    );
    this.forwarder = new BridgeForwarder(producer, {
      outputTopic: this.outputTopic,
      dlqTopic: settings.topics.notificationsDlq,
      maxRecordBytes: settings.maxRecordBytes,
      log: this.log,
      onRetry: () => this.kafkaRetried(),
    });
    this.feed = new AmqpFeed(
      amqpUrl,
      queuePlan(bridge),
      { durable: bridge.durable, quorum: bridge.quorum, prefetch: bridge.prefetch },
      {
        onDelivery: (message, lease) => this.received(message, lease),
        onLost: (lease, reason) => this.lost(lease, reason),
        onReconnected: () => this.reconnected(),
      },
      this.log,
    );
    this.zeroMetrics();
  }

  async start(): Promise<this> {
    await this.feed.start();
    const queues = queuePlan(this.bridge).map((q) => q.name);
    this.log.info({ queues, topic: this.outputTopic }, 'bridge consuming');
    return this;
  }

  /**
   * Stops consuming, delivers and acknowledges what it holds (for up to stopTimeoutMs; what is
   * left then goes back to the queue when the connection closes), then disconnects.
   */
  readonly stop = async (): Promise<void> => {
    if (this.stopped) return;
    this.stopped = true;
    await this.feed.cancel();
    const deadline = Date.now() + (this.options.stopTimeoutMs ?? 30000);
    this.forwarder.giveUpAt(deadline);
    while (this.batcher.size > 0 && Date.now() < deadline) await this.drain();
    await this.draining;
    await this.feed.close();
    await this.producer.disconnect();
    this.options.metrics?.bridgeUnacked.set(0);
  };

  private received(message: ConsumeMessage, lease: ChannelLease): void {
    this.counters.received++;
    if (message.fields.redelivered) {
      this.counters.redelivered++;
      this.options.metrics?.bridgeRedelivered.inc();
    }
    this.options.metrics?.bridgeBytes.inc(message.content.length);
    const limits = { maxRecordBytes: this.maxRecordBytes, jsonCheck: this.bridge.jsonCheck };
    this.batcher.add(pendingDelivery(message, lease, limits));
    this.options.metrics?.bridgeUnacked.set(this.batcher.size + this.forwarder.inFlight);
  }

  /** Deliveries of a lost channel are RabbitMQ's again: forget them. */
  private lost(lease: ChannelLease, reason: string): void {
    const dropped = this.batcher.dropLease(lease);
    if (!this.stopped)
      this.log.warn(
        { reason, dropped },
        'RabbitMQ channel lost: its unacknowledged messages return to the queue',
      );
    this.options.metrics?.bridgeUnacked.set(this.batcher.size);
  }

  private reconnected(): void {
    this.counters.reconnects++;
    this.options.metrics?.bridgeReconnects.inc({ side: 'rabbitmq' });
    this.log.info({ reconnects: this.counters.reconnects }, 'RabbitMQ: reconnected and consuming again');
  }

  private kafkaRetried(): void {
    this.counters.kafkaRetries++;
    this.options.metrics?.bridgeReconnects.inc({ side: 'kafka' });
  }

  /** Sends batches one at a time until the batcher is empty; one drain runs at once. */
  private drain(): Promise<void> {
    if (this.draining) return this.draining;
    // Nothing to send: an async body would end (and clear `draining`) before being stored in it.
    if (this.batcher.size === 0) return Promise.resolve();
    this.draining = (async () => {
      try {
        for (let batch = this.batcher.take(); batch.length; batch = this.batcher.take()) {
          await this.forwardAndAck(batch);
        }
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining;
  }

  private async forwardAndAck(batch: Pending[]): Promise<void> {
    const result = await this.forwarder.forward(batch);
    if (result.delivered) this.acknowledge(batch, result);
    this.options.metrics?.bridgeUnacked.set(this.batcher.size);
  }

  /** One ack for the batch: deliveries come in tag order, so the last one covers the rest. */
  private acknowledge(batch: Pending[], result: ForwardResult): void {
    const last = batch[batch.length - 1];
    if (!last.lease.ackUpTo(last.message)) return;
    this.counters.produced += result.produced;
    this.counters.deadLettered += result.deadLettered;
    this.options.metrics?.bridgeMessages.inc({ outcome: 'produced' }, result.produced);
    this.options.metrics?.bridgeMessages.inc({ outcome: 'dead_lettered' }, result.deadLettered);
    for (const [reason, count] of result.dlqReasons)
      this.options.metrics?.dlqRecords.inc({ topic: this.forwarder.dlqTopic, reason }, count);
  }

  private zeroMetrics(): void {
    const metrics = this.options.metrics;
    if (!metrics) return;
    for (const outcome of ['produced', 'dead_lettered']) metrics.bridgeMessages.inc({ outcome }, 0);
    for (const side of ['rabbitmq', 'kafka']) metrics.bridgeReconnects.inc({ side }, 0);
  }
}
