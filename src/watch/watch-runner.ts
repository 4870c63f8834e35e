import { ConfigurationError } from '../config/errors';
import { notStarted, succeeded } from '../process/runner';
import type { ProcessResult, RunningProcess } from '../process/runner';
import type { RunGate, RunPermit, UpdateStamp } from './run-gate';
import { KILL_AFTER_TERM_SECONDS } from './spec';
import type { FailurePolicy, WatchSpec } from './spec';

type RetryPolicy = Extract<FailurePolicy, { kind: 'retry' }>;

/**
 * What happens to one watch when updates arrive: Twitcher's run modes (as its README states
 * them), `on_failure` and `exclusive`. Pure scheduling: the daemon injects how an action starts,
 * the clock and timers, and for an exclusive watch the gate that admits each run.
 *
 * - QUEUE: at most one run at a time. Updates arriving during a run wait as one more run with
 *   the most recent content; each earlier waiting update is counted as coalesced.
 *   `notify_signal` goes to the running child on each update that arrives while it runs.
 * - DISCARD: updates arriving during a run are counted as discarded; the watch stays.
 * - PARALLEL: a run per update, at once.
 * - The action runs once per update, with the content on stdin when `pipe_stdin`, else with
 *   empty stdin (`start(null)`).
 * - on_failure (non-zero exit, a signal, a timeout, could not start): keep does nothing more;
 *   stop ends the watch (`watchStopped`); retry runs the same content again after
 *   `backoffSeconds`, doubling each time, up to `times` retries, then keeps or stops.
 *   The newest content wins over a retry: an update arriving while a retry waits replaces it,
 *   and a retry whose update is no longer the newest accepted one is not scheduled; either is
 *   counted as coalesced.
 * - `stop()`: no new runs, waiting retries cancelled, the queued update dropped. Running
 *   children are left to finish: whether to signal them is the daemon's call (`running()`).
 */

/** The clock and timers the runner uses (fakes in tests). */
export interface WatchTimers {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: WatchTimers = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** What happened to the watch, for its metrics and log lines. Attempts count from 1 (the first run). */
export type WatchRunEvent =
  | { type: 'runStarted'; attempt: number; pid: number | undefined; running: number }
  | {
      type: 'runFinished';
      attempt: number;
      result: ProcessResult;
      durationMs: number;
      succeeded: boolean;
      /** The exclusive lease lapsed during the run: another host may have taken the update over. */
      leaseLost: boolean;
      running: number;
    }
  /** A run that was owed (a waiting update, or a retry) was replaced by a newer update. */
  | { type: 'updateCoalesced'; superseded: 'update' | 'retry' }
  | { type: 'updateDiscarded'; reason: 'running' | 'stopped' }
  | { type: 'notifySignalSent'; signal: NodeJS.Signals; pid: number | undefined }
  | { type: 'retryScheduled'; retry: number; of: number; delayMs: number }
  /** Exclusive: another host already ran this update (or a newer one), so this host does not. */
  | { type: 'alreadyRun' }
  /** Exclusive: the lease lapsed under a running child, which is stopped (SIGTERM, SIGKILL later). */
  | { type: 'leaseLost'; pid: number | undefined }
  | { type: 'watchStopped'; reason: 'on_failure'; result: ProcessResult };

export interface WatchRunnerDeps {
  /** Starts the watch's action; null means empty stdin. */
  start(content: Buffer | null): RunningProcess;
  timers?: WatchTimers;
  /** Called synchronously for each event; must not throw. */
  listener?: (event: WatchRunEvent) => void;
  /** Required when the spec is exclusive, ignored otherwise. */
  gate?: RunGate;
}

/** After a lost lease's SIGTERM, as after a timeout's. */
export const LEASE_LOST_KILL_AFTER_MS = KILL_AFTER_TERM_SECONDS * 1000;

interface Update {
  content: Buffer | null;
  stamp: UpdateStamp;
  /** Order of acceptance: a larger one is newer content. */
  seq: number;
}

/** One run in progress, from waiting for the gate until its permit is given back. */
interface Slot {
  update: Update;
  attempt: number;
  abort: AbortController;
  process?: RunningProcess;
  leaseLost: boolean;
  killTimer?: unknown;
}

interface Admission {
  permit?: RunPermit;
  /** The gate failed: the run counts as one that could not start. */
  error?: string;
}

interface PendingRetry {
  update: Update;
  attempt: number;
  timer: unknown;
}

interface Outcome {
  result: ProcessResult;
  succeeded: boolean;
}

export class WatchRunner {
  private readonly timers: WatchTimers;
  private readonly gate: RunGate | undefined;
  private readonly slots = new Set<Slot>();
  private readonly retries = new Set<PendingRetry>();
  private queued: Update | undefined;
  private acceptedSeq = 0;
  private newestSeq = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly spec: WatchSpec,
    private readonly deps: WatchRunnerDeps,
  ) {
    this.timers = deps.timers ?? systemTimers;
    this.gate = spec.exclusive ? requireGate(spec, deps.gate) : undefined;
  }

