/**
 * bench:latency's stage figures: the roles' expositions summed into one snapshot, and
 * percentiles read off the difference of two snapshots' buckets.
 */
import {
  addExposition,
  bucketQuantile,
  stageFigures,
  StageSnapshot,
} from '../../../bench/support/stage-latency';

/** An exposition with `counts` as the cumulative buckets of `stage` (bounds 0.01, 0.1, 1, +Inf). */
function exposition(stage: string, counts: [number, number, number, number], role = 'matcher'): string {
  const bounds = ['0.01', '0.1', '1', '+Inf'];
  return [
    '# TYPE winchester_stage_latency_seconds histogram',
    ...bounds.map(
      (le, i) =>
        `winchester_stage_latency_seconds_bucket{le="${le}",stage="${stage}",role="${role}"} ${counts[i]}`,
    ),
    `winchester_stage_latency_seconds_count{stage="${stage}",role="${role}"} ${counts[3]}`,
  ].join('\n');
}

describe('stage snapshots', () => {
  test("sums processes' buckets per stage, and the worker's pipelines as stage worker", () => {
    const snapshot: StageSnapshot = new Map();
    addExposition(snapshot, exposition('emit', [1, 2, 3, 3]));
    addExposition(snapshot, exposition('emit', [0, 1, 1, 1], 'all'));
    addExposition(
      snapshot,
      [
        'winchester_pipeline_duration_seconds_bucket{le="0.1",pipeline="a",role="worker"} 4',
        'winchester_pipeline_duration_seconds_bucket{le="+Inf",pipeline="a",role="worker"} 5',
        'winchester_pipeline_duration_seconds_bucket{le="0.1",pipeline="b",role="worker"} 1',
        'winchester_pipeline_duration_seconds_bucket{le="+Inf",pipeline="b",role="worker"} 1',
      ].join('\n'),
    );
    expect(snapshot.get('emit')).toEqual(
      new Map([
        [0.01, 1],
        [0.1, 3],
        [1, 4],
        [Infinity, 4],
      ]),
    );
    expect(snapshot.get('worker')).toEqual(
      new Map([
        [0.1, 5],
        [Infinity, 6],
      ]),
    );
  });

  test('quantiles interpolate within the bucket of the samples between two snapshots', () => {
    const before = addExposition(new Map(), exposition('emit', [10, 10, 10, 10]));
    // 100 new samples: 50 in (0.01, 0.1], 50 in (0.1, 1].
    const after = addExposition(new Map(), exposition('emit', [10, 60, 110, 110]));
    expect(bucketQuantile(before.get('emit'), after.get('emit')!, 0.5)).toBeCloseTo(0.1);
    expect(bucketQuantile(before.get('emit'), after.get('emit')!, 0.99)).toBeCloseTo(0.1 + 0.9 * (49 / 50));
    expect(stageFigures(before, after).emit).toEqual({ count: 100, p50_ms: 100, p99_ms: 982 });
  });

  test('a quantile in +Inf is the highest finite bound; no new samples give none', () => {
    const slow = addExposition(new Map(), exposition('timer_wait', [0, 0, 1, 10]));
    expect(bucketQuantile(undefined, slow.get('timer_wait')!, 0.99)).toBe(1);
    expect(bucketQuantile(slow.get('timer_wait'), slow.get('timer_wait')!, 0.5)).toBeNaN();
    expect(stageFigures(slow, slow).timer_wait).toEqual({ count: 0, p50_ms: null, p99_ms: null });
  });
});
