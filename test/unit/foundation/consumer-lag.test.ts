import { ConsumerLagTracker } from '../../../src/metrics/consumer-lag';
import { WinchesterMetrics } from '../../../src/metrics/metrics';

/** winchester_consumer_lag as {"topic/partition": value}. */
async function lagSeries(metrics: WinchesterMetrics): Promise<Record<string, number>> {
  const family = (await metrics.registry.getMetricsAsJSON()).find(
    (m) => m.name === 'winchester_consumer_lag',
  );
  return Object.fromEntries(
    (family?.values ?? []).map((v) => [`${v.labels.topic}/${v.labels.partition}`, v.value]),
  );
}

describe('consumer lag bookkeeping', () => {
  it('is the high watermark minus the next offset to process, per owned partition', async () => {
    const metrics = new WinchesterMetrics('worker');
    const lag = new ConsumerLagTracker(metrics.consumerLag);
    lag.assign({ streams: [0, 1] });
    // A fetched batch of offsets 10..19 on a partition whose end is 25.
    lag.observeEnd('streams', 0, 25n);
    lag.observePosition('streams', 0, 10n);
    expect(await lagSeries(metrics)).toEqual({ 'streams/0': 15 });
    lag.observePosition('streams', 0, 20n); // resolved offset 19
    expect(lag.lag('streams', 0)).toBe(5);
    // An admin answer older than what the batches showed changes nothing.
    lag.applyOffsets('streams', [{ partition: 0, high: '24', low: '0' }], [{ partition: 0, offset: '12' }]);
    expect(lag.lag('streams', 0)).toBe(5);
    // An idle partition reads from the admin fetch; no commit yet means from its low watermark.
    lag.applyOffsets(
      'streams',
      [
        { partition: 0, high: '30', low: '0' },
        { partition: 1, high: '7', low: '3' },
        { partition: 2, high: '9', low: '0' },
      ],
      [{ partition: 1, offset: '-1' }],
    );
    expect(await lagSeries(metrics)).toEqual({ 'streams/0': 10, 'streams/1': 4 });
  });

  it('never reads negative, and ignores partitions it does not own', () => {
    const metrics = new WinchesterMetrics('worker');
    const lag = new ConsumerLagTracker(metrics.consumerLag);
    lag.assign({ events: [0] });
    lag.observeEnd('events', 0, 5n);
    lag.observePosition('events', 0, 9n);
    expect(lag.lag('events', 0)).toBe(0);
    lag.observeEnd('events', 1, 5n);
    expect(lag.lag('events', 1)).toBeUndefined();
  });

  it('drops the series of revoked partitions in a rebalance and restarts kept ones from the commit', async () => {
    const metrics = new WinchesterMetrics('matcher');
    const lag = new ConsumerLagTracker(metrics.consumerLag);
    lag.assign({ events: [0, 1], repartition: [2] });
    for (const [topic, partition] of [
      ['events', 0],
      ['events', 1],
      ['repartition', 2],
    ] as const) {
      lag.observeEnd(topic, partition, 10n);
      lag.observePosition(topic, partition, 8n);
    }
    expect(Object.keys(await lagSeries(metrics)).sort()).toEqual(['events/0', 'events/1', 'repartition/2']);
    lag.assign({ events: [1], repartition: [0] });
    expect(await lagSeries(metrics)).toEqual({ 'events/1': 2 });
    // Kept partition 1 resumes from its committed offset, which may be behind what was resolved.
    lag.applyOffsets('events', [{ partition: 1, high: '10', low: '0' }], [{ partition: 1, offset: '6' }]);
    expect(lag.lag('events', 1)).toBe(4);
    expect(lag.assignedTopics().sort()).toEqual(['events', 'repartition']);
    lag.clear();
    expect(await lagSeries(metrics)).toEqual({});
  });
});