  /** Whether the watch still takes updates (false after stop() or on_failure stop). */
  get accepting(): boolean {
    return !this.stopped;
  }

  /** A change of the znode (or run_on_load). `stamp` lets an exclusive watch skip what the cluster ran. */
  update(content: Buffer | null, stamp: UpdateStamp = {}): void {
    if (this.stopped) return this.emit({ type: 'updateDiscarded', reason: 'stopped' });
    const update: Update = { content, stamp, seq: ++this.acceptedSeq };
    this.supersedeRetries();
    if (this.spec.runMode === 'parallel' || this.slots.size === 0) return this.begin(update);
    if (this.spec.runMode === 'discard') return this.emit({ type: 'updateDiscarded', reason: 'running' });
    this.enqueue(update);
  }

  /** No new runs; a waiting retry and a queued update are dropped; running children go on. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const retry of this.retries) this.timers.clearTimeout(retry.timer);
    this.retries.clear();
    for (const slot of this.slots) slot.abort.abort();
    if (this.queued) this.emit({ type: 'updateDiscarded', reason: 'stopped' });
    this.queued = undefined;
    this.settleIdle();
  }

  /** The children running now (several only in PARALLEL mode). */
  running(): RunningProcess[] {
    return [...this.slots].flatMap((slot) => (slot.process ? [slot.process] : []));
  }

  /** Resolves when nothing runs, waits for the gate, is queued or waits for a retry. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private begin(update: Update): void {
    this.newestSeq = update.seq;
    void this.execute(update, 1);
  }

  private enqueue(update: Update): void {
    if (this.queued) this.emit({ type: 'updateCoalesced', superseded: 'update' });
    this.queued = update;
    this.newestSeq = update.seq;
    const signal = this.spec.notifySignal;
    if (signal === undefined) return;
    for (const process of this.running()) {
      process.signal(signal);
      this.emit({ type: 'notifySignalSent', signal, pid: process.pid });
    }
  }

  /** The newer content wins: a retry waiting for its back-off is replaced by the update arriving now. */
  private supersedeRetries(): void {
    for (const retry of this.retries) {
      this.timers.clearTimeout(retry.timer);
      this.emit({ type: 'updateCoalesced', superseded: 'retry' });
    }
    this.retries.clear();
  }

  private async execute(update: Update, attempt: number): Promise<void> {
    const slot: Slot = { update, attempt, abort: new AbortController(), leaseLost: false };
    this.slots.add(slot);
    try {
      const admission = this.gate ? await this.admit(slot, this.gate) : {};
      if (!admission) return;
      const outcome = await this.run(slot, admission);
      // Not recorded: a run lost to a lapsed lease (the host that took the lease over decides),
      // nor one that failed after stop() (a daemon stopping kills it): another host runs it again.
      const unfinished = slot.leaseLost || (this.stopped && !outcome.succeeded);
      await admission.permit?.leave(unfinished ? undefined : slot.update.stamp);
      this.afterRun(slot, outcome);
    } finally {
      this.slots.delete(slot);
      this.startQueued();
      this.settleIdle();
    }
  }

  /** Exclusive watches: waits for the gate; undefined when stopped meanwhile or already run elsewhere. */
  private async admit(slot: Slot, gate: RunGate): Promise<Admission | undefined> {
    let permit: RunPermit | null;
    try {
      permit = await gate.enter(slot.abort.signal);
    } catch (error) {
      return { error: `could not take the exclusive lease: ${(error as Error).message}` };
    }
    if (!permit) return undefined;
    this.takeQueued(slot);
    if (!this.stopped && slot.attempt === 1 && (await permit.alreadyRun(slot.update.stamp))) {
      this.emit({ type: 'alreadyRun' });
      await permit.leave();
      return undefined;
    }
    if (this.stopped) {
      await permit.leave();
      return undefined;
    }
    permit.onLost(() => this.leaseLost(slot));
    return { permit };
  }

