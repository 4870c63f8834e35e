/**
 * Stage latency: samples held by a stage reach its histogram series at a scrape (and when the
 * buffer fills), negative hops count as 0, and the timer stages time what a timer read took.
 */
import { WinchesterMetrics } from '../../../src/metrics/metrics';
import { defaultTopologySettings } from '../../../src/config/topology-settings';
import { StageTimer, TimerTiming } from '../../../src/metrics/stage-latency';

/** A sink that keeps what it is handed. */
function recording(): { seen: number[]; timer: StageTimer } {
  const seen: number[] = [];
  return { seen, timer: new StageTimer({ observe: (s) => seen.push(s) }) };
}

async function series(metrics: WinchesterMetrics, stage: string) {
  const [histogram] = (await metrics.registry.getMetricsAsJSON()).filter(
    (m) => m.name === 'winchester_stage_latency_seconds',
  );
  // prom-client names each value's series (`…_bucket`, `…_sum`, `…_count`); its typings do not say so.
  const values = histogram.values.filter((v) => v.labels.stage === stage) as Array<{
    metricName?: string;
    value: number;
  }>;
  const count = values.find((v) => v.metricName === 'winchester_stage_latency_seconds_count')?.value;
  const sum = values.find((v) => v.metricName === 'winchester_stage_latency_seconds_sum')?.value;
  return { count, sum };
}

describe('StageTimer', () => {
  test('holds samples until flushed, and flushes by itself when its buffer fills', () => {
    const { seen, timer } = recording();
    timer.observe(0.5);
    expect(seen).toEqual([]);
    timer.flush();
    expect(seen).toEqual([0.5]);
    for (let i = 0; i < 1024; i++) timer.observe(0.001);
    expect(seen).toHaveLength(1025);
  });

  test('times a Kafka record timestamp and microseconds; a negative hop (clock skew) counts as 0', () => {
    const { seen, timer } = recording();
    timer.sinceRecord('1700000000000', 1700000000250);
    timer.sinceRecord('1700000000500', 1700000000250);
    timer.sinceMicros(1_700_000_000_000_000, 1_700_000_001_500_000);
    timer.flush();
    expect(seen).toEqual([0.25, 0, 1.5]);
  });
});

describe('winchester_stage_latency_seconds', () => {
  test('a scrape hands over the samples held, under the stage label', async () => {
    const metrics = new WinchesterMetrics('matcher');
    metrics.stages.redis_apply.observe(0.02);
    metrics.stages.redis_apply.observe(0.03);
    metrics.stages.emit.observe(0.1);
    expect(await series(metrics, 'redis_apply')).toEqual({ count: 2, sum: 0.05 });
    expect(await series(metrics, 'emit')).toEqual({ count: 1, sum: 0.1 });
  });

  test("a role's stages have series at 0 from the start, and only its own", async () => {
    const topology = { triggers: [], pipelines: new Map() };
    const topics = { topics: defaultTopologySettings().topics };
    const distiller = new WinchesterMetrics('distiller').initialiseLabels(topology, topics);
    expect(await series(distiller, 'distill')).toEqual({ count: 0, sum: 0 });
    expect((await series(distiller, 'emit')).count).toBeUndefined();
    const matcher = new WinchesterMetrics('matcher').initialiseLabels(topology, topics);
    expect(await series(matcher, 'timer_wait')).toEqual({ count: 0, sum: 0 });
  });
});

describe('TimerTiming', () => {
  function timing(measureWait: boolean) {
    const wait = recording();
    const emit = recording();
    let now = 10_000_000;
    const subject = new TimerTiming({ timer_wait: wait.timer, emit: emit.timer }, measureWait, () => now);
    const advance = (micros: number) => (now += micros);
    const flushed = () => {
      wait.timer.flush();
      emit.timer.flush();
      return { wait: wait.seen, emit: emit.seen };
    };
    return { subject, advance, flushed };
  }

  test('wait is due → read; emit is read → acknowledged, once per record', () => {
    const { subject, advance, flushed } = timing(true);
    subject.taken([{ due: 9_900_000 }, { due: 9_700_000 }]);
    advance(40_000);
    subject.acknowledged(2);
    expect(flushed()).toEqual({ wait: [0.1, 0.3], emit: [0.04, 0.04] });
  });

  test('a re-emission with no timer read before it, and an empty read, time nothing', () => {
    const { subject, advance, flushed } = timing(true);
    subject.acknowledged(3);
    subject.taken([{ due: 9_000_000 }]);
    subject.taken([]);
    advance(1000);
    subject.acknowledged(1);
    expect(flushed()).toEqual({ wait: [1], emit: [] });
  });

  test('under the event clock only the emission is timed', () => {
    const { subject, advance, flushed } = timing(false);
    subject.taken([{ due: 1 }]);
    advance(5000);
    subject.acknowledged(1);
    expect(flushed()).toEqual({ wait: [], emit: [0.005] });
  });
});
