import { chaos } from '../../bench/chaos';
import { requireBuild } from '../support/processes';
import { redisClusterUrl } from '../support/stack';

const clusterUrl = redisClusterUrl();

/**
 * The chaos harness's short run with the stream state on the local Redis Cluster
 * (REDIS_CLUSTER_URL, scripts/redis-cluster.sh): 20,000 generated notifications through
 * 2 distillers, 2 matchers and 2 workers as processes, three of them SIGKILLed, and, while the
 * roles run, a live partition's slot migrated to another master (`redis-cli --cluster reshard`)
 * and a live partition's master killed so its replica takes over (the node then rejoins as a
 * replica). The accounting against simulate must balance: nothing lost, nothing doubled.
 */
(clusterUrl ? test : test.skip)(
  'short chaos run on a Redis Cluster: nothing lost across a reshard, a master failover and SIGKILLs',
  async () => {
    requireBuild();
    const ok = await chaos({
      notifications: 20_000,
      kills: 3,
      seed: '3',
      sessionTimeoutMs: 6000,
      restartRedis: true,
      restartKafka: false,
      settleTimeoutMs: 180_000,
      redisUrl: clusterUrl,
    });
    expect(ok).toBe(true);
  },
  420_000,
);
