import type { ProcessResult } from '../process/runner';
import type { Logger } from '../util/logger';
import type { WatchSpec } from './spec';
import { runOutcome, WatchLabels, WatchMetrics } from './watch-metrics';
import type { WatchRunEvent } from './watch-runner';

/**
 * Turns one watch's runner events into metrics and log lines: a line when a run starts and
 * one when it finishes (watch, znode, pid, exit code or signal, duration, and the updates
 * coalesced or discarded since the previous run finished), warnings for retries, lost leases
 * and a watch stopped by on_failure.
 */

/** The most of a failed action's stderr a log line carries. */
const STDERR_IN_LOG_BYTES = 1024;

export class RunReporter {
  private coalescedSinceRun = 0;
  private discardedSinceRun = 0;
  /** The pid of each run's result, filled in when the action's process ends. */
  private readonly pids = new WeakMap<ProcessResult, number>();

  constructor(
    private readonly spec: WatchSpec,
    private readonly labels: WatchLabels,
    private readonly metrics: WatchMetrics,
    private readonly log: Logger,
    private readonly onStopped: () => void,
  ) {}

  /** Remembers which pid gave `done`'s result, for the finish line (runs overlap in PARALLEL). */
  track(pid: number | undefined, done: Promise<ProcessResult>): void {
    if (pid !== undefined) void done.then((result) => this.pids.set(result, pid));
  }

  readonly listener = (event: WatchRunEvent): void => {
    switch (event.type) {
      case 'runStarted':
        this.metrics.running.set(this.labels, event.running);
        return this.log.info(
          { ...this.subject(), childPid: event.pid, attempt: event.attempt },
          'action started',
        );
      case 'runFinished':
        return this.finished(event);
      case 'updateCoalesced':
        this.coalescedSinceRun++;
        return void this.metrics.coalesced.inc(this.labels);
      case 'updateDiscarded':
        this.discardedSinceRun++;
        return void this.metrics.discarded.inc(this.labels);
      case 'retryScheduled':
        this.metrics.retries.inc(this.labels);
        return this.log.warn(
          { ...this.subject(), retry: event.retry, of: event.of, delayMs: event.delayMs },
          'action failed: retrying',
        );
      case 'leaseLost':
        this.metrics.leaseLost.inc(this.labels);
        return this.log.warn(
          { ...this.subject(), childPid: event.pid },
          'exclusive lease lost: stopping the action',
        );
      case 'watchStopped':
        this.onStopped();
        return this.log.error(this.subject(), 'action failed: watch stopped (on_failure=STOP_WATCHING)');
      case 'alreadyRun':
        return this.log.info(this.subject(), 'update already run by another host: not run here');
      case 'notifySignalSent':
        return this.log.info(
          { ...this.subject(), childPid: event.pid, signal: event.signal },
          'notify_signal sent',
        );
    }
  };

  private finished(event: Extract<WatchRunEvent, { type: 'runFinished' }>): void {
    const { result } = event;
    this.metrics.running.set(this.labels, event.running);
    this.metrics.recordRun(this.labels, result, event.durationMs);
    const outcome = runOutcome(result);
    const line = {
      ...this.subject(),
      childPid: this.pids.get(result),
      attempt: event.attempt,
      outcome,
      exitCode: result.exitCode,
      signal: result.signal,
      ...(result.timedOut && { timedOut: true, killed: result.killed }),
      ...(event.leaseLost && { leaseLost: true }),
      ...(result.error !== undefined && { error: result.error }),
      ...(!event.succeeded && result.stderrTail && { stderr: result.stderrTail.slice(-STDERR_IN_LOG_BYTES) }),
      durationMs: Math.round(event.durationMs),
      coalesced: this.coalescedSinceRun,
      discarded: this.discardedSinceRun,
    };
    this.coalescedSinceRun = 0;
    this.discardedSinceRun = 0;
    if (event.succeeded) this.log.info(line, 'action finished');
    else this.log.warn(line, outcome === 'not_started' ? 'action could not start' : 'action failed');
  }

  private subject() {
    return { watch: this.spec.description, file: this.spec.source.file, znode: this.spec.znode };
  }
}
