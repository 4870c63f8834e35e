import { Kafka } from 'kafkajs';
import Redis, { RedisOptions } from 'ioredis';
import { connectionSettings, ConnectionSettings, redisUrlFrom } from '../config/environment';
import { createKafka, probeKafka } from '../kafka/client';
import { registerCompressionCodecs } from '../kafka/codecs';
import { createRedisClient, probeRedis, redisTarget } from '../redis/client';
import { defaultTopologySettings, TopologySettings } from '../config/topology-settings';
import { CommandFailure } from './errors';

export interface Connected {
  connection: ConnectionSettings;
  kafka: Kafka;
  settings: TopologySettings;
}

const LOCAL_STACK_HINT = '(bash scripts/stack.sh start runs a local one and prints its address)';

/** Fails with one line when no broker of KAFKA_BROKERS answers. */
export async function requireKafka(brokers: string[]): Promise<void> {
  const problem = await probeKafka(brokers);
  if (problem) {
    throw new CommandFailure(
      `cannot reach Kafka at ${brokers.join(',')} (${problem}): is it running, and is KAFKA_BROKERS right? ${LOCAL_STACK_HINT}`,
    );
  }
}

/** Fails with one line when REDIS_URL does not answer a PING. */
export async function requireRedis(url: string): Promise<void> {
  redisUrlFrom({ REDIS_URL: url });
  const problem = await probeRedis(url);
  if (problem) {
    throw new CommandFailure(
      `cannot reach Redis at ${redisTarget(url)} (${problem}): is it running, and is REDIS_URL right? ${LOCAL_STACK_HINT}`,
    );
  }
}

/** A Redis client for a command, after checking that Redis answers. */
export async function connectRedis(url: string, options: RedisOptions = {}): Promise<Redis> {
  await requireRedis(url);
  return createRedisClient(url, options);
}

/**
 * Connection settings from the environment, kafkajs with every codec, topology defaults;
 * Kafka is checked first, so an unreachable broker is one line, not a minute of retries.
 */
export async function connect(overrides: Partial<TopologySettings> = {}): Promise<Connected> {
  const connection = connectionSettings();
  await registerCompressionCodecs();
  await requireKafka(connection.kafkaBrokers);
  const kafka = createKafka(connection.kafkaBrokers, connection.clientId);
  const namespace = overrides.namespace ?? process.env.WINCHESTER_NAMESPACE ?? 'winchester';
  return { connection, kafka, settings: defaultTopologySettings({ ...overrides, namespace }) };
}
