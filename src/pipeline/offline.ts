import { WinchesterEvent } from '../events/event';
import { StreamRecord } from '../streams/model';
import { END_OF_TIME, Simulation } from '../streams/simulate';
import { formatMicros, Micros } from '../time/micros';
import { Logger } from '../util/logger';
import { PipelineCatalog, pipelinesFor, singleVersionCatalog, VersionedPipelines } from './catalog';
import { HandlerContext } from './handler';
import { afterFailedRun, FailedAttempts, retriedRecord, retryPolicyOf } from './retry';
import { runVersionedStream, StreamOutcome, StreamRunOptions } from './stream-run';

export interface OfflinePipelineOptions extends StreamRunOptions {
  logger: Logger;
  /** The pipeline's idea of now (the simulation clock under the event clock). */
  now: () => Micros;
  /**
   * Pipelines by topology version, as the worker has them: each record runs the version it
   * names. Without one, `pipelines`, `handlers` and `retries` are version 0, the only one.
   */
  catalog?: PipelineCatalog;
}

/** The pipelines of the record's version, as the worker resolves them. */
export function offlinePipelinesFor(
  record: StreamRecord,
  options: Omit<OfflinePipelineOptions, 'now'>,
): Promise<VersionedPipelines> {
  return pipelinesFor(record, options.catalog ?? singleVersionCatalog(options));
}

export interface OfflineOutcome {
  outcome: StreamOutcome;
  /** New events to feed back, with their generation (`hops`) set as the worker sets it. */
  newEvents: WinchesterEvent[];
  /** New events the loop guard held back. */
  loopGuardDropped: number;
  error?: string;
  failedHandler?: string;
  errorMessage?: string;
}

/**
 * Runs a fired or expired stream's pipeline in this process, as a worker would, with every
 * handler in dry-run mode: what would leave the process (HTTP posts, Kafka records,
 * commands) is logged instead. Used by `simulate --pipelines` to try pipelines offline.
 */
export async function runPipelineOffline(
  record: StreamRecord,
  options: OfflinePipelineOptions,
  versioned?: VersionedPipelines,
): Promise<OfflineOutcome> {
  const log = options.logger.child({ stream_id: record.stream_id, trigger: record.trigger });
  const context: HandlerContext = {
    logger: log,
    dryRun: true,
    publish: async (topic, messages) => {
      log.info({ topic, records: messages.length }, 'dry run: records not published');
    },
    now: options.now,
  };
  const pipelines = versioned ?? (await offlinePipelinesFor(record, options));
  const run = await runVersionedStream(record, pipelines, options, context);
  if (run.heldBack.length) {
    log.error(
      { hops: run.hops, new_events: run.heldBack.length },
      'loop guard: new events not fed back (too many pipeline generations)',
    );
  }
  return {
    outcome: run.outcome,
    newEvents: run.newEvents,
    loopGuardDropped: run.heldBack.length,
    ...(run.error === undefined
      ? {}
      : { error: run.error, failedHandler: run.failedHandler, errorMessage: run.errorMessage }),
  };
}

export interface OfflineTally {
  newEvents: number;
  /** Streams that ended in error (after their last attempt). */
  pipelineErrors: number;
  loopGuardDropped: number;
  /** Failed runs scheduled to run again, and streams whose retry policy ran out. */
  retries: number;
  retriesExhausted: number;
}

/** A failed stream waiting for its next attempt on the simulated clock. */
interface WaitingRetry {
  record: StreamRecord;
  failure: FailedAttempts;
  due: Micros;
}

/**
 * A simulation whose fired and expired streams also run their pipelines offline: each new
 * event goes to `onNewEvent` and back into the simulation, as the worker sends it to
 * `events`, where it may fire further streams. Pipelines run after the step that emitted
 * their streams, in emission order. A failed run is retried as the worker would, in virtual
 * time: at its failure time plus the back-off on the simulated clock, once the clock (moved
 * by the events, or `advance`) gets there; retries still waiting at the end are counted in
 * `retriesWaiting`.
 */
