import { ConfigurationError } from './errors';
import { parseRedisUrl } from '../redis/connection-options';
import {
  KafkaSecurity,
  KafkaSecurityInput,
  mergeSecurityInputs,
  resolveKafkaSecurity,
  securityInputFromEnv,
} from '../kafka/security';
/** Connection settings shared by every role, taken from the environment (see README). */
export interface ConnectionSettings {
  kafkaBrokers: string[];
  /** KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_* over winchester.yaml's kafka.security, files read. */
  kafkaSecurity: KafkaSecurity;
  redisUrl: string;
  schemaRegistryUrl?: string;
  clientId: string;
}

/**
 * REDIS_URL, for a command that uses Redis: set, and a URL of one of the four forms
 * (src/redis/connection-options.ts): redis:// or rediss:// (TLS) for one Redis,
 * redis-cluster://host:port,host:port or rediss-cluster://… for a Redis Cluster. The password
 * belongs in REDIS_PASSWORD_FILE (or REDIS_PASSWORD); certificates in REDIS_TLS_CA_FILE,
 * REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE. A message about the URL (one line: the form is
 * wrong) never shows its password.
 */
export function redisUrlFrom(env: NodeJS.ProcessEnv = process.env): string {
  const redisUrl = env.REDIS_URL ?? '';
  if (!redisUrl) {
    throw new ConfigurationError(
      'REDIS_URL is not set (scripts/stack.sh start prints one for the local Redis)',
    );
  }
  parseRedisUrl(redisUrl);
  return redisUrl;
}

/** EVENT_STORE_URL, for a command that uses the event store: a postgres:// URL. */
export function eventStoreUrlFrom(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.EVENT_STORE_URL ?? '';
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigurationError(
      `EVENT_STORE_URL ${url ? `"${url}" is not a postgres:// URL` : 'is not set'}` +
        ' (scripts/stack.sh start prints one for the local PostgreSQL)',
    );
  }
  return url;
}

/** `securityFromConfig`: winchester.yaml's kafka.security, which the environment overrides setting by setting. */
export function connectionSettings(
  env: NodeJS.ProcessEnv = process.env,
  securityFromConfig?: KafkaSecurityInput,
): ConnectionSettings {
  const brokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  if (brokers.length === 0) {
    throw new ConfigurationError(
      'KAFKA_BROKERS is not set: give a comma-separated list such as 127.0.0.1:9092 ' +
        '(scripts/stack.sh start prints one for the local broker)',
    );
  }
  for (const broker of brokers) {
    if (!/^[A-Za-z0-9._-]+:\d+$/.test(broker)) {
      throw new ConfigurationError(`KAFKA_BROKERS entry "${broker}" is not host:port`);
    }
  }
  // Checked where Redis is used (redisUrlFrom): commands that only need Kafka run without it.
  const redisUrl = env.REDIS_URL ?? '';
  return {
    kafkaBrokers: brokers,
    kafkaSecurity: resolveKafkaSecurity(mergeSecurityInputs(securityInputFromEnv(env), securityFromConfig)),
    redisUrl,
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL || undefined,
    clientId: env.WINCHESTER_CLIENT_ID || 'winchester',
  };
}
