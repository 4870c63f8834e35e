import { WinchesterMetrics } from '../../../src/metrics/metrics';
import {
  PartitionCounters,
  PartitionOutcomes,
  recordPartitionOutcomes,
} from '../../../src/topology/partition-outcomes';
import { RoleEvents } from '../../../src/topology/role-events';
import { logger } from '../../../src/util/logger';

/**
 * A lost compare-and-set race in the matcher's Redis writes (two writers of one stream) is
 * counted by trigger. The race itself is provoked on a real Redis in redis-store.test.ts; here,
 * that its report reaches the counter and winchester_lock_retries_total.
 */
test('a lock retry is counted by trigger in the counters and the metric', async () => {
  const events = new RoleEvents<PartitionOutcomes>();
  const counters: PartitionCounters = {
    dlq: new Map(),
    lockRetries: new Map(),
    streamsTooLarge: 0,
    reemitted: 0,
  };
  const metrics = new WinchesterMetrics('matcher');
  recordPartitionOutcomes(events, { counters, metrics, log: logger.child({}, { level: 'silent' }) });
  events.emit('lockRetry', { trigger: 'usage' });
  events.emit('lockRetry', { trigger: 'usage' });
  events.emit('lockRetry', { trigger: 'audit' });
  expect(counters.lockRetries).toEqual(
    new Map([
      ['usage', 2],
      ['audit', 1],
    ]),
  );
  const samples = (await metrics.lockRetries.get()).values.map((v) => [v.labels.trigger, v.value]);
  expect(samples).toEqual([
    ['usage', 2],
    ['audit', 1],
  ]);
});