export class PipelineSimulation {
  readonly tally: OfflineTally = {
    newEvents: 0,
    pipelineErrors: 0,
    loopGuardDropped: 0,
    retries: 0,
    retriesExhausted: 0,
  };
  private readonly finished: StreamRecord[] = [];
  private readonly waiting: WaitingRetry[] = [];
  /** How far `advance` moved time: the wall clock's simulation does not follow it, retries do. */
  private advancedTo: Micros | null = null;

  constructor(
    private readonly simulation: Simulation,
    private readonly options: Omit<OfflinePipelineOptions, 'now'>,
    private readonly onNewEvent: (event: WinchesterEvent) => void,
  ) {}

  /** Failed streams whose next attempt the simulated clock has not reached. */
  get retriesWaiting(): number {
    return this.waiting.length;
  }

  /** Hand every record the simulation emits to this (its `onRecord`). */
  readonly streamFinished = (record: StreamRecord): void => {
    this.finished.push(record);
  };

  async push(event: WinchesterEvent): Promise<void> {
    await this.simulation.push(event);
    await this.runPipelines();
  }

  async advance(to: Micros): Promise<void> {
    this.advancedTo = Math.max(to, this.advancedTo ?? to);
    await this.simulation.advance(to);
    await this.runPipelines();
  }

  private get now(): Micros {
    return Math.max(this.simulation.currentTime, this.advancedTo ?? -Infinity);
  }

  /** New streams' pipelines, then every retry the clock has reached (whose new events may make more). */
  private async runPipelines(): Promise<void> {
    for (;;) {
      while (this.finished.length) {
        const record = this.finished.shift()!;
        await this.runAt(record, null, this.simulation.currentTime);
      }
      const next = this.waiting[0];
      // At the end of time (`--drain`) every retry is due, those of runs made there too.
      if (!next || (next.due > this.now && this.now < END_OF_TIME)) return;
      this.waiting.shift();
      await this.runAt(next.record, next.failure, Math.min(next.due, END_OF_TIME));
    }
  }

  /** One run of a stream at virtual time `at`: its new events go back in, a failure is retried or counted. */
  private async runAt(record: StreamRecord, previous: FailedAttempts | null, at: Micros): Promise<void> {
    const versioned = await offlinePipelinesFor(record, this.options);
    const result = await runPipelineOffline(record, { ...this.options, now: () => at }, versioned);
    this.tally.loopGuardDropped += result.loopGuardDropped;
    if (result.error !== undefined) this.failed(record, result, { previous, at, versioned });
    for (const event of result.newEvents) {
      this.tally.newEvents++;
      this.onNewEvent(event);
      // Records this emits join the queue and run in this same loop.
      await this.simulation.push(event);
    }
  }

  private failed(
    record: StreamRecord,
    result: OfflineOutcome,
    {
      previous,
      at,
      versioned,
    }: { previous: FailedAttempts | null; at: Micros; versioned: VersionedPipelines },
  ): void {
    const policy = retryPolicyOf(versioned.retries, record.pipeline);
    const pipelineVersion = versioned.version;
    const failure = afterFailedRun(record, result, { previous, policy, failedAt: at, pipelineVersion });
    const about = { stream_id: record.stream_id, trigger: record.trigger, attempt: failure.attempts };
    if (failure.retry_at !== null) {
      this.tally.retries++;
      // The retry runs at the next state serial, as the worker's does.
      const retry = { record: retriedRecord(record, failure), failure, due: failure.retry_at };
      const later = this.waiting.findIndex((w) => w.due > retry.due);
      this.waiting.splice(later < 0 ? this.waiting.length : later, 0, retry);
      const retryAt = formatMicros(retry.due);
      this.options.logger.warn(
        { ...about, error: result.error, retry_at: retryAt },
        'pipeline failed: retry scheduled',
      );
      return;
    }
    this.tally.pipelineErrors++;
    if (policy.attempts > 1) this.tally.retriesExhausted++;
    this.options.logger.error({ ...about, outcome: result.outcome, error: result.error }, 'pipeline failed');
  }
}
