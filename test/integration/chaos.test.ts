import { chaos } from '../../bench/chaos';
import { requireBuild } from '../support/processes';

/**
 * The chaos harness's short run (bench/chaos.ts; `npm run chaos` is the full one): 20,000
 * generated notifications through 2 distillers, 2 matchers and 2 workers as processes,
 * three of them SIGKILLed and restarted along the way, reconciled against simulate.
 * The broker and Redis restarts are left to the full run, which owns the machine. The same
 * harness on a Redis Cluster, with a reshard and a master failover, is chaos-cluster.test.ts.
 */
test('short chaos run: nothing lost, nothing doubled across three SIGKILLs', async () => {
  requireBuild();
  const ok = await chaos({
    notifications: 20_000,
    kills: 3,
    seed: '11',
    sessionTimeoutMs: 6000,
    restartRedis: false,
    restartKafka: false,
    settleTimeoutMs: 180_000,
  });
  expect(ok).toBe(true);
}, 420_000);
