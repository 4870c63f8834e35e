import { Kafka } from 'kafkajs';
import { defaultTopologySettings } from '../../src/config/topology-settings';
import { deleteNamespace, planNamespaceDeletion } from '../../src/ops/namespace';
import { createRedisClient } from '../../src/redis/client';

/**
 * Deletes what a benchmark's runs left on the shared broker and Redis (as `winchester namespace
 * delete --yes --force` does): their topics, consumer groups and Redis keys, so that repeated
 * runs do not fill the local stack. Its roles must have stopped.
 */
export async function dropNamespaces(kafka: Kafka, redisUrl: string, namespaces: string[]): Promise<void> {
  const redis = createRedisClient(redisUrl);
  try {
    for (const namespace of namespaces) {
      const plan = await planNamespaceDeletion(kafka, redis, defaultTopologySettings({ namespace }));
      await deleteNamespace(kafka, redis, plan, { force: true });
    }
  } finally {
    redis.disconnect();
  }
}
