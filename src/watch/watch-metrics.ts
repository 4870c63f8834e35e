import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { labelForRole } from '../metrics/metrics';
import type { ProcessResult } from '../process/runner';
import { succeeded } from '../process/runner';

/**
 * The watch daemon's Prometheus metrics, on a registry of its own with `role="watch"` (the
 * daemon has no Kafka, so the roles' WinchesterMetrics does not fit it). Names follow
 * docs/metrics.md: `winchester_` prefix, `_total` counters, seconds, and per-watch series at 0
 * from the moment a watch is loaded, so `increase(...)` sees the first run.
 */

/** How a run ended, as `winchester_watch_runs_total` labels it. */
export type RunOutcome = 'succeeded' | 'failed' | 'timed_out' | 'not_started';
export const RUN_OUTCOMES: readonly RunOutcome[] = ['succeeded', 'failed', 'timed_out', 'not_started'];

/** What a config file's reload did. */
export type ReloadOutcome = 'loaded' | 'failed' | 'removed';
const RELOAD_OUTCOMES: readonly ReloadOutcome[] = ['loaded', 'failed', 'removed'];

/** The ZooKeeper link as `winchester_watch_zookeeper_session_state` shows it (1 for the current one). */
export type SessionStateName = 'connected' | 'disconnected' | 'reopening' | 'closed';
const SESSION_STATES: readonly SessionStateName[] = ['connected', 'disconnected', 'reopening', 'closed'];

/** A watch's series: its description and its file (descriptions may repeat across files). */
export interface WatchLabels {
  watch: string;
  file: string;
}

export function runOutcome(result: ProcessResult): RunOutcome {
  if (result.error !== undefined) return 'not_started';
  if (result.timedOut) return 'timed_out';
  return succeeded(result) ? 'succeeded' : 'failed';
}

const PER_WATCH = ['watch', 'file'] as const;
type PerWatch = (typeof PER_WATCH)[number];

export class WatchMetrics {
  readonly registry = new Registry();
  /** Series per label set, counted: two watches may share a description in one file. */
  private readonly holders = new Map<string, number>();

  readonly runs = this.counter('winchester_watch_runs_total', 'Runs of a watch action, by how they ended', [
    ...PER_WATCH,
    'outcome',
  ]);
  readonly runSeconds = new Histogram<PerWatch>({
    name: 'winchester_watch_run_duration_seconds',
    help: 'How long a watch action ran, start to exit (runs that started)',
    labelNames: PER_WATCH,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly updates = this.counter(
    'winchester_watch_updates_total',
    'Updates handed to a watch: changes of its znode, and the run_on_load one',
    PER_WATCH,
  );
  readonly coalesced = this.counter(
    'winchester_watch_coalesced_total',
    'Updates (or retries) replaced by a newer update before they ran (QUEUE)',
    PER_WATCH,
  );
  readonly discarded = this.counter(
    'winchester_watch_discarded_total',
    'Updates not run: arrived during a run (DISCARD) or after the watch stopped',
    PER_WATCH,
  );
  readonly retries = this.counter(
    'winchester_watch_retries_total',
    'Retries scheduled after a failed run (on_failure=Retry)',
    PER_WATCH,
  );
  readonly leaseLost = this.counter(
    'winchester_watch_lease_lost_total',
    'Runs of an exclusive watch whose lease lapsed while the action ran',
    PER_WATCH,
  );
  readonly running = this.gauge('winchester_watch_running', 'Actions of a watch running now', PER_WATCH);
  readonly sessionState = this.gauge(
    'winchester_watch_zookeeper_session_state',
    'The ZooKeeper session: 1 for the current state, 0 for the others',
    ['state'],
  );
  readonly reconnects = this.counter(
    'winchester_watch_zookeeper_reconnects_total',
    'Reconnections of the ZooKeeper session after a connection loss (the session and its watches lived on)',
  );
  readonly expiries = this.counter(
    'winchester_watch_zookeeper_session_expiries_total',
    'ZooKeeper sessions that expired (a new session was opened and every znode read again)',
  );
  readonly reloads = this.counter(
    'winchester_watch_config_reloads_total',
    'Watch files (re)loaded: loaded (its watches replaced), failed (its previous watches kept), removed',
    ['outcome'],
  );
  /** Set at each scrape from `countWatches`. */
  readonly watches = new Gauge({
    name: 'winchester_watch_watches',
    help: 'Watches loaded: watching, or stopped by on_failure',
    labelNames: ['state'],
    registers: [this.registry],
    collect: () => {
      const counts = this.countWatches?.();
      if (!counts) return;
      this.watches.set({ state: 'watching' }, counts.watching);
      this.watches.set({ state: 'stopped' }, counts.stopped);
    },
  });
  /** The daemon's count of its watches, read at each scrape. */
  countWatches?: () => { watching: number; stopped: number };

  constructor(options: { processMetrics?: boolean } = {}) {
    labelForRole(this.registry, 'watch', options);
    for (const outcome of RELOAD_OUTCOMES) this.reloads.inc({ outcome }, 0);
    this.watches.set({ state: 'watching' }, 0);
    this.watches.set({ state: 'stopped' }, 0);
    this.setSessionState('closed');
  }

  setSessionState(current: SessionStateName): void {
    for (const state of SESSION_STATES) this.sessionState.set({ state }, state === current ? 1 : 0);
  }

  /** A watch was loaded: its series exist from now on, at 0. */
  addWatch(labels: WatchLabels): void {
    const key = labelKey(labels);
    const holders = this.holders.get(key) ?? 0;
    this.holders.set(key, holders + 1);
    if (holders > 0) return;
    for (const outcome of RUN_OUTCOMES) this.runs.inc({ ...labels, outcome }, 0);
    for (const counter of this.perWatchCounters()) counter.inc(labels, 0);
    this.running.set(labels, 0);
  }

  /** A watch is gone and nothing of it runs any more: its series go when no other watch has them. */
  removeWatch(labels: WatchLabels): void {
    const key = labelKey(labels);
    const holders = (this.holders.get(key) ?? 1) - 1;
    if (holders > 0) {
      this.holders.set(key, holders);
      return;
    }
    this.holders.delete(key);
    for (const outcome of RUN_OUTCOMES) this.runs.remove({ ...labels, outcome });
    for (const counter of this.perWatchCounters()) counter.remove(labels);
    this.running.remove(labels);
    this.runSeconds.remove(labels);
  }

  /** A finished run: its outcome and, when it started, its duration. */
  recordRun(labels: WatchLabels, result: ProcessResult, durationMs: number): void {
    const outcome = runOutcome(result);
    this.runs.inc({ ...labels, outcome });
    if (outcome !== 'not_started') this.runSeconds.observe(labels, durationMs / 1000);
  }

  private perWatchCounters(): Counter<PerWatch>[] {
    return [this.updates, this.coalesced, this.discarded, this.retries, this.leaseLost];
  }

  private counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }
}

function labelKey(labels: WatchLabels): string {
  return `${labels.file}\u0000${labels.watch}`;
}
