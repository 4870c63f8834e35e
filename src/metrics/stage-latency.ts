/**
 * Where fire latency goes: one `winchester_stage_latency_seconds` series per stage of the way
 * from a notification to its fired stream record. The hot paths record into a preallocated
 * array (a number per sample, nothing else allocated); samples reach the prom-client
 * histogram in bulk, when the array fills and before every scrape.
 */

/** The stages, in the order a notification passes them, and the whole way. */
export const LATENCY_STAGES = [
  'distill',
  'events_hop',
  'repartition_hop',
  'redis_apply',
  'timer_wait',
  'emit',
  'end_to_end',
] as const;
export type LatencyStage = (typeof LATENCY_STAGES)[number];

/** 1 ms … 10 s, densest around the objectives (p50 ≤ 100 ms, p99 ≤ 250 ms). */
export const STAGE_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 2.5, 5, 10,
];

/** Samples held before they are handed to the histogram. */
const PENDING_SAMPLES = 1024;

/** What a stage hands its samples to: a prom-client histogram child (`histogram.labels(stage)`). */
export interface SampleSink {
  observe(seconds: number): void;
}

/** One stage's samples on their way to its histogram series. */
export class StageTimer {
  private readonly pending = new Float64Array(PENDING_SAMPLES);
  private size = 0;

  constructor(private readonly sink: SampleSink) {}

  /**
   * A duration in seconds. A negative one (a hop measured across two hosts' clocks) counts
   * as 0: the sample is kept, so the count stays the number of records that took the stage.
   */
  observe(seconds: number): void {
    this.pending[this.size++] = seconds > 0 ? seconds : 0;
    if (this.size === PENDING_SAMPLES) this.flush();
  }

  /** From a Kafka record timestamp (epoch milliseconds, as kafkajs gives it: text) to `nowMs`. */
  sinceRecord(timestampMs: string, nowMs: number = Date.now()): void {
    const at = Number(timestampMs);
    if (at > 0) this.observe((nowMs - at) / 1000);
  }

  /** From epoch microseconds (an event's timestamp, a timer's due time) to `nowMicros`. */
  sinceMicros(micros: number, nowMicros: number = Date.now() * 1000): void {
    this.observe((nowMicros - micros) / 1e6);
  }

  /** Hands the held samples to the histogram. */
  flush(): void {
    for (let i = 0; i < this.size; i++) this.sink.observe(this.pending[i]);
    this.size = 0;
  }
}

export type StageTimers = Record<LatencyStage, StageTimer>;

/** A timer per stage, each feeding the series `sinkOf(stage)`. */
export function stageTimers(sinkOf: (stage: LatencyStage) => SampleSink): StageTimers {
  const timers = {} as StageTimers;
  for (const stage of LATENCY_STAGES) timers[stage] = new StageTimer(sinkOf(stage));
  return timers;
}

const wallMicros = () => Date.now() * 1000;

/**
 * A partition's timer stages: `timer_wait` from a timer's due time to the timer run that
 * reads it as due (wall clock only: under the event clock a due time is not a moment of the
 * wall), and `emit` from that read to the acknowledgement of the records it produced. The
 * store calls `taken` with what each due-timer read returns and `acknowledged` once records
 * are produced; a partition's timer runs take turns, so one moment in hand is enough.
 */
export class TimerTiming {
  private takenAt: number | null = null;

  constructor(
    private readonly timers: Pick<StageTimers, 'timer_wait' | 'emit'>,
    private readonly measureWait: boolean,
    private readonly wallClock: () => number = wallMicros,
  ) {}

  /** A due-timer read returned `due`; an empty read ends what was taken before it. */
  taken(due: ReadonlyArray<{ due: number }>): void {
    if (due.length === 0) {
      this.takenAt = null;
      return;
    }
    const now = this.wallClock();
    this.takenAt = now;
    if (this.measureWait) for (const timer of due) this.timers.timer_wait.sinceMicros(timer.due, now);
  }

  /** `records` records were acknowledged; a re-emission, not taken by a timer read, is not timed. */
  acknowledged(records: number): void {
    if (this.takenAt === null) return;
    const now = this.wallClock();
    for (let i = 0; i < records; i++) this.timers.emit.sinceMicros(this.takenAt, now);
    this.takenAt = null;
  }
}