  /** While this host waited for the lease, newer updates may have queued: run the newest. */
  private takeQueued(slot: Slot): void {
    if (!this.queued) return;
    this.emit({ type: 'updateCoalesced', superseded: slot.attempt > 1 ? 'retry' : 'update' });
    slot.update = this.queued;
    slot.attempt = 1;
    this.queued = undefined;
  }

  private async run(slot: Slot, admission: Admission): Promise<Outcome> {
    const startedAt = this.timers.now();
    const process =
      admission.error === undefined ? this.startAction(slot.update.content) : notStarted(admission.error);
    slot.process = process;
    this.emit({
      type: 'runStarted',
      attempt: slot.attempt,
      pid: process.pid,
      running: this.running().length,
    });
    const result = await process.done;
    slot.process = undefined;
    if (slot.killTimer !== undefined) this.timers.clearTimeout(slot.killTimer);
    const outcome = { result, succeeded: succeeded(result) };
    this.emit({
      type: 'runFinished',
      attempt: slot.attempt,
      ...outcome,
      durationMs: this.timers.now() - startedAt,
      leaseLost: slot.leaseLost,
      running: this.running().length,
    });
    return outcome;
  }

  /** Exactly one start per run: the content, or nothing when pipe_stdin is false. */
  private startAction(content: Buffer | null): RunningProcess {
    try {
      return this.deps.start(this.spec.pipeStdin ? content : null);
    } catch (error) {
      return notStarted((error as Error).message);
    }
  }

  /** Another host may run the action from now on: stop ours as a timeout would. */
  private leaseLost(slot: Slot): void {
    const process = slot.process;
    if (!process) return; // the child had already finished: the run is complete
    slot.leaseLost = true;
    this.emit({ type: 'leaseLost', pid: process.pid });
    process.signal('SIGTERM');
    slot.killTimer = this.timers.setTimeout(() => process.signal('SIGKILL'), LEASE_LOST_KILL_AFTER_MS);
  }

  private afterRun(slot: Slot, outcome: Outcome): void {
    if (this.stopped || outcome.succeeded || slot.leaseLost) return;
    const policy = this.spec.onFailure;
    if (policy.kind === 'retry' && slot.attempt <= policy.times) return this.retry(slot, policy);
    const final = policy.kind === 'retry' ? policy.then : policy.kind;
    if (final !== 'stop') return;
    this.stop();
    this.emit({ type: 'watchStopped', reason: 'on_failure', result: outcome.result });
  }

  private retry(slot: Slot, policy: RetryPolicy): void {
    if (slot.update.seq < this.newestSeq) {
      // A newer update is queued or running already: retrying older content would undo it.
      this.emit({ type: 'updateCoalesced', superseded: 'retry' });
      return;
    }
    const delayMs = policy.backoffSeconds * 1000 * 2 ** (slot.attempt - 1);
    const pending: PendingRetry = { update: slot.update, attempt: slot.attempt + 1, timer: undefined };
    pending.timer = this.timers.setTimeout(() => {
      this.retries.delete(pending);
      void this.execute(pending.update, pending.attempt);
    }, delayMs);
    this.retries.add(pending);
    this.emit({ type: 'retryScheduled', retry: slot.attempt, of: policy.times, delayMs });
  }

  private startQueued(): void {
    if (this.stopped || this.slots.size > 0 || !this.queued) return;
    const update = this.queued;
    this.queued = undefined;
    void this.execute(update, 1);
  }

  private isIdle(): boolean {
    return this.slots.size === 0 && this.retries.size === 0 && this.queued === undefined;
  }

  private settleIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private emit(event: WatchRunEvent): void {
    this.deps.listener?.(event);
  }
}

/** PARALLEL runs a process per update; exclusive allows one at a time in the cluster: both cannot hold. */
function requireGate(spec: WatchSpec, gate: RunGate | undefined): RunGate {
  const where = `${spec.source.file}:${spec.source.line}`;
  if (spec.runMode === 'parallel') {
    throw new ConfigurationError(
      `${where}: exclusive=True cannot be combined with run_mode=PARALLEL (use QUEUE or DISCARD)`,
    );
  }
  if (!gate)
    throw new Error(`${where}: watch '${spec.description}' is exclusive but no lease gate was given`);
  return gate;
}
