import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { connectionSettings, ConnectionSettings } from '../../src/config/environment';
import { createRedisClient, RedisClient } from '../../src/redis/client';
import { redisClusterUrl } from './stack';

/**
 * A per-test-file namespace: topic names and Redis keys of one test file never collide
 * with another's, nor with an earlier run's on a reused broker.
 */
export interface TestNamespace {
  prefix: string;
  settings: ConnectionSettings;
  topic(name: string): string;
  /** A Redis connection whose keys are all under this namespace's prefix. */
  redis(): RedisClient;
}

/** A namespace on the stack's services; `redisUrl` (one of redisTargets()) replaces REDIS_URL. */
export function testNamespace(redisUrl?: string): TestNamespace {
  const file = basename(expect.getState().testPath ?? 'test', '.test.ts').replace(/[^A-Za-z0-9]/g, '-');
  const prefix = `t.${file}.${randomBytes(3).toString('hex')}`;
  const settings = { ...connectionSettings(), ...(redisUrl ? { redisUrl } : {}) };
  return {
    prefix,
    settings,
    topic: (name) => `${prefix}.${name}`,
    redis: () => createRedisClient(settings.redisUrl, { keyPrefix: `${prefix}:`, maxRetriesPerRequest: 3 }),
  };
}

/** A Redis deployment a suite runs on: a name for the test titles, and its REDIS_URL. */
export interface RedisTarget {
  name: string;
  url: string;
}

/**
 * The Redis deployments the suites that must hold on both run on: the stack's one Redis, and
 * the Redis Cluster of globalSetup (REDIS_CLUSTER_URL; none when it was given empty).
 */
export function redisTargets(): RedisTarget[] {
  const targets = [{ name: 'one Redis', url: connectionSettings().redisUrl }];
  const cluster = redisClusterUrl();
  if (cluster) targets.push({ name: 'a Redis Cluster', url: cluster });
  return targets;
}
