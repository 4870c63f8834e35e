import { execFileSync } from 'node:child_process';
import { readStackEnvFile } from '../../src/config/stack-env';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '..', '..');

/** Runs scripts/stack.sh and returns its stdout. */
export function stackScript(action: 'start' | 'stop' | 'status'): string {
  return execFileSync('bash', [join(repoRoot, 'scripts', 'stack.sh'), action], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The services of the local stack, each with its own scripts/<service>.sh. */
export const STACK_SERVICES = [
  'kafka',
  'redis',
  'postgres',
  'zookeeper',
  'schema-registry',
  'rabbitmq',
] as const;
export type StackService = (typeof STACK_SERVICES)[number];

/**
 * What the tests may start beside the stack: the services of `stack.sh start`, and the Redis
 * Cluster (scripts/redis-cluster.sh) for the suites that run on both kinds of Redis.
 */
export type TestService = StackService | 'redis-cluster';

/** Runs scripts/<service>.sh for one service of the stack and returns its stdout, trimmed. */
export function serviceScript(service: TestService, action: 'start' | 'stop' | 'kill' | 'status'): string {
  return execFileSync('bash', [join(repoRoot, 'scripts', `${service}.sh`), action], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export function serviceRunning(service: TestService): boolean {
  try {
    serviceScript(service, 'status');
    return true;
  } catch {
    return false;
  }
}

/** What the local stack last wrote to .stack/env: KAFKA_BROKERS, REDIS_URL, … SCHEMA_REGISTRY_URL. */
export function readStackEnv(): Record<string, string> {
  return readStackEnvFile(join(process.env.WINCHESTER_STACK_DIR ?? join(repoRoot, '.stack'), 'env'));
}

/** The stack's ZooKeeper (ZOOKEEPER_CONNECT, which globalSetup fills in from .stack/env). */
export function zookeeperConnect(): string {
  const connect = process.env.ZOOKEEPER_CONNECT;
  if (!connect) {
    throw new Error(
      'ZOOKEEPER_CONNECT is not set and .stack/env names none: run `bash scripts/stack.sh start`',
    );
  }
  return connect;
}

/**
 * The Redis Cluster of the suites that also run on a cluster: REDIS_CLUSTER_URL, which
 * globalSetup sets unless it was given empty (then undefined: those variants are skipped).
 */
export function redisClusterUrl(): string | undefined {
  return process.env.REDIS_CLUSTER_URL || undefined;
}

/** The schema registry the integration tests use (SCHEMA_REGISTRY_URL, which globalSetup always sets). */
export function schemaRegistryUrl(): string {
  const url = process.env.SCHEMA_REGISTRY_URL;
  if (!url) throw new Error('SCHEMA_REGISTRY_URL is not set: the integration tests run under globalSetup');
  return url;
}

/** The RabbitMQ the integration tests use (AMQP_URL, which globalSetup always sets). */
export function amqpUrl(): string {
  const url = process.env.AMQP_URL;
  if (!url) throw new Error('AMQP_URL is not set: the integration tests run under globalSetup');
  return url;
}
