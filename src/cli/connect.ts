import { Kafka } from 'kafkajs';
import { RedisOptions } from 'ioredis';
import { connectionSettings, ConnectionSettings, redisUrlFrom } from '../config/environment';
import {
  createKafka,
  describeConnection,
  KafkaClientOptions,
  KafkaConnection,
  probeKafka,
} from '../kafka/client';
import { registerCompressionCodecs } from '../kafka/codecs';
import { createRedisClient, diagnoseRedis, RedisClient, redisTarget } from '../redis/client';
import { defaultTopologySettings, TopologySettings } from '../config/topology-settings';
import { KafkaSectionSettings } from '../config/winchester-config';
import { CommandFailure, EXIT_FAILURE } from './errors';

export interface Connected {
  connection: ConnectionSettings;
  kafka: Kafka;
  settings: TopologySettings;
}

const LOCAL_STACK_HINT = '(bash scripts/stack.sh start runs a local one and prints its address)';

/**
 * Fails with one line when no broker of KAFKA_BROKERS answers, or when it refuses the TLS
 * handshake or the credentials. The line names the brokers, protocol and principal, never a password.
 */
export async function requireKafka(connection: KafkaConnection): Promise<void> {
  const problem = await probeKafka(connection);
  if (!problem) return;
  const brokers = connection.kafkaBrokers.join(',');
  const how = describeConnection(connection);
  if (problem.kind === 'authentication') {
    throw new CommandFailure(
      `Kafka at ${brokers} refused the credentials (${how}): ${problem.message}; check KAFKA_SASL_USERNAME and its password`,
    );
  }
  if (problem.kind === 'tls') {
    throw new CommandFailure(
      `cannot reach Kafka at ${brokers} over TLS (${how}): ${problem.message}; check KAFKA_SECURITY_PROTOCOL, ` +
        'KAFKA_SSL_CA_FILE and, for mutual TLS, KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE',
    );
  }
  throw new CommandFailure(
    `cannot reach Kafka at ${brokers} (${problem.message}): is it running, and are KAFKA_BROKERS and ` +
      `KAFKA_SECURITY_PROTOCOL (${connection.kafkaSecurity.protocol}) right? ${LOCAL_STACK_HINT}`,
  );
}

/**
 * Fails with one line when REDIS_URL does not answer as it should: unreachable, or a server
 * that refuses the login or the TLS handshake, or is not the kind (one Redis, a cluster) the
 * URL says. The line names host and port, never the password.
 */
export async function requireRedis(url: string): Promise<void> {
  redisUrlFrom({ REDIS_URL: url });
  const problem = await diagnoseRedis(url);
  if (!problem) return;
  if (problem.reachable) throw new CommandFailure(`Redis at ${redisTarget(url)}: ${problem.message}`);
  throw new CommandFailure(
    `cannot reach Redis at ${redisTarget(url)} (${problem.message}): is it running, and is REDIS_URL right? ${LOCAL_STACK_HINT}`,
  );
}

/** A Redis client (one Redis or a cluster) for a command, after checking that Redis answers. */
export async function connectRedis(url: string, options: RedisOptions = {}): Promise<RedisClient> {
  await requireRedis(url);
  return createRedisClient(url, options);
}

/**
 * A consumer an ACL stopped while the command ran (READ taken away, or refused at the first
 * fetch) leaves a role that can do nothing: end the process with one line and exit code 1, so
 * its supervisor or operator sees it, rather than run on idle. stderr is synchronous here (a
 * file, a terminal or a pipe on Linux), so the line is out before the exit.
 */
const endOnRefusal: KafkaClientOptions['onConsumerRefused'] = (error) => {
  process.stderr.write(`winchester: ${error.message}\n`);
  process.exit(EXIT_FAILURE);
};

/**
 * Connection settings from the environment (Kafka security over winchester.yaml's
 * kafka.security), kafkajs with every codec, topology defaults; Kafka is checked first, so an
 * unreachable broker is one line, not a minute of retries.
 */
export async function connect(overrides: Partial<KafkaSectionSettings> = {}): Promise<Connected> {
  const { security, ...topology } = overrides;
  const connection = connectionSettings(process.env, security);
  await registerCompressionCodecs();
  await requireKafka(connection);
  const kafka = createKafka(connection, connection.clientId, { onConsumerRefused: endOnRefusal });
  const namespace = topology.namespace ?? process.env.WINCHESTER_NAMESPACE ?? 'winchester';
  return { connection, kafka, settings: defaultTopologySettings({ ...topology, namespace }) };
}
