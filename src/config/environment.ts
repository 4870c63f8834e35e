import { ConfigurationError } from './errors';
/** Connection settings shared by every role, taken from the environment (see README). */
export interface ConnectionSettings {
  kafkaBrokers: string[];
  redisUrl: string;
  schemaRegistryUrl?: string;
  clientId: string;
}

/** REDIS_URL, for a command that uses Redis: set, and a redis:// or rediss:// URL. */
export function redisUrlFrom(env: NodeJS.ProcessEnv = process.env): string {
  const redisUrl = env.REDIS_URL ?? '';
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigurationError(
      `REDIS_URL ${redisUrl ? `"${redisUrl}" is not a redis:// or rediss:// URL` : 'is not set'}` +
        ' (scripts/stack.sh start prints one for the local Redis)',
    );
  }
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

export function connectionSettings(env: NodeJS.ProcessEnv = process.env): ConnectionSettings {
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
    redisUrl,
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL || undefined,
    clientId: env.WINCHESTER_CLIENT_ID || 'winchester',
  };
}
