import { Kafka } from 'kafkajs';
import { amqpUrlProblem } from '../amqp/errors';
import { deleteQueue, publishNotifications } from '../amqp/publish';
import { BridgeRole, startBridge } from '../bridge/bridge-role';
import { BridgeSettings } from '../config/bridge-settings';
import { TopologySettings } from '../config/topology-settings';
import { WinchesterMetrics } from '../metrics/metrics';
import { CommandFailure } from './errors';

/** How `winchester dev` feeds the topology: straight into Kafka, or through RabbitMQ and the bridge. */
export interface DevFeed {
  /** Sends the lines; `onProgress` gets the count sent so far. */
  send(lines: string[], onProgress: (sent: number) => void): Promise<void>;
  /** Present for the RabbitMQ feed: how many lines the bridge has put into Kafka. */
  bridged?: () => number;
  stop(): Promise<void>;
}

/**
 * `dev --with-rabbitmq`: the lines are published as oslo.messaging publishes them (to the
 * `openstack` exchange, `notifications.<priority>`), and the bridge moves them into the input
 * topic. The bridge consumes through a pool queue named after the run, deleted at the end, so
 * a run never takes another's messages.
 */
export async function rabbitmqFeed(
  kafka: Kafka,
  settings: TopologySettings,
  bridgeSettings: BridgeSettings,
  metrics: WinchesterMetrics,
): Promise<DevFeed> {
  const url = process.env.AMQP_URL;
  const problem = amqpUrlProblem(url);
  if (problem)
    throw new CommandFailure(`--with-rabbitmq: ${problem} (bash scripts/stack.sh start gives one)`);
  const layout = { ...bridgeSettings, pool: settings.namespace, outputTopic: undefined };
  const bridge: BridgeRole = await startBridge(kafka, url!, settings, layout, { metrics }).catch(
    (error: unknown) => {
      throw new CommandFailure((error as Error).message);
    },
  );
  const target = { exchange: 'openstack', topic: layout.topics[0], durable: layout.durable };
  return {
    send: (lines, onProgress) => publishNotifications(url!, target, lines, onProgress),
    bridged: () => bridge.counters.produced + bridge.counters.deadLettered,
    stop: async () => {
      await bridge.stop();
      await deleteQueue(url!, settings.namespace);
    },
  };
}
